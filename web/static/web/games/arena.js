// The arena's browser renderer (the contract with the page shell is in web/static/web/client.js):
// input sampling, client-side prediction of your own avatar, an interpolation buffer for everyone
// else, and the canvas drawing.
//
// Prediction: the movement rules below are the server's (match/games/arena/stages.py move_player,
// _slide, _blocked_by) line for line, in integers, and every number they use (speeds per tick,
// radius, walls, obstacles) comes from the snapshot, so a replay here gives the server's exact
// positions. The renderer runs its own tick clock at the match rate and records, per local tick,
// the controls last sent (with their seq). The server applies an input from the tick it arrives
// at until the next one, so with a steady latency the local ticks and the server's line up one to
// one: on each frame (server tick T, acked seq A, first acked at tick tA) the first T - tA + 1
// local ticks of A and every tick of older inputs are done; the rest are replayed on the server's
// position. Between ticks the held controls move the avatar by the elapsed fraction of a tick, so a
// key moves it on the next animation frame. A small disagreement is faded out; a large one (a
// respawn) snaps.
//
// Interpolation: others are drawn at a render tick behind the newest frame by a delay that adapts
// to the jitter measured on frame arrivals (one tick + 2x jitter, bounded and smoothed); a late
// frame is extrapolated for a little while, then held.
(() => {
  'use strict';

  // ------------------------------------------------------------ constants

  const AIM_STEPS = 4096;
  const DEFAULT_ASPECT = 16 / 9; // for laying out the canvas before the snapshot says the world's size

  // Inputs: the server allows 40 messages/s; the shell caps what is sent, these space the inputs.
  const INPUT_MIN_GAP_MS = 40;
  const AIM_SEND_INTERVAL_MS = 50;
  const KEEPALIVE_MS = 250;
  const INPUT_PUMP_MS = 20;
  const PENDING_SEQ_TTL_MS = 10000;

  // Prediction.
  const HISTORY_SECONDS = 3; // local ticks kept while no ack comes
  const CATCH_UP_TICKS_MAX = 20; // a longer stall of the local clock (a hidden tab) restarts it
  const CORRECTION_FADE_MS = 100; // time constant of fading a misprediction out
  const CORRECTION_SNAP = 64; // world units: a bigger misprediction snaps (respawn, teleport)
  const ERROR_SMOOTHING = 0.1;

  // Interpolation buffer.
  const JITTER_GAIN = 1 / 16; // RFC 3550's interarrival jitter filter
  const OFFSET_GAIN = 1 / 32;
  const OFFSET_RESET_MS = 1000; // arrivals this far off the clock restart it (a stall, a resume)
  const DELAY_MAX_MS = 300;
  const DELAY_UP_GAIN = 0.25; // per frame: the delay grows fast when jitter rises, shrinks slowly
  const DELAY_DOWN_GAIN = 0.02;
  const EXTRAPOLATE_MAX_MS = 100;
  const BUFFER_MAX_FRAMES = 120;
  // Jumps longer than this between two states are respawns: drawn without sliding.
  const SNAP_DISTANCE = 150;

  const HIT_FLASH_MS = 160;

  const KEY_ACTIONS = {
    KeyW: 'up', ArrowUp: 'up',
    KeyS: 'down', ArrowDown: 'down',
    KeyA: 'left', ArrowLeft: 'left',
    KeyD: 'right', ArrowRight: 'right',
    Space: 'fire',
  };

  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
  const lerp = (a, b, t) => a + (b - a) * t;

  // ------------------------------------------------------- movement rules

  // The numbers the movement needs, from a snapshot's state: {w, h, obs, radius, speed, diag_speed}.
  function makeRules(snap) {
    const r = snap.radius;
    return {
      w: snap.w,
      h: snap.h,
      radius: r,
      r2: r * r,
      speed: snap.speed,
      diagSpeed: snap.diag_speed,
      // Each obstacle's box grown by the radius, then the box itself (stages._NEAR_BOXES).
      near: snap.obs.map(([x, y, w, h]) => [x - r, y - r, x + w + r, y + h + r, x, y, x + w, y + h]),
    };
  }

  // stages._blocked_by: whether a player circle at (x, y) overlaps one of the boxes.
  function blockedBy(rules, x, y, boxes) {
    for (const [gx0, gy0, gx1, gy1, x0, y0, x1, y1] of boxes) {
      if (gx0 < x && x < gx1 && gy0 < y && y < gy1) {
        const dx = x - (x < x0 ? x0 : x > x1 ? x1 : x);
        const dy = y - (y < y0 ? y0 : y > y1 ? y1 : y);
        if (dx * dx + dy * dy < rules.r2) return true;
      }
    }
    return false;
  }

  // stages._slide: back off from target towards start one unit at a time until not blocked.
  function slide(start, target, at) {
    const step = target < start ? 1 : -1;
    let pos = target;
    while (pos !== start && at(pos)) pos += step;
    return pos;
  }

  // stages.move_player: x then y, each clamped to the arena and backed off out of obstacles.
  function movePlayer(rules, x, y, vx, vy) {
    const r = rules.radius;
    if (vx) {
      const tx = Math.min(Math.max(x + vx, r), rules.w - r);
      const lo = Math.min(x, tx);
      const hi = Math.max(x, tx);
      const near = rules.near.filter((b) => b[1] < y && y < b[3] && b[0] < hi && lo < b[2]);
      x = near.length ? slide(x, tx, (xx) => blockedBy(rules, xx, y, near)) : tx;
    }
    if (vy) {
      const ty = Math.min(Math.max(y + vy, r), rules.h - r);
      const lo = Math.min(y, ty);
      const hi = Math.max(y, ty);
      const near = rules.near.filter((b) => b[0] < x && x < b[2] && b[1] < hi && lo < b[3]);
      y = near.length ? slide(y, ty, (yy) => blockedBy(rules, x, yy, near)) : ty;
    }
    return { x, y };
  }

  // stages.move for one living player: one tick of controls (mx, my in -1..1); diagonals slower.
  function step(rules, pos, mx, my) {
    if (!mx && !my) return { x: pos.x, y: pos.y };
    const speed = mx && my ? rules.diagSpeed : rules.speed;
    return movePlayer(rules, pos.x, pos.y, mx * speed, my * speed);
  }

  // ------------------------------------------------------------ prediction

  // The local ticks since the last acknowledged one, replayed on each server state of my avatar.
  class Prediction {
    constructor(rules, hz) {
      this.rules = rules;
      this.maxEntries = Math.max(8, Math.ceil(HISTORY_SECONDS * hz));
      this.entries = []; // [{seq, mx, my, x, y}]: a local tick's controls and the position after it
      this.ack = 0;
      this.ackSince = null; // server tick of the first frame that acked `ack` (null: not seen)
      this.ackDone = 0; // local ticks of `ack` already matched to server ticks
      this.base = null; // predicted position after the last local tick
      this.server = null;
      this.errorLast = null;
      this.errorSmoothed = null;
    }

    // A snapshot: start again from the server's position (its ack's first tick is unknown).
    reset(server, ack) {
      this.entries = [];
      this.ack = ack;
      this.ackSince = null;
      this.ackDone = 0;
      this.server = { x: server.x, y: server.y };
      this.base = { x: server.x, y: server.y };
    }

    // One local tick with the controls last sent (seq: that input's number).
    record(seq, mx, my) {
      if (!this.base) return;
      this.base = step(this.rules, this.base, mx, my);
      this.entries.push({ seq, mx, my, x: this.base.x, y: this.base.y });
      if (this.entries.length > this.maxEntries) this.entries.shift();
    }

    // A frame: my avatar at `server` after server tick `tick`, which applied input `ack`.
    // Returns the distance between what had been predicted for that tick and the server, or null
    // when no local tick matched it.
    reconcile(server, tick, ack) {
      if (ack !== this.ack) {
        this.ack = ack;
        this.ackSince = tick;
        this.ackDone = 0;
      }
      const entries = this.entries;
      let done = 0;
      while (done < entries.length && entries[done].seq < ack) done += 1;
      let matched = null;
      const applied = this.ackSince === null ? Infinity : tick - this.ackSince + 1;
      while (done < entries.length && entries[done].seq === ack && this.ackDone < applied) {
        matched = entries[done];
        done += 1;
        this.ackDone += 1;
      }
      entries.splice(0, done);
      let error = null;
      if (matched && this.ackDone === applied) {
        error = Math.hypot(matched.x - server.x, matched.y - server.y);
        this.errorLast = error;
        this.errorSmoothed = this.errorSmoothed === null
          ? error
          : lerp(this.errorSmoothed, error, ERROR_SMOOTHING);
      }
      this.server = { x: server.x, y: server.y };
      let pos = this.server;
      for (const entry of entries) {
        pos = step(this.rules, pos, entry.mx, entry.my);
        entry.x = pos.x;
        entry.y = pos.y;
      }
      this.base = { x: pos.x, y: pos.y };
      return error;
    }
  }

  // ---------------------------------------------------- interpolation buffer

  // Timestamped server states of every player, and the render tick behind the newest one.
  class Interpolation {
    constructor(hz) {
      this.tickMs = 1000 / hz;
      this.frames = []; // [{tick, at, pos: Map seat -> {x, y, al}}], oldest first
      this.offset = null; // ms: tick t is expected to arrive at offset + t * tickMs
      this.jitter = 0;
      this.delay = this.tickMs;
      this.last = null; // {tick, at} of the newest arrival
      this.renderTick = 0;
    }

    // A snapshot: the buffer starts again (the jitter and delay measured so far are kept).
    reset(tick, at, pos) {
      this.frames = [];
      this.offset = null;
      this.last = null;
      this.push(tick, at, pos);
      this.renderTick = tick;
    }

    push(tick, at, pos) {
      const ms = this.tickMs;
      const frames = this.frames;
      frames.push({ tick, at, pos });
      if (this.last) {
        // Interarrival time against the ticks between the frames (skipped frames are no jitter;
        // a pause, such as the wait for players before the first tick, is no jitter either).
        const deviation = Math.abs((at - this.last.at) - (tick - this.last.tick) * ms);
        if (deviation < OFFSET_RESET_MS) this.jitter += (deviation - this.jitter) * JITTER_GAIN;
      }
      this.last = { tick, at };
      const sample = at - tick * ms;
      if (this.offset === null || Math.abs(sample - this.offset) > OFFSET_RESET_MS) this.offset = sample;
      else this.offset += (sample - this.offset) * OFFSET_GAIN;
      const target = clamp(ms + 2 * this.jitter, ms, Math.max(ms, DELAY_MAX_MS));
      this.delay += (target - this.delay) * (target > this.delay ? DELAY_UP_GAIN : DELAY_DOWN_GAIN);
      // Keep what the render tick can still need (it never goes back much), and not too much.
      while (frames.length > 2 && (frames.length > BUFFER_MAX_FRAMES || frames[1].tick < this.renderTick - 1)) {
        frames.shift();
      }
    }

    // The tick to draw at time `now`: the delay behind the expected arrival of the newest,
    // at most a little past the newest state (then held), never before the oldest.
    renderTickAt(now) {
      const frames = this.frames;
      if (!frames.length) return this.renderTick;
      const ms = this.tickMs;
      const wanted = (now - this.offset - this.delay) / ms;
      const newest = frames[frames.length - 1].tick;
      this.renderTick = clamp(wanted, frames[0].tick, newest + Math.min(EXTRAPOLATE_MAX_MS / ms, 2));
      return this.renderTick;
    }

    // Where the buffer puts a seat at render tick r: {x, y, al}, or null if it has none.
    sample(seat, r) {
      const frames = this.frames;
      if (!frames.length) return null;
      let i = frames.length - 1;
      while (i > 0 && frames[i].tick > r) i -= 1;
      const a = frames[i].pos.get(seat);
      if (!a) return null;
      const next = frames[i + 1];
      if (next) {
        const b = next.pos.get(seat);
        if (!b) return a;
        const t = clamp((r - frames[i].tick) / (next.tick - frames[i].tick), 0, 1);
        if (a.al !== b.al || Math.hypot(b.x - a.x, b.y - a.y) > SNAP_DISTANCE) return t < 1 ? a : b;
        return { x: lerp(a.x, b.x, t), y: lerp(a.y, b.y, t), al: a.al };
      }
      // Past the newest state: on at the last velocity for a little while (renderTickAt bounds it).
      const prev = i > 0 ? frames[i - 1].pos.get(seat) : null;
      const ahead = r - frames[i].tick;
      if (!prev || ahead <= 0 || !a.al || !prev.al) return a;
      if (Math.hypot(a.x - prev.x, a.y - prev.y) > SNAP_DISTANCE) return a;
      const k = ahead / (frames[i].tick - frames[i - 1].tick);
      return { x: a.x + (a.x - prev.x) * k, y: a.y + (a.y - prev.y) * k, al: a.al };
    }
  }

  // ---------------------------------------------------------------- renderer

  function create(host) {
    const canvas = host.canvas;
    const ctx = canvas.getContext('2d');

    const game = {
      world: null,            // the snapshot's state minus players and shots: w, h, obs, hz, ...
      rules: null,
      seat: host.seat,        // mine (the snapshot's), null when watching
      tick: 0,                // newest server tick
      phase: null,
      players: new Map(),     // seat -> player dict (latest server state)
      shots: new Map(),       // id -> {s: [id, owner, x0, y0, vx, vy, t0], gone: tick | null}
      present: [],
      away: new Map(),        // seat -> tick at which it forfeits unless it comes back
      koTick: new Map(),
      flash: new Map(),       // seat -> {tick, at}
    };

    let buffer = null; // an Interpolation, from the snapshot on

    const input = {
      heldKeys: new Set(),
      mouseDown: false,
      mouseClient: null,
      aim: 0,
      lastSent: null,
      lastSentAt: -Infinity,
      lastSeq: 0,             // the seq of the controls in force (sent last, or the snapshot's ack)
      sendFailed: false,
      pendingSeqs: new Map(), // seq -> performance.now() at send
      latencyMs: null,
    };

    const predict = {
      model: null,
      nextTickAt: null,       // performance.now() of the next local tick
      correction: { x: 0, y: 0 },
      drawn: null,            // my avatar where it was last drawn (predicted), {x, y}
      lastDrawAt: null,
    };

    const tickMs = () => 1000 / ((game.world && game.world.hz) || host.tickHz || 20);
    const me = () => (game.seat == null ? null : game.players.get(game.seat) || null);

    // ---------------------------------------------------------- helpers

    function playerName(seat) {
      const p = game.players.get(seat);
      return p && p.n ? p.n : host.playerName(seat);
    }

    function playerColour(seat) {
      const p = game.players.get(seat);
      return p && (p.tm === 0 || p.tm === 1) ? host.teamColour(p.tm) : host.seatColour(seat);
    }

    function secondsToForfeit(seat) {
      const at = game.away.get(seat);
      if (at === undefined || !game.world) return null;
      return Math.max(0, Math.ceil((at - game.tick) / game.world.hz));
    }

    // {kind: 'forfeited' | 'away', short} for another player's connection, or null.
    function seatStatus(seat) {
      const p = game.players.get(seat);
      if (p && p.ff) return { kind: 'forfeited', short: 'forfeited' };
      if (seat === game.seat || !game.away.has(seat)) return null;
      return { kind: 'away', short: `away \u00b7 ${secondsToForfeit(seat)}s` };
    }

    // ---------------------------------------------------- server messages

    function snapshot(msg) {
      const now = performance.now();
      const { players, shots, ...world } = msg.state;
      game.world = world;
      if (msg.seat !== undefined) game.seat = msg.seat;
      game.rules = makeRules(world);
      game.tick = msg.tick ?? world.tick;
      game.phase = msg.phase;
      game.players = new Map(players.map((p) => [p.s, { ...p }]));
      game.shots = new Map((shots || []).map((s) => [s[0], { s, gone: null }]));
      game.koTick.clear();
      game.flash.clear();
      if (!buffer || buffer.tickMs !== tickMs()) buffer = new Interpolation(world.hz);
      const pos = new Map(players.map((p) => [p.s, { x: p.x, y: p.y, al: p.al }]));
      buffer.reset(game.tick, now, pos);
      const ack = (game.seat != null && msg.acks && msg.acks[game.seat]) || 0;
      input.lastSeq = ack;
      input.lastSent = null; // a fresh input as soon as one may be sent
      input.pendingSeqs.clear();
      predict.model = new Prediction(game.rules, world.hz);
      const mine = me();
      if (mine) predict.model.reset(mine, ack);
      predict.nextTickAt = now + tickMs();
      predict.correction = { x: 0, y: 0 };
      resize();
    }

    function frame(msg) {
      if (!game.world || msg.tick <= game.tick) return;
      const now = performance.now();
      const d = msg.d || {};
      for (const change of d.p || []) {
        const player = game.players.get(change.s);
        if (player) Object.assign(player, change);
        else game.players.set(change.s, { ...change });
      }
      for (const s of d.sa || []) game.shots.set(s[0], { s, gone: null });
      for (const id of d.sr || []) {
        const shot = game.shots.get(id);
        if (shot) shot.gone = msg.tick;
      }
      game.tick = msg.tick;
      for (const [id, shot] of game.shots) {
        if (shot.gone !== null && shot.gone < msg.tick - game.world.hz) game.shots.delete(id); // never drawn
      }
      pushFrame(msg.tick, now);
      applyAcks(msg.acks, msg.tick, now);
      for (const event of msg.ev || []) applyEvent(event, msg.tick, now);
    }

    function phase(msg) {
      if (game.phase === 'over') return;
      if (msg.phase === 'running' && game.phase !== 'running') input.lastSent = null;
      game.phase = msg.phase;
      game.present = msg.present || [];
      game.away = new Map((msg.away || []).map(([seat, forfeitTick]) => [seat, forfeitTick]));
    }

    function end(msg) {
      game.phase = 'over';
      game.away.clear();
      if (msg.tick > game.tick) game.tick = msg.tick;
      input.heldKeys.clear();
      input.mouseDown = false;
    }

    function applyAcks(acks, tick, now) {
      const seat = game.seat;
      if (!acks || seat == null || typeof acks[seat] !== 'number') return;
      const ack = acks[seat];
      if (ack > input.lastSeq) input.lastSeq = ack; // sent by an earlier socket of this tab
      const sentAt = input.pendingSeqs.get(ack);
      if (sentAt !== undefined) input.latencyMs = now - sentAt;
      for (const [seq, at] of input.pendingSeqs) {
        if (seq > ack && now - at < PENDING_SEQ_TTL_MS) break;
        input.pendingSeqs.delete(seq);
      }
      const mine = me();
      const model = predict.model;
      if (!mine || !model) return;
      const before = model.base;
      model.reconcile(mine, tick, ack);
      // The old prediction is on screen: fade the difference out rather than jump, unless large.
      if (before && predicting()) {
        const c = predict.correction;
        c.x += before.x - model.base.x;
        c.y += before.y - model.base.y;
        if (Math.hypot(c.x, c.y) > CORRECTION_SNAP) predict.correction = { x: 0, y: 0 };
      } else {
        predict.correction = { x: 0, y: 0 };
      }
    }

    const EVENT_HANDLERS = {
      fire() {},
      hit(tick, now, victim) {
        game.flash.set(victim, { tick, at: now });
      },
      ko(tick, now, victim, killer) {
        game.koTick.set(victim, tick);
        host.feed(killer == null || killer === victim
          ? `${playerName(victim)} was knocked out`
          : `${playerName(killer)} knocked out ${playerName(victim)}`);
      },
      respawn(tick, now, seat) {
        game.koTick.delete(seat);
      },
      // The shell says who forfeited (it sees the seat leave the away list): no feed line here.
      forfeit(tick, now, seat) {
        game.koTick.delete(seat);
        game.away.delete(seat);
      },
      end() {},
    };

    function applyEvent(event, tick, now) {
      if (!Array.isArray(event)) return;
      const [kind, ...args] = event;
      const handler = EVENT_HANDLERS[kind];
      if (handler) handler(tick, now, ...args);
    }

    // ------------------------------------------------ interpolation buffer

    function pushFrame(tick, at) {
      const pos = new Map();
      for (const p of game.players.values()) pos.set(p.s, { x: p.x, y: p.y, al: p.al });
      buffer.push(tick, at, pos);
    }

    // --------------------------------------------------------- prediction

    // Whether my avatar is predicted: I play a living seat in a running match.
    function predicting() {
      const mine = me();
      return Boolean(game.phase === 'running' && mine && mine.al && !mine.ff && predict.model);
    }

    // The local tick clock: one recorded tick per 1/hz s with the controls last sent.
    function advanceClock(now) {
      if (predict.nextTickAt === null || !predict.model) return;
      const ms = tickMs();
      const mine = me();
      const recording = game.phase === 'running' && mine && !mine.ff;
      if (now - predict.nextTickAt > CATCH_UP_TICKS_MAX * ms) predict.nextTickAt = now;
      while (now >= predict.nextTickAt) {
        if (recording) {
          const sent = input.lastSent || { mx: 0, my: 0 };
          predict.model.record(input.lastSeq, sent.mx, sent.my);
        }
        predict.nextTickAt += ms;
      }
    }

    // My avatar as drawn: the last local tick, the held controls for the elapsed part of the
    // next one, and the fading correction.
    function predictedPosition(now) {
      const model = predict.model;
      const base = model.base;
      const ms = tickMs();
      const fraction = clamp(1 - (predict.nextTickAt - now) / ms, 0, 1);
      // The held keys go out within INPUT_MIN_GAP_MS; while sending fails, only what went out.
      const controls = input.sendFailed || !input.lastSent ? input.lastSent || { mx: 0, my: 0 } : heldMove();
      const next = step(game.rules, base, controls.mx, controls.my);
      const c = predict.correction;
      return { x: lerp(base.x, next.x, fraction) + c.x, y: lerp(base.y, next.y, fraction) + c.y };
    }

    function fadeCorrection(now) {
      const last = predict.lastDrawAt;
      predict.lastDrawAt = now;
      if (last === null || now <= last) return;
      const keep = Math.exp(-(now - last) / CORRECTION_FADE_MS);
      const c = predict.correction;
      c.x *= keep;
      c.y *= keep;
      if (Math.hypot(c.x, c.y) < 0.01) predict.correction = { x: 0, y: 0 }; // gone: exact again
    }

    // ------------------------------------------------------------- input

    function isTypingTarget(target) {
      if (!(target instanceof HTMLElement)) return false;
      return target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName);
    }

    const onScreen = () => canvas.isConnected && canvas.getClientRects().length > 0;

    function heldActions() {
      const held = { up: false, down: false, left: false, right: false, fire: false };
      for (const code of input.heldKeys) held[KEY_ACTIONS[code]] = true;
      return held;
    }

    function heldMove() {
      const held = heldActions();
      return { mx: (held.right ? 1 : 0) - (held.left ? 1 : 0), my: (held.down ? 1 : 0) - (held.up ? 1 : 0) };
    }

    function currentControls() {
      return { ...heldMove(), aim: updateAim(), fire: input.mouseDown || heldActions().fire };
    }

    // World coordinates of a client point (the world is drawn centred, scaled to fit the canvas).
    function clientToWorld(clientX, clientY) {
      const rect = canvas.getBoundingClientRect();
      const w = game.world;
      const scale = Math.min(rect.width / w.w, rect.height / w.h) || 1;
      return {
        x: (clientX - rect.left - (rect.width - w.w * scale) / 2) / scale,
        y: (clientY - rect.top - (rect.height - w.h * scale) / 2) / scale,
      };
    }

    // Aim is relative to where my avatar is drawn, because that is what the cursor is compared with.
    function updateAim() {
      const mine = me();
      if (!mine || !input.mouseClient || !game.world) return input.aim;
      const mouse = clientToWorld(input.mouseClient.x, input.mouseClient.y);
      const pos = predict.drawn || mine;
      const dx = mouse.x - pos.x;
      const dy = mouse.y - pos.y;
      if (dx !== 0 || dy !== 0) {
        input.aim = Math.round((Math.atan2(dy, dx) / (2 * Math.PI)) * AIM_STEPS) & (AIM_STEPS - 1);
      }
      return input.aim;
    }

    function maySendInput() {
      const mine = me();
      return game.phase === 'running' && game.seat != null && Boolean(mine) && !mine.ff;
    }

    function inputDue(controls, sinceLast) {
      const last = input.lastSent;
      if (!last || controls.mx !== last.mx || controls.my !== last.my || controls.fire !== last.fire) {
        return sinceLast >= INPUT_MIN_GAP_MS;
      }
      if (controls.aim !== last.aim) return sinceLast >= AIM_SEND_INTERVAL_MS;
      return sinceLast >= KEEPALIVE_MS;
    }

    function pumpInput() {
      if (!maySendInput()) return;
      const now = performance.now();
      advanceClock(now);
      const controls = currentControls();
      if (!inputDue(controls, now - input.lastSentAt)) return;
      const seq = host.sendInput(controls);
      input.sendFailed = seq == null;
      if (seq == null) return;
      input.lastSeq = seq;
      input.lastSent = controls;
      input.lastSentAt = now;
      input.pendingSeqs.set(seq, now);
    }

    function releaseControls() {
      input.heldKeys.clear();
      input.mouseDown = false;
      pumpInput();
    }

    function onKey(event, down) {
      if (!onScreen() || isTypingTarget(event.target)) return;
      if (!(event.code in KEY_ACTIONS)) return;
      if (down && (event.ctrlKey || event.metaKey || event.altKey)) return;
      // While playing: no page scrolling on arrows/space and no space-clicking a focused button.
      if (game.phase === 'running') event.preventDefault();
      if (down) input.heldKeys.add(event.code);
      else input.heldKeys.delete(event.code);
      pumpInput();
    }

    const listeners = [
      [window, 'keydown', (e) => onKey(e, true)],
      [window, 'keyup', (e) => onKey(e, false)],
      [window, 'mousemove', (e) => {
        input.mouseClient = { x: e.clientX, y: e.clientY };
        pumpInput();
      }],
      [canvas, 'mousedown', (e) => {
        if (e.button !== 0) return;
        e.preventDefault();
        if (document.activeElement instanceof HTMLElement) document.activeElement.blur();
        input.mouseClient = { x: e.clientX, y: e.clientY };
        input.mouseDown = true;
        pumpInput();
      }],
      [window, 'mouseup', (e) => {
        if (e.button !== 0 || !input.mouseDown) return;
        input.mouseDown = false;
        pumpInput();
      }],
      [canvas, 'contextmenu', (e) => e.preventDefault()],
    ];
    for (const [target, type, fn] of listeners) target.addEventListener(type, fn);
    const pumpTimer = setInterval(pumpInput, INPUT_PUMP_MS);

    // ----------------------------------------------------------- drawing

    function resize() {
      const dpr = window.devicePixelRatio || 1;
      const width = Math.round(canvas.clientWidth * dpr);
      const height = Math.round(canvas.clientHeight * dpr);
      if (width > 0 && height > 0 && (canvas.width !== width || canvas.height !== height)) {
        canvas.width = width;
        canvas.height = height;
      }
    }

    function draw(now) {
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.fillStyle = '#15191d';
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      const w = game.world;
      if (!w) return;
      // The local tick clock also runs in the input pump, on performance.now(): the same here.
      const clock = performance.now();
      advanceClock(clock);
      fadeCorrection(clock);
      const r = buffer.renderTickAt(now);
      const scale = Math.min(canvas.width / w.w, canvas.height / w.h);
      ctx.setTransform(scale, 0, 0, scale, (canvas.width - w.w * scale) / 2, (canvas.height - w.h * scale) / 2);
      drawFloor(w);
      drawObstacles(w.obs);
      drawShots(r);
      drawPlayers(r, clock);
    }

    function drawFloor(w) {
      ctx.fillStyle = '#1d2329';
      ctx.fillRect(0, 0, w.w, w.h);
      ctx.strokeStyle = 'rgba(255, 255, 255, 0.05)';
      ctx.lineWidth = 1;
      ctx.beginPath();
      for (let x = 100; x < w.w; x += 100) { ctx.moveTo(x, 0); ctx.lineTo(x, w.h); }
      for (let y = 100; y < w.h; y += 100) { ctx.moveTo(0, y); ctx.lineTo(w.w, y); }
      ctx.stroke();
      ctx.strokeStyle = '#56616c';
      ctx.lineWidth = 4;
      ctx.strokeRect(2, 2, w.w - 4, w.h - 4);
    }

    function drawObstacles(obstacles) {
      ctx.fillStyle = '#47515b';
      ctx.strokeStyle = '#6b7783';
      ctx.lineWidth = 2;
      for (const [x, y, w, h] of obstacles) {
        ctx.fillRect(x, y, w, h);
        ctx.strokeRect(x + 1, y + 1, w - 2, h - 2);
      }
    }

    // Shots on the render clock: from their first tick until the tick that removed them.
    function drawShots(r) {
      const radius = game.world.shot_radius;
      for (const [id, shot] of game.shots) {
        if (shot.gone !== null && r >= shot.gone) {
          game.shots.delete(id);
          continue;
        }
        const [, owner, x0, y0, vx, vy, t0] = shot.s;
        if (r < t0) continue;
        ctx.fillStyle = playerColour(owner);
        ctx.beginPath();
        ctx.arc(x0 + vx * (r - t0), y0 + vy * (r - t0), radius, 0, 2 * Math.PI);
        ctx.fill();
      }
    }

    function drawPlayers(r, now) {
      const mySeat = game.seat;
      const predicted = predicting();
      const drawn = [];
      for (const player of game.players.values()) {
        let pos;
        let alive;
        if (player.s === mySeat && predicted) {
          pos = predictedPosition(now);
          alive = true;
        } else {
          const at = buffer.sample(player.s, r) || player;
          pos = { x: at.x, y: at.y };
          alive = at.al;
        }
        if (player.s === mySeat) predict.drawn = pos;
        drawn.push({ player, pos, alive });
      }
      // Knocked-out players first so the living are on top; mine last of all.
      drawn.sort((a, b) => (a.alive === b.alive ? 0 : a.alive ? 1 : -1)
        || (a.player.s === mySeat) - (b.player.s === mySeat));
      for (const { player, pos, alive } of drawn) {
        const status = seatStatus(player.s);
        ctx.globalAlpha = player.ff ? 0.25 : !alive ? 0.3 : status ? 0.5 : 1;
        drawBody(player, pos, r, now);
        if (alive) drawAimLine(player, pos);
        drawLabel(player, pos, status);
        ctx.globalAlpha = 1;
        if (!alive && !player.ff) drawRespawnCountdown(player, pos, r);
      }
    }

    function flashing(seat, r, now) {
      const flash = game.flash.get(seat);
      if (!flash) return false;
      // Mine is drawn ahead (predicted): flash when the hit arrives; others when it is drawn.
      if (seat === game.seat) return now - flash.at < HIT_FLASH_MS;
      const since = (r - (flash.tick - 1)) * tickMs();
      return since >= 0 && since < HIT_FLASH_MS;
    }

    function drawBody(player, pos, r, now) {
      const radius = game.world.radius;
      ctx.fillStyle = player.ff ? '#7a7f85' : playerColour(player.s);
      ctx.beginPath();
      ctx.arc(pos.x, pos.y, radius, 0, 2 * Math.PI);
      ctx.fill();
      if (player.s === game.seat) {
        ctx.strokeStyle = '#ffffff';
        ctx.lineWidth = 3;
        ctx.stroke();
      }
      if (flashing(player.s, r, now)) {
        ctx.fillStyle = 'rgba(255, 255, 255, 0.7)';
        ctx.fill();
      }
    }

    function drawAimLine(player, pos) {
      const radius = game.world.radius;
      const aim = player.s === game.seat && input.lastSent ? input.aim : player.a;
      const angle = ((aim || 0) / AIM_STEPS) * 2 * Math.PI;
      ctx.strokeStyle = 'rgba(255, 255, 255, 0.8)';
      ctx.lineWidth = 3;
      ctx.beginPath();
      ctx.moveTo(pos.x + Math.cos(angle) * radius * 0.5, pos.y + Math.sin(angle) * radius * 0.5);
      ctx.lineTo(pos.x + Math.cos(angle) * radius * 2, pos.y + Math.sin(angle) * radius * 2);
      ctx.stroke();
    }

    function drawLabel(player, pos, status) {
      const radius = game.world.radius;
      const maxHp = game.world.max_hp;
      const name = player.n || playerName(player.s);
      const barWidth = radius * 2.4;
      ctx.font = '600 15px system-ui, sans-serif';
      // Keep the label inside the arena: shift it sideways at the walls, below the player at the top.
      const half = Math.max(barWidth, ctx.measureText(name).width) / 2 + 2;
      const x = clamp(pos.x, half, game.world.w - half);
      const below = pos.y - radius - 32 < 0;
      const barY = below ? pos.y + radius + 6 : pos.y - radius - 12;
      const hp = clamp(player.hp || 0, 0, maxHp);
      ctx.fillStyle = 'rgba(0, 0, 0, 0.6)';
      ctx.fillRect(x - barWidth / 2, barY, barWidth, 6);
      ctx.fillStyle = hp > maxHp / 2 ? '#4caf50' : hp > maxHp / 4 ? '#ffc107' : '#f44336';
      ctx.fillRect(x - barWidth / 2, barY, (barWidth * hp) / maxHp, 6);
      ctx.textAlign = 'center';
      ctx.textBaseline = below ? 'top' : 'bottom';
      ctx.fillStyle = '#ffffff';
      ctx.fillText(name, x, below ? barY + 9 : barY - 3);
      if (status) {
        // Under the player: "away · 23s" (back within, or the seat forfeits) or "forfeited".
        const saved = ctx.globalAlpha;
        ctx.globalAlpha = 1;
        ctx.font = '600 13px system-ui, sans-serif';
        ctx.textBaseline = 'top';
        ctx.fillStyle = status.kind === 'away' ? '#ffc107' : '#b0b6bc';
        ctx.fillText(status.short, x, pos.y + radius + (below ? 26 : 6));
        ctx.globalAlpha = saved;
      }
    }

    function drawRespawnCountdown(player, pos, r) {
      const koTick = game.koTick.get(player.s);
      if (koTick === undefined) return;
      const seconds = (koTick + game.world.respawn_ticks - r) / game.world.hz;
      if (seconds <= 0) return;
      ctx.font = '700 16px system-ui, sans-serif';
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillStyle = '#ffffff';
      ctx.fillText(seconds.toFixed(1), pos.x, pos.y);
    }

    // ------------------------------------------------------------ debug

    const round2 = (v) => (v == null ? null : Math.round(v * 100) / 100);

    function debug() {
      const model = predict.model;
      const mine = me();
      return {
        players: [...game.players.values()].map((p) => ({ ...p })),
        shots: [...game.shots.values()].filter((s) => s.gone === null).length,
        predicting: predicting(),
        predictionErrorPx: model ? round2(model.errorSmoothed) : null,
        predictionErrorLastPx: model ? round2(model.errorLast) : null,
        predicted: predicting() && predict.drawn ? { x: round2(predict.drawn.x), y: round2(predict.drawn.y) } : null,
        server: mine ? { x: mine.x, y: mine.y } : null,
        unackedTicks: model ? model.entries.length : 0,
        inputLatencyMs: input.latencyMs == null ? null : Math.round(input.latencyMs),
        bufferMs: buffer ? Math.round(buffer.delay) : null,
        jitterMs: buffer ? round2(buffer.jitter) : null,
        renderTick: buffer ? round2(buffer.renderTick) : null,
      };
    }

    function destroy() {
      clearInterval(pumpTimer);
      for (const [target, type, fn] of listeners) target.removeEventListener(type, fn);
    }

    // The world's width / height, for the shell to give the canvas that shape.
    const aspect = () => (game.world ? game.world.w / game.world.h : DEFAULT_ASPECT);

    resize();
    return { snapshot, frame, phase, end, draw, resize, releaseControls, debug, destroy, aspect };
  }

  window.GameClients = window.GameClients || {};
  window.GameClients.arena = {
    title: 'Arena',
    controls: [['WASD / arrows', 'move'], ['mouse', 'aim'], ['click / space', 'fire']],
    create,
    // The movement rules and the prediction, for the tests (tests/test_arena_prediction.py).
    movement: { makeRules, movePlayer, step, blockedBy, Prediction, Interpolation },
  };
})();
