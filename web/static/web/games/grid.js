// The grid game's browser renderer (light cycles; the contract with the page shell is in
// web/static/web/client.js): the board and its trails, the heads, a round and score line, and
// the arrow keys / WASD.
//
// The board arrives run-length encoded in the snapshot (state.g: [value, run, ...], 0 empty,
// seat + 1 a trail) and grows by the cells each frame lists (d.c: [cell, value, ...]; d.clr: a
// new round cleared it first), so a frame is a few dozen bytes however long the trails get.
//
// Prediction: a turn shows at once. The server's turn rule (match/games/grid/stages.py
// apply_controls) is repeated here: a riding cycle in a round that is on turns to the new
// direction unless it reverses its last move (`m`). The unacknowledged turns are replayed on the
// server's heading (`d`) after every frame, so an ack (or a turn the server refused) puts the
// head back on the server's word. Cells are not predicted: a cycle moves every 100 ms and its
// trail is authoritative, so the head steps from cell to cell as the frames say.
(() => {
  'use strict';

  const DIRS = [[0, -1], [1, 0], [0, 1], [-1, 0]]; // 0 up, 1 right, 2 down, 3 left (stages.DX/DY)
  const KEY_DIRS = {
    KeyW: 0, ArrowUp: 0,
    KeyD: 1, ArrowRight: 1,
    KeyS: 2, ArrowDown: 2,
    KeyA: 3, ArrowLeft: 3,
  };
  const HEADER_CELLS = 2.5; // the round and score line above the board, in cells
  const MARGIN_CELLS = 0.5; // around the board, so its border and the heads on it show whole
  const PENDING_MAX = 32; // unacknowledged turns kept (a stalled socket must not grow this)
  const WALL = -1; // `by` of a crash into the edge of the board

  const reverse = (d) => (d + 2) % 4;

  // stages.apply_controls for one input: the heading a turn to `dir` leaves.
  function turned(heading, moved, dir, riding) {
    return riding && dir !== reverse(moved) ? dir : heading;
  }

  // The board as one byte per cell, row-major, as the server keeps it.
  class Board {
    constructor(w, h) {
      this.w = w;
      this.h = h;
      this.cells = new Uint8Array(w * h);
      this.filled = 0;
    }

    load(runs) {
      this.cells.fill(0);
      let i = 0;
      for (let k = 0; k + 1 < runs.length; k += 2) {
        const value = runs[k];
        const end = Math.min(i + runs[k + 1], this.cells.length);
        if (value) this.cells.fill(value, i, end);
        i = end;
      }
      this.filled = this.cells.reduce((n, v) => n + (v ? 1 : 0), 0);
    }

    clear() {
      this.cells.fill(0);
      this.filled = 0;
    }

    // d.c: [cell, value, cell, value, ...]
    add(pairs) {
      for (let k = 0; k + 1 < pairs.length; k += 2) {
        const i = pairs[k];
        if (i < 0 || i >= this.cells.length) continue;
        if (!this.cells[i] && pairs[k + 1]) this.filled += 1;
        this.cells[i] = pairs[k + 1];
      }
    }

    // The same encoding as match/games/grid/wire.py rle, for tests and debugging.
    runs() {
      const out = [];
      let value = this.cells[0];
      let run = 0;
      for (const v of this.cells) {
        if (v === value) run += 1;
        else {
          out.push(value, run);
          value = v;
          run = 1;
        }
      }
      out.push(value, run);
      return out;
    }
  }

  // My turns above the server's ack, replayed on the server's heading.
  class TurnPrediction {
    constructor() {
      this.pending = []; // [{seq, dir}] in send order
      this.misses = 0; // acked turns whose outcome differed from what was drawn
    }

    reset() {
      this.pending = [];
    }

    push(seq, dir) {
      this.pending.push({ seq, dir });
      if (this.pending.length > PENDING_MAX) this.pending.shift();
    }

    // Drop what the server has applied; `drawn` is the heading shown before this frame and
    // `server` the server's heading now: with nothing pending they must agree.
    acknowledge(ack, drawn, server) {
      const before = this.pending.length;
      this.pending = this.pending.filter((p) => p.seq > ack);
      if (before && !this.pending.length && drawn !== server) this.misses += 1;
    }

    heading(cycle, riding) {
      let d = cycle.d;
      for (const p of this.pending) d = turned(d, cycle.m, p.dir, riding);
      return d;
    }
  }

  function create(host) {
    const canvas = host.canvas;
    const ctx = canvas.getContext('2d');

    const game = {
      world: null, // the snapshot's numbers: w, h, hz, cps, score_limit, end_tick, round, go, next
      seat: host.seat,
      tick: 0,
      phase: 'waiting',
      players: new Map(), // seat -> wire player {s, n, x, y, d, m, al, sc, ff?}
      board: null,
      present: [],
      away: new Map(),
      lastRound: null, // {round, winner} of the round just decided, for the pause
      gaps: 0, // frames that did not follow the previous tick (the shell resyncs those)
    };
    const prediction = new TurnPrediction();
    let drawnHeading = null;

    const me = () => (game.seat == null ? null : game.players.get(game.seat) || null);
    const hz = () => (game.world && game.world.hz) || host.tickHz || 20;
    const roundOn = () => Boolean(game.world) && !game.world.next;
    const riding = (p) => Boolean(p && p.al && !p.ff && roundOn());

    function playerName(seat) {
      const p = game.players.get(seat);
      return p && p.n ? p.n : host.playerName(seat);
    }

    function myHeading() {
      const mine = me();
      return mine ? prediction.heading(mine, riding(mine)) : null;
    }

    // ---------------------------------------------------- server messages

    function snapshot(msg) {
      const { players, g, ...world } = msg.state;
      game.world = world;
      if (msg.seat !== undefined) game.seat = msg.seat;
      game.tick = msg.tick ?? world.tick;
      game.phase = msg.phase || game.phase;
      game.players = new Map(players.map((p) => [p.s, { ...p }]));
      game.board = new Board(world.w, world.h);
      game.board.load(g || []);
      game.lastRound = null;
      prediction.reset();
      drawnHeading = myHeading();
      resize();
    }

    function frame(msg) {
      if (!game.world || msg.tick <= game.tick) return;
      if (msg.tick !== game.tick + 1) game.gaps += 1;
      const d = msg.d || {};
      for (const key of ['round', 'go', 'next']) if (key in d) game.world[key] = d[key];
      for (const change of d.p || []) {
        const player = game.players.get(change.s);
        if (player) Object.assign(player, change);
        else game.players.set(change.s, { ...change });
      }
      if (d.clr) game.board.clear();
      if (d.c) game.board.add(d.c);
      game.tick = msg.tick;
      for (const event of msg.ev || []) applyEvent(event); // a new round drops pending turns
      const mine = me();
      if (mine && msg.acks && typeof msg.acks[game.seat] === 'number') {
        prediction.acknowledge(msg.acks[game.seat], drawnHeading, mine.d);
      }
      drawnHeading = myHeading();
    }

    function phase(msg) {
      if (game.phase === 'over') return;
      game.phase = msg.phase;
      game.present = msg.present || [];
      game.away = new Map((msg.away || []).map(([seat, forfeitTick]) => [seat, forfeitTick]));
    }

    function end(msg) {
      game.phase = 'over';
      game.away.clear();
      if (msg.tick > game.tick) game.tick = msg.tick;
    }

    const EVENT_HANDLERS = {
      crash(seat, by) {
        const who = seat === game.seat ? 'You' : playerName(seat);
        if (by === WALL) host.feed(`${who} hit the wall`);
        else if (by === seat) host.feed(`${who} hit ${seat === game.seat ? 'your' : 'their'} own trail`);
        else host.feed(`${who} crashed into ${by === game.seat ? 'you' : playerName(by)}`);
      },
      round(round, winner) {
        game.lastRound = { round, winner };
        host.feed(winner < 0 ? `Round ${round}: no winner`
          : `${winner === game.seat ? 'You win' : `${playerName(winner)} wins`} round ${round}`);
      },
      start() {
        game.lastRound = null;
        prediction.reset(); // a new round resets every heading
      },
      forfeit() {}, // the shell announces forfeits (from the phase's away list)
      end() {},
    };

    function applyEvent(event) {
      const handler = EVENT_HANDLERS[event[0]];
      if (handler) handler(...event.slice(1));
    }

    // ------------------------------------------------------------ input

    function isTypingTarget(target) {
      if (!target) return false;
      return Boolean(target.isContentEditable) || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName || '');
    }

    const onScreen = () => canvas.isConnected && canvas.getClientRects().length > 0;

    // A turn counts only for my riding cycle in a round that is on (not in the pause after it).
    function maySend() {
      return game.phase === 'running' && game.seat != null && riding(me());
    }

    function onKey(event) {
      if (!onScreen() || isTypingTarget(event.target)) return;
      if (!(event.code in KEY_DIRS) || event.ctrlKey || event.metaKey || event.altKey) return;
      if (game.phase === 'running') event.preventDefault(); // no page scrolling on arrows
      if (event.repeat || !maySend()) return;
      const dir = KEY_DIRS[event.code];
      if (dir === myHeading()) return;
      const seq = host.sendInput({ dir });
      if (seq == null) return;
      prediction.push(seq, dir);
      drawnHeading = myHeading();
    }

    // Turns are taps: nothing is held, so there is nothing to release.
    function releaseControls() {}

    const listeners = [[window, 'keydown', onKey]];
    for (const [target, type, fn] of listeners) target.addEventListener(type, fn);

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

    // Cell size and the board's top left corner in canvas pixels: the board, its margin and the
    // header band above it, centred in the canvas.
    function layout() {
      const w = game.world || { w: 48, h: 32 };
      const across = w.w + 2 * MARGIN_CELLS;
      const down = w.h + HEADER_CELLS + 2 * MARGIN_CELLS;
      const cell = Math.max(1, Math.floor(Math.min(canvas.width / across, canvas.height / down)));
      const x0 = Math.floor((canvas.width - w.w * cell) / 2);
      const y0 = Math.floor((canvas.height - down * cell) / 2 + (MARGIN_CELLS + HEADER_CELLS) * cell);
      return { cell, x0, y0 };
    }

    function draw() {
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.fillStyle = '#15191d';
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      if (!game.world || !game.board) return;
      const { cell, x0, y0 } = layout();
      drawHeader(cell, x0, y0);
      ctx.setTransform(cell, 0, 0, cell, x0, y0); // board coordinates: one unit per cell
      drawFloor();
      drawTrails();
      drawHeads();
      drawBanner();
    }

    function drawFloor() {
      const { w, h } = game.world;
      ctx.fillStyle = '#1d2329';
      ctx.fillRect(0, 0, w, h);
      ctx.strokeStyle = 'rgba(255, 255, 255, 0.05)';
      ctx.lineWidth = 0.05;
      ctx.beginPath();
      for (let x = 4; x < w; x += 4) { ctx.moveTo(x, 0); ctx.lineTo(x, h); }
      for (let y = 4; y < h; y += 4) { ctx.moveTo(0, y); ctx.lineTo(w, y); }
      ctx.stroke();
      ctx.strokeStyle = '#56616c';
      ctx.lineWidth = 0.2;
      ctx.strokeRect(-0.1, -0.1, w + 0.2, h + 0.2);
    }

    // One path per seat: every trail cell of it, filled once in its colour.
    function drawTrails() {
      const { cells, w } = game.board;
      const bySeat = new Map();
      for (let i = 0; i < cells.length; i++) {
        const v = cells[i];
        if (!v) continue;
        let list = bySeat.get(v);
        if (!list) bySeat.set(v, (list = []));
        list.push(i);
      }
      for (const [v, list] of bySeat) {
        const p = game.players.get(v - 1);
        ctx.globalAlpha = p && (p.ff || !p.al) ? 0.45 : 0.85;
        ctx.fillStyle = host.seatColour(v - 1);
        ctx.beginPath();
        for (const i of list) ctx.rect(i % w, Math.floor(i / w), 1, 1);
        ctx.fill();
      }
      ctx.globalAlpha = 1;
    }

    function drawHeads() {
      for (const p of game.players.values()) {
        if (p.ff) continue;
        const mine = p.s === game.seat;
        const heading = mine ? myHeading() : p.d;
        ctx.fillStyle = '#ffffff';
        ctx.fillRect(p.x - 0.15, p.y - 0.15, 1.3, 1.3);
        ctx.fillStyle = host.seatColour(p.s);
        ctx.fillRect(p.x + 0.05, p.y + 0.05, 0.9, 0.9);
        if (p.al) drawPointer(p.x + 0.5, p.y + 0.5, heading, mine);
        else drawCross(p.x + 0.5, p.y + 0.5);
      }
    }

    // A triangle ahead of the head, in the heading it will move next (mine: predicted).
    function drawPointer(cx, cy, dir, mine) {
      const [dx, dy] = DIRS[dir];
      ctx.fillStyle = mine ? '#ffffff' : 'rgba(255, 255, 255, 0.75)';
      ctx.beginPath();
      ctx.moveTo(cx + dx * 1.6, cy + dy * 1.6);
      ctx.lineTo(cx + dx * 0.7 - dy * 0.6, cy + dy * 0.7 + dx * 0.6);
      ctx.lineTo(cx + dx * 0.7 + dy * 0.6, cy + dy * 0.7 - dx * 0.6);
      ctx.closePath();
      ctx.fill();
    }

    function drawCross(cx, cy) {
      ctx.strokeStyle = '#ff5252';
      ctx.lineWidth = 0.25;
      ctx.beginPath();
      ctx.moveTo(cx - 0.8, cy - 0.8); ctx.lineTo(cx + 0.8, cy + 0.8);
      ctx.moveTo(cx + 0.8, cy - 0.8); ctx.lineTo(cx - 0.8, cy + 0.8);
      ctx.stroke();
    }

    // "Round 2 · first to 3" on the left, every player's round wins, and the time left; the font
    // shrinks until the line fits the board's width.
    function drawHeader(cell, x0, y0) {
      const w = game.world;
      const mid = y0 - (HEADER_CELLS * cell) / 2;
      const left = Math.max(0, Math.ceil((w.end_tick - game.tick) / hz()));
      const clock = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`;
      const title = `Round ${w.round} \u00b7 first to ${w.score_limit}`;
      const players = [...game.players.values()];
      const labels = players.map((p) => `${playerName(p.s)}${p.s === game.seat ? ' (you)' : ''} ${p.sc}`);
      let size = Math.max(10, Math.round(cell * 1.2));
      ctx.font = `600 ${size}px system-ui, sans-serif`;
      const widths = () => [title, clock, ...labels].map((t) => ctx.measureText(t).width);
      const total = widths().reduce((a, b) => a + b, 0) + size * (3 + 2.2 * labels.length);
      if (total > w.w * cell) {
        size = Math.max(8, Math.floor((size * w.w * cell) / total));
        ctx.font = `600 ${size}px system-ui, sans-serif`;
      }
      ctx.textBaseline = 'middle';
      ctx.textAlign = 'left';
      ctx.fillStyle = '#b0b6bc';
      ctx.fillText(title, x0, mid);
      let x = x0 + ctx.measureText(title).width + size * 1.5;
      players.forEach((p, k) => {
        ctx.globalAlpha = p.ff ? 0.35 : p.al ? 1 : 0.55;
        ctx.fillStyle = host.seatColour(p.s);
        ctx.fillRect(x, mid - size * 0.35, size * 0.7, size * 0.7);
        ctx.fillStyle = '#ffffff';
        ctx.fillText(labels[k], x + size, mid);
        const width = ctx.measureText(labels[k]).width;
        if (!p.al || p.ff) ctx.fillRect(x + size, mid, width, Math.max(1, size / 10)); // struck out
        x += size + width + size * 1.2;
        ctx.globalAlpha = 1;
      });
      ctx.textAlign = 'right';
      ctx.fillStyle = '#b0b6bc';
      ctx.fillText(clock, x0 + w.w * cell, mid);
    }

    // Over the board: the countdown before a round, who took the one just decided.
    function drawBanner() {
      const w = game.world;
      let text = null;
      if (game.phase === 'waiting') text = 'Waiting for players';
      else if (game.phase === 'over') text = null;
      else if (w.next) {
        const r = game.lastRound;
        if (r) text = r.winner < 0 ? 'No winner' : `${r.winner === game.seat ? 'You win' : `${playerName(r.winner)} wins`} round ${r.round}`;
        else text = `Round ${w.round} is over`;
      } else if (game.tick < w.go) {
        text = `Round ${w.round} \u00b7 ${Math.ceil((w.go - game.tick) / hz())}`;
      }
      if (!text) return;
      const y = Math.round(w.h * 0.32); // clear of every start cell, so the heads stay visible
      ctx.font = '700 2.4px system-ui, sans-serif';
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillStyle = 'rgba(0, 0, 0, 0.55)';
      ctx.fillRect(0, y - 2.2, w.w, 4.4);
      ctx.fillStyle = '#ffffff';
      ctx.fillText(text, w.w / 2, y);
    }

    // ------------------------------------------------------------ debug

    function debug() {
      const mine = me();
      return {
        players: [...game.players.values()].map((p) => ({ ...p })),
        shots: 0,
        round: game.world ? game.world.round : null,
        go: game.world ? game.world.go : null,
        next: game.world ? game.world.next : null,
        filled: game.board ? game.board.filled : 0,
        heading: myHeading(),
        serverHeading: mine ? mine.d : null,
        pendingTurns: prediction.pending.length,
        predictionMisses: prediction.misses,
        gaps: game.gaps,
      };
    }

    function destroy() {
      for (const [target, type, fn] of listeners) target.removeEventListener(type, fn);
    }

    // The board's shape with its header band, for the shell to give the canvas that shape.
    const aspect = () => {
      const w = game.world || { w: 48, h: 32 };
      return (w.w + 2 * MARGIN_CELLS) / (w.h + HEADER_CELLS + 2 * MARGIN_CELLS);
    };

    // The board in wire form (state.g), for tests: the same encoding the server sends. With
    // layout(), they are beyond the shell contract, which ignores them.
    const boardRuns = () => (game.board ? game.board.runs() : []);

    resize();
    return {
      snapshot, frame, phase, end, draw, resize, releaseControls, debug, destroy, aspect, boardRuns, layout,
    };
  }

  window.GameClients = window.GameClients || {};
  window.GameClients.grid = {
    title: 'Light cycles',
    controls: [['WASD / arrows', 'turn']],
    create,
    // The turn rule and the board, for the tests (tests/match/test_grid_renderer.py).
    logic: { turned, Board, TurnPrediction },
  };
})();
