// Browser client for the arena game: match creation, WebSocket protocol
// (binary msgpack frames), input sampling and canvas rendering.
//
// Seats survive a drop: the first connection of a seat (with its ticket) is given a resume
// credential, kept in session storage per match, and every later connection of this tab (a
// reconnect after a cut, a reload) uses it instead. Other players who dropped are shown away
// with the time they have left, then forfeited.
//
// The lobby (lobby.js, loaded first) registers window.ArenaLobby; boot() attaches it with the
// small interface below (`lobbyInterface`): the lobby starts and leaves games through it, and the
// game tells the lobby when a match ends and when the player asks to go back.
(() => {
  'use strict';

  // ---------------------------------------------------------------- constants

  const API_MATCHES = '/api/matches/';
  const NAME_MAX_CHARS = 16;
  const DEFAULT_WORLD = { w: 1600, h: 900 };
  const PLAYER_RADIUS = 20;
  const SHOT_RADIUS = 4;
  const MAX_HP = 100;
  const AIM_STEPS = 4096;

  // The server allows 30 messages/s. Inputs are spaced >= 40 ms (<= 25/s),
  // and a sliding-window cap on everything we send is the safety net.
  const INPUT_MIN_GAP_MS = 40;
  const AIM_SEND_INTERVAL_MS = 50;
  const KEEPALIVE_MS = 250;
  const INPUT_PUMP_MS = 20;
  const RATE_WINDOW_MS = 1000;
  const RATE_MAX_PER_WINDOW = 28;
  const PENDING_SEQ_TTL_MS = 10000;

  const PING_INTERVAL_MS = 2000;
  // After an unexpected close the client retries with exponential backoff and jitter for as long
  // as the server keeps the seat (the `grace` of the seat message) plus a margin, then gives up.
  const RECONNECT_BASE_MS = 500;
  const RECONNECT_MAX_DELAY_MS = 5000;
  const RECONNECT_MARGIN_MS = 5000;
  const DEFAULT_GRACE_SECONDS = 30; // until the server says (a first connection that never got in)
  // A socket that hears nothing, not even the pong to a ping sent this long ago, is dead (a path
  // that died without a reset): dropped and reconnected. Also the limit for a hanging handshake.
  const STALL_MS = 10000;
  const WATCHDOG_MS = 1000;
  const BANNER_REFRESH_MS = 250;
  const RESUMED_NOTICE_MS = 3000;

  const HUD_REFRESH_MS = 100;
  const TOAST_MS = 3500;
  const FEED_TTL_MS = 6000;
  const FEED_MAX_ENTRIES = 6;
  const HIT_FLASH_MS = 160;
  // Jumps longer than this between two frames are respawns/teleports: draw them without sliding.
  const SNAP_DISTANCE = 150;

  const SEAT_COLOURS = [
    '#e6194b', '#3cb44b', '#4363d8', '#f58231',
    '#911eb4', '#42d4f4', '#f032e6', '#bfef45',
  ];
  // Team matches colour players by team ("tm" 0/1 in the player maps) instead of by seat.
  const TEAM_COLOURS = ['#3d8bff', '#ff8c1a'];
  const TEAM_NAMES = ['Blue', 'Orange'];

  // Closes after which the client reconnects by itself (with the seat's resume credential):
  // 1012 the server restarts, 1011 a server-side failure on this socket, 4503 no tick worker
  // answered; and every other code below 4000 (1006: the connection was cut).
  const RECONNECT_CLOSE_CODES = new Set([1011, 1012, 4503]);

  // Final states: the server sends an error just before a 4xxx close (Daphne drops close
  // reasons), so the error code says which one it is; the close code is the fallback.
  // `retry`: the label of a button that tries again; `forget`: the resume credential is useless.
  const FINAL_STATES = {
    seat_taken: {
      title: 'Seat taken',
      text: 'This seat is already taken: it is open in another tab or on another device. '
        + 'Only the browser tab that holds it can come back to it.',
    },
    replaced: {
      title: 'Playing in another tab',
      text: 'This seat was opened in another tab or window, which plays it now.',
      retry: 'Play here instead',
    },
    resume_invalid: {
      title: 'Cannot rejoin',
      text: 'The key that brings this tab back to its seat is no longer valid.',
      forget: true,
    },
    ticket_invalid: { title: 'Cannot join', text: 'Your invite ticket is missing or invalid.' },
    ticket_expired: { title: 'Cannot join', text: 'Your invite ticket has expired.' },
    wrong_match: { title: 'Cannot join', text: 'This ticket belongs to a different match.' },
    wrong_player: { title: 'Cannot join', text: 'This seat belongs to another player.' },
    no_such_match: { title: 'Match not found', text: 'This match does not exist (any more).', forget: true },
    match_over: { title: 'Match over', text: 'This match is already over.', forget: true },
  };
  const CLOSE_STATES = {
    4400: { text: 'The server rejected a message from this client (protocol violation).' },
    4401: FINAL_STATES.ticket_invalid,
    4403: FINAL_STATES.wrong_match,
    4404: FINAL_STATES.no_such_match,
    4409: FINAL_STATES.replaced,
    4410: FINAL_STATES.match_over,
    4429: { text: 'Disconnected for sending too many messages.' },
  };
  // Errors that come just before a close: the final state (or the reconnect) says it, not a toast.
  const CLOSING_ERRORS = new Set([...Object.keys(FINAL_STATES), 'unavailable', 'shutting_down']);

  const END_REASONS = {
    score: 'The score limit was reached.',
    time: 'Time is up.',
    forfeit: 'The other side forfeited.',
    aborted: 'The match was aborted.',
  };

  const KEY_ACTIONS = {
    KeyW: 'up', ArrowUp: 'up',
    KeyS: 'down', ArrowDown: 'down',
    KeyA: 'left', ArrowLeft: 'left',
    KeyD: 'right', ArrowRight: 'right',
    Space: 'fire',
  };

  const STORAGE_NAME = 'arena:name';
  const storageInvitesKey = (matchId) => `arena:invites:${matchId}`;
  // This tab's way back onto its seat: {seat, resume, grace, ticket, lobby, mode}. Session
  // storage, so a reload of the tab resumes the seat and another tab does not share it.
  const storageResumeKey = (matchId) => `arena:resume:${matchId}`;

  // -------------------------------------------------------------------- state

  const config = {
    tickHz: Number(document.body.dataset.tickHz) || 20,
    maxPlayers: Number(document.body.dataset.maxPlayers) || 8,
  };

  function freshGame() {
    return {
      matchId: null,
      ticket: null,
      invites: [],            // [{seat, name, url}] for the other seats, creator only
      mySeat: null,
      resume: null,           // {seat, resume, grace, ticket, lobby, mode}: the seat's credential
      phase: null,            // 'waiting' | 'running' | 'over'
      present: [],
      away: new Map(),        // seat -> tick at which it forfeits unless it comes back
      state: null,            // authoritative state S from the last snapshot plus frames
      players: new Map(),     // seat -> player object (the same objects as state.players)
      shots: new Map(),       // shot id -> [id, owner, x0, y0, vx, vy, t0]
      prevPos: new Map(),     // seat -> {x, y} drawn when the current frame arrived
      frameAt: 0,             // performance.now() of the current frame
      lostFrames: 0,
      koTick: new Map(),      // seat -> tick of the knock-out
      respawnTicks: null,     // learned from the first ko -> respawn pair
      flashUntil: new Map(),  // seat -> performance.now() deadline
      feed: [],               // [{text, at}]
      fatal: false,
      finalState: null,       // why the connection ended for good (an error code, 'lost', ...)
      fromLobby: false,       // the lobby started this match
      mode: null,             // lobby mode: duel | team | ffa
    };
  }
  const game = freshGame();

  function freshNet() {
    return {
      ws: null,
      synced: false,          // a snapshot arrived on this socket; the server rejects input before that
      status: 'idle',
      via: null,              // 'ticket' | 'resume': how the current socket asked to get in
      lastError: null,        // code of the last error message on the current socket
      connectedAt: 0,         // performance.now() when the current socket was opened
      lastMessageAt: 0,
      dropAt: null,           // performance.now() of the unexpected close being recovered from
      reconnectAttempts: 0,
      reconnectTimer: null,
      nextAttemptAt: 0,
      sockets: 0,             // sockets opened for this match
      resumed: 0,             // snapshots that put this tab back on its seat
      resumedUntil: 0,        // the "resumed" notice shows until then
      pingTimer: null,
      pingSentAt: new Map(),
      rttMs: null,
      sendTimes: [],
    };
  }
  const net = { ...freshNet(), pingId: 0 };

  const input = {
    seq: 0,                 // kept across reconnects
    heldKeys: new Set(),
    mouseDown: false,
    mouseClient: null,      // {x, y} in client pixels
    aim: 0,
    lastSent: null,
    lastSentAt: -Infinity,
    pendingSeqs: new Map(), // seq -> performance.now() at send
    lastAck: 0,
    latencyMs: null,
  };

  // --------------------------------------------------------------------- DOM

  const $ = (id) => document.getElementById(id);
  const dom = {
    startScreen: $('start-screen'),
    lobbyScreen: $('lobby-screen'),
    createForm: $('create-form'),
    nameInput: $('name-input'),
    playersSelect: $('players-select'),
    createButton: $('create-button'),
    createError: $('create-error'),
    gameScreen: $('game-screen'),
    hud: $('hud'),
    hudConn: $('hud-conn'),
    hudSeat: $('hud-seat'),
    hudTime: $('hud-time'),
    hudLimit: $('hud-limit'),
    hudPing: $('hud-ping'),
    hudLatency: $('hud-latency'),
    hudLost: $('hud-lost'),
    stage: $('stage'),
    canvas: $('arena'),
    scoreboardBody: $('scoreboard-body'),
    killFeed: $('kill-feed'),
    waitingOverlay: $('waiting-overlay'),
    waitingTitle: $('waiting-title'),
    inviteList: $('invite-list'),
    resultsOverlay: $('results-overlay'),
    resultsReason: $('results-reason'),
    resultsBody: $('results-body'),
    resultsTeams: $('results-teams'),
    resultsRating: $('results-rating'),
    teamScores: $('team-scores'),
    fatalOverlay: $('fatal-overlay'),
    fatalTitle: $('fatal-title'),
    fatalMessage: $('fatal-message'),
    connBanner: $('conn-banner'),
    connBannerTitle: $('conn-banner-title'),
    connBannerDetail: $('conn-banner-detail'),
    reconnectNow: $('reconnect-now'),
    retryButton: $('retry-button'),
    lobbyButtons: [...document.querySelectorAll('.back-to-lobby')],
    toast: $('toast'),
  };
  const ctx = dom.canvas.getContext('2d');

  function el(tag, props = {}, children = []) {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children);
    return node;
  }

  // ------------------------------------------------------------------ helpers

  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
  const lerp = (a, b, t) => a + (b - a) * t;
  const seatColour = (seat) => SEAT_COLOURS[seat % SEAT_COLOURS.length];
  const teamOf = (seat) => {
    const p = game.players.get(seat);
    return p && (p.tm === 0 || p.tm === 1) ? p.tm : null;
  };
  const playerColour = (seat) => {
    const team = teamOf(seat);
    return team === null ? seatColour(seat) : TEAM_COLOURS[team];
  };
  const world = () => game.state || DEFAULT_WORLD;
  const tickRate = () => (game.state && game.state.hz) || config.tickHz;
  const isGameScreen = () => !dom.gameScreen.hidden;

  function playerName(seat) {
    const p = game.players.get(seat);
    return p ? p.n : `Player ${seat + 1}`;
  }

  // Whole seconds until an away seat forfeits, by the match clock.
  function secondsToForfeit(seat) {
    const at = game.away.get(seat);
    if (at === undefined || !game.state) return null;
    return Math.max(0, Math.ceil((at - game.state.tick) / tickRate()));
  }

  // Another player's connection, as shown on their avatar and in the scoreboard.
  // {kind: 'forfeited' | 'away', text, short} or null while they are playing.
  function seatStatus(seat) {
    const p = game.players.get(seat);
    if (p && p.ff) return { kind: 'forfeited', text: 'forfeited', short: 'forfeited' };
    if (seat === game.mySeat || !game.away.has(seat)) return null;
    const left = secondsToForfeit(seat);
    return {
      kind: 'away',
      text: `disconnected \u2014 back within ${left}s or forfeits`,
      short: `away \u00b7 ${left}s`,
    };
  }

  function readCookie(name) {
    for (const part of document.cookie.split(';')) {
      const [key, ...rest] = part.trim().split('=');
      if (key === name) return decodeURIComponent(rest.join('='));
    }
    return '';
  }

  function formatClock(seconds) {
    const s = Math.max(0, Math.ceil(seconds));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  }

  let toastTimer = null;
  // kind: 'error' (default) or 'info'.
  function showToast(text, kind = 'error') {
    dom.toast.textContent = text;
    dom.toast.className = kind === 'info' ? 'info' : '';
    dom.toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { dom.toast.hidden = true; }, TOAST_MS);
  }

  // One screen at a time: start (sign-in and practice), lobby, game.
  function showScreen(screen) {
    for (const section of document.querySelectorAll('.screen')) section.hidden = section !== screen;
  }

  // ------------------------------------------------------------- start screen

  function initStartScreen() {
    for (let n = 2; n <= config.maxPlayers; n++) {
      dom.playersSelect.append(el('option', { value: String(n), textContent: String(n) }));
    }
    dom.nameInput.value = localStorage.getItem(STORAGE_NAME) || '';
    dom.createForm.addEventListener('submit', onCreateSubmit);
  }

  // Without the lobby script (or before it decides) the start screen is the practice form.
  function showStartScreen() {
    showScreen(dom.startScreen);
    dom.nameInput.focus();
  }

  function showCreateError(text) {
    dom.createError.textContent = text;
    dom.createError.hidden = !text;
  }

  async function onCreateSubmit(event) {
    event.preventDefault();
    const name = dom.nameInput.value.trim();
    const nameLength = Array.from(name).length; // code points, as the server counts them
    if (nameLength < 1 || nameLength > NAME_MAX_CHARS) {
      showCreateError(`Enter a name of 1 to ${NAME_MAX_CHARS} characters.`);
      return;
    }
    showCreateError('');
    localStorage.setItem(STORAGE_NAME, name);
    dom.createButton.disabled = true;
    try {
      const match = await postMatch(Number(dom.playersSelect.value), name);
      onMatchCreated(match);
    } catch (err) {
      showCreateError(err.message);
    } finally {
      dom.createButton.disabled = false;
    }
  }

  async function postMatch(players, name) {
    let response;
    try {
      response = await fetch(API_MATCHES, {
        method: 'POST',
        credentials: 'same-origin',
        headers: {
          'Content-Type': 'application/json',
          'X-CSRFToken': readCookie('csrftoken'),
        },
        body: JSON.stringify({ players, names: [name] }),
      });
    } catch {
      throw new Error('Could not reach the server.');
    }
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const detail = body && (body.detail || body.error);
      throw new Error(detail || `Could not create the match (HTTP ${response.status}).`);
    }
    if (!body || !Array.isArray(body.tickets)) throw new Error('Unexpected reply from the server.');
    return body;
  }

  function onMatchCreated(match) {
    const own = match.tickets.find((t) => t.seat === 0);
    if (!own) {
      showCreateError('The server did not return a ticket for seat 1.');
      return;
    }
    const invites = match.tickets
      .filter((t) => t.seat !== 0)
      .map((t) => ({ seat: t.seat, name: t.name, url: new URL(t.url, location.origin).href }));
    sessionStorage.setItem(storageInvitesKey(match.id), JSON.stringify(invites));
    history.replaceState(null, '', own.url);
    startGame(match.id, own.ticket, invites);
  }

  // ----------------------------------------------------------- invite links

  function renderInvites() {
    dom.inviteList.replaceChildren(...game.invites.map(inviteItem));
    updateInviteStatus();
  }

  function inviteItem(invite) {
    const field = el('input', { type: 'text', readOnly: true, value: invite.url, className: 'invite-url' });
    const copy = el('button', { type: 'button', textContent: 'Copy' });
    copy.addEventListener('click', () => copyText(invite.url, field, copy));
    const status = el('span', { className: 'invite-status' });
    const item = el('li', {}, [
      el('span', { className: 'swatch' }),
      el('span', { className: 'invite-name', textContent: invite.name }),
      status, field, copy,
    ]);
    item.dataset.seat = String(invite.seat);
    item.querySelector('.swatch').style.background = playerColour(invite.seat);
    return item;
  }

  async function copyText(text, field, button) {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // The Clipboard API needs a secure context; plain-http LAN hosts fall back to execCommand.
      field.select();
      document.execCommand('copy');
    }
    button.textContent = 'Copied';
    setTimeout(() => { button.textContent = 'Copy'; }, 1500);
  }

  function updateInviteStatus() {
    for (const item of dom.inviteList.children) {
      const joined = game.present.includes(Number(item.dataset.seat));
      item.classList.toggle('joined', joined);
      item.querySelector('.invite-status').textContent = joined ? 'joined' : 'not joined';
    }
  }

  // ------------------------------------------------------------- game screen

  // options.lobby: the match came from the lobby (the results offer "Back to lobby").
  function startGame(matchId, ticket, invites, options = {}) {
    leaveGame({ keepUrl: true });
    game.matchId = matchId;
    game.ticket = ticket;
    game.invites = invites;
    game.fromLobby = Boolean(options.lobby);
    game.mode = options.mode || null;
    // This tab held a seat in the match (a reload): come back onto it with its credential. A
    // different ticket in the address is another seat's link, opened on purpose: that one.
    const stored = loadResume(matchId);
    if (stored && (!ticket || !stored.ticket || stored.ticket === ticket)) {
      game.resume = stored;
      game.mySeat = stored.seat;
      if (!('lobby' in options)) {
        game.fromLobby = Boolean(stored.lobby);
        game.mode = game.mode || stored.mode || null;
      }
    }
    showScreen(dom.gameScreen);
    renderInvites();
    updateLobbyButtons();
    updateOverlays();
    layoutCanvas();
    if (ticket || game.resume) connect();
    else showFinal('ticket_invalid');
  }

  // Close this tab's match socket (if any) and forget the match, so another one can start.
  function leaveGame({ keepUrl = false } = {}) {
    const ws = net.ws;
    net.ws = null;
    clearTimeout(net.reconnectTimer);
    clearInterval(net.pingTimer);
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000);
    Object.assign(game, freshGame());
    Object.assign(net, freshNet());
    Object.assign(input, {
      seq: 0, mouseDown: false, lastSent: null, lastSentAt: -Infinity,
      pendingSeqs: new Map(), lastAck: 0, latencyMs: null,
    });
    input.heldKeys.clear();
    setStatus('idle');
    for (const node of [dom.hudSeat, dom.hudTime, dom.hudLimit, dom.hudPing, dom.hudLatency]) node.textContent = '-';
    dom.hudLost.hidden = true;
    dom.scoreboardBody.replaceChildren();
    dom.teamScores.hidden = true;
    dom.resultsBody.replaceChildren();
    dom.resultsTeams.hidden = true;
    dom.resultsRating.hidden = true;
    dom.resultsRating.replaceChildren();
    renderFeed();
    updateOverlays();
    renderConnBanner();
    if (!keepUrl && location.search) history.replaceState(null, '', '/');
  }

  // "Back to lobby" for a signed-in player; while waiting, only in practice matches (leaving a
  // lobby match before it starts would leave its other players one short).
  function updateLobbyButtons() {
    const signedIn = Boolean(lobby && lobby.signedIn());
    for (const button of dom.lobbyButtons) {
      button.hidden = !signedIn || ('practiceOnly' in button.dataset && game.fromLobby);
    }
  }

  function backToLobby() {
    if (lobby) lobby.backToLobby();
  }

  function loadResume(matchId) {
    try {
      const stored = JSON.parse(sessionStorage.getItem(storageResumeKey(matchId)) || 'null');
      return stored && typeof stored.resume === 'string' && Number.isInteger(stored.seat) ? stored : null;
    } catch {
      return null;
    }
  }

  function saveResume(msg) {
    game.resume = {
      seat: msg.seat,
      resume: msg.resume,
      grace: msg.grace,
      ticket: game.ticket || (game.resume && game.resume.ticket) || '',
      lobby: game.fromLobby,
      mode: game.mode,
    };
    try {
      sessionStorage.setItem(storageResumeKey(game.matchId), JSON.stringify(game.resume));
    } catch (err) {
      console.info('Could not keep the seat for a reload', err);
    }
  }

  // The match is over (or gone): its credential opens nothing any more.
  function forgetResume() {
    game.resume = null;
    if (game.matchId) sessionStorage.removeItem(storageResumeKey(game.matchId));
  }

  function loadStoredInvites(matchId) {
    try {
      const invites = JSON.parse(sessionStorage.getItem(storageInvitesKey(matchId)) || '[]');
      return Array.isArray(invites) ? invites : [];
    } catch {
      return [];
    }
  }

  function updateOverlays() {
    const over = game.phase === 'over';
    dom.resultsOverlay.hidden = !over;
    dom.fatalOverlay.hidden = !game.fatal || over;
    dom.waitingOverlay.hidden = over || game.fatal || game.phase === 'running';
    const total = game.players.size || game.invites.length + 1;
    dom.waitingTitle.textContent = game.phase === 'waiting'
      ? `Waiting for players (${game.present.length}/${total})`
      : 'Connecting\u2026';
  }

  // The connection ended for good. `state`: {title, text, retry (a button label), forget}.
  function showFatal(state, code = 'closed') {
    clearTimeout(net.reconnectTimer);
    net.reconnectTimer = null;
    net.dropAt = null;
    game.fatal = true;
    game.finalState = code;
    if (state.forget) forgetResume();
    dom.fatalTitle.textContent = state.title || 'Disconnected';
    dom.fatalMessage.textContent = state.text;
    dom.retryButton.textContent = state.retry || 'Try again';
    dom.retryButton.hidden = !state.retry;
    releaseControls();
    updateOverlays();
    renderConnBanner();
  }

  function showFinal(code) {
    showFatal(FINAL_STATES[code], code);
  }

  function joinNames(names) {
    return names.length <= 1 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
  }

  function showResults(result) {
    const ranking = (result && result.ranking) || [];
    const reason = result && result.reason;
    // Forfeited seats (away longer than the grace period) are ranked last and named.
    const forfeited = ranking.filter((r) => r.ff).map((r, i) => (r.s !== game.mySeat ? r.n : i ? 'you' : 'You'));
    const forfeitText = forfeited.length ? `${joinNames(forfeited)} forfeited.` : '';
    dom.resultsReason.textContent = reason === 'forfeit' && forfeitText
      ? forfeitText
      : [END_REASONS[reason] || '', forfeitText].filter(Boolean).join(' ');
    const teams = (result && Array.isArray(result.teams)) ? result.teams : null;
    dom.resultsTeams.hidden = !teams;
    if (teams) {
      const teamName = (tm) => TEAM_NAMES[tm] || `Team ${tm}`;
      const winners = teams.filter((t) => t.rank === 1);
      const score = teams.map((t) => `${teamName(t.tm)} ${t.sc}${t.ff ? ' (forfeited)' : ''}`).join(' : ');
      dom.resultsTeams.textContent = winners.length === 1
        ? `${TEAM_NAMES[winners[0].tm] || 'A'} team wins (${score})`
        : `Draw (${score})`;
    }
    dom.resultsBody.replaceChildren(...ranking.map((r) => {
      const name = el('td', { textContent: r.n + (r.s === game.mySeat ? ' (you)' : '') });
      if (r.tm === 0 || r.tm === 1) {
        const swatch = el('span', { className: 'swatch' });
        swatch.style.background = TEAM_COLOURS[r.tm];
        name.prepend(swatch, ' ');
      }
      if (r.ff) name.append(' ', el('span', { className: 'seat-status forfeited', textContent: 'forfeited' }));
      const row = el('tr', {}, [
        el('td', { textContent: String(r.rank) }),
        name,
        el('td', { textContent: String(r.sc) }),
        el('td', { textContent: String(r.k) }),
        el('td', { textContent: String(r.d) }),
      ]);
      row.classList.toggle('me', r.s === game.mySeat);
      row.classList.toggle('forfeited', Boolean(r.ff));
      return row;
    }));
  }

  function addFeed(text) {
    game.feed.push({ text, at: performance.now() });
    if (game.feed.length > FEED_MAX_ENTRIES) game.feed.shift();
    renderFeed();
  }

  function renderFeed() {
    dom.killFeed.replaceChildren(...game.feed.map((f) => el('li', { textContent: f.text })));
  }

  function pruneFeed(now) {
    const before = game.feed.length;
    game.feed = game.feed.filter((f) => now - f.at < FEED_TTL_MS);
    if (game.feed.length !== before) renderFeed();
  }

  // ---------------------------------------------------------------- network

  function socketUrl() {
    const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    const path = `${scheme}${location.host}/ws/match/${encodeURIComponent(game.matchId)}/`;
    // The credential is the only way back onto a claimed seat; the ticket claims it the first time.
    return game.resume
      ? `${path}?resume=${encodeURIComponent(game.resume.resume)}`
      : `${path}?ticket=${encodeURIComponent(game.ticket)}`;
  }

  function setStatus(status) {
    net.status = status;
    dom.hudConn.textContent = status;
  }

  function connect() {
    clearTimeout(net.reconnectTimer);
    net.reconnectTimer = null;
    game.fatal = false;
    game.finalState = null;
    updateOverlays();
    const ws = new WebSocket(socketUrl());
    ws.binaryType = 'arraybuffer';
    net.ws = ws;
    net.synced = false;
    net.via = game.resume ? 'resume' : 'ticket';
    net.lastError = null;
    net.connectedAt = performance.now();
    net.lastMessageAt = net.connectedAt;
    net.sockets += 1;
    setStatus(net.reconnectAttempts ? `reconnecting (attempt ${net.reconnectAttempts})` : 'connecting');
    ws.addEventListener('open', () => onSocketOpen(ws));
    ws.addEventListener('message', (event) => onSocketMessage(ws, event));
    ws.addEventListener('close', (event) => onSocketClose(ws, event));
    renderConnBanner();
  }

  function onSocketOpen(ws) {
    if (ws !== net.ws) return;
    setStatus(net.dropAt === null ? 'connected' : 'reconnected, joining');
    input.lastSent = null; // force a fresh input as soon as we may send
    net.pingTimer = setInterval(sendPing, PING_INTERVAL_MS);
    sendPing();
  }

  function onSocketMessage(ws, event) {
    if (ws !== net.ws) return;
    net.lastMessageAt = performance.now();
    if (!(event.data instanceof ArrayBuffer)) {
      console.warn('Ignoring a non-binary frame from the server');
      return;
    }
    let msg;
    try {
      msg = MessagePack.decode(new Uint8Array(event.data));
    } catch (err) {
      console.warn('Undecodable frame from the server', err);
      return;
    }
    const handler = msg && MESSAGE_HANDLERS[msg.t];
    if (handler) handler(msg);
    else console.warn('Unknown message from the server', msg);
  }

  // Forget the current socket (its late events are ignored from now on).
  function detachSocket() {
    const ws = net.ws;
    net.ws = null;
    net.synced = false;
    clearInterval(net.pingTimer);
    net.pingTimer = null;
    net.pingSentAt.clear();
    return ws;
  }

  function onSocketClose(ws, event) {
    if (ws !== net.ws) return;
    detachSocket();
    const error = net.lastError;
    net.lastError = null;
    if (game.phase === 'over') {
      setStatus('match over');
      renderConnBanner();
      return;
    }
    if (event.code < 4000 || RECONNECT_CLOSE_CODES.has(event.code)) {
      connectionLost(event.code);
      return;
    }
    setStatus('disconnected');
    if (error === 'match_over' || (!(error in FINAL_STATES) && event.code === 4410)) {
      matchOverElsewhere();
      return;
    }
    const state = FINAL_STATES[error] || CLOSE_STATES[event.code]
      || { text: `Closed by the server (code ${event.code}${event.reason ? `: ${event.reason}` : ''}).` };
    // Taking the seat back from another tab needs this tab's credential.
    showFatal(state.retry && !game.resume ? { ...state, retry: null } : state, error || String(event.code));
  }

  // An unexpected close (cut, restart, server-side failure): the seat is kept for `grace`
  // seconds since the drop, so retry until then.
  function connectionLost(code) {
    if (net.dropAt === null) net.dropAt = performance.now();
    if (code === 1012) showToast('The server is restarting: reconnecting.', 'info');
    scheduleReconnect();
  }

  const graceMs = () => 1000 * ((game.resume && game.resume.grace) || DEFAULT_GRACE_SECONDS);

  function scheduleReconnect() {
    const now = performance.now();
    const windowMs = graceMs() + RECONNECT_MARGIN_MS;
    const elapsed = now - net.dropAt;
    if (elapsed >= windowMs) {
      giveUp();
      return;
    }
    net.reconnectAttempts += 1;
    // 0.5 s doubling to 5 s, each wait drawn from its upper half (jitter spreads a crowd out).
    const ceiling = Math.min(RECONNECT_MAX_DELAY_MS, RECONNECT_BASE_MS * 2 ** (net.reconnectAttempts - 1));
    const delay = Math.min(ceiling / 2 + Math.random() * (ceiling / 2), windowMs - elapsed);
    net.nextAttemptAt = now + delay;
    setStatus(`connection lost, retrying (attempt ${net.reconnectAttempts})`);
    net.reconnectTimer = setTimeout(connect, delay);
    renderConnBanner();
  }

  function giveUp() {
    setStatus('disconnected');
    const seconds = Math.round(graceMs() / 1000);
    showFatal({
      title: 'Connection lost',
      text: `Could not reach the server again within the ${seconds} s your seat is kept after a drop, `
        + 'so it may have been forfeited. Try again to rejoin: a forfeited seat can still watch.',
      retry: 'Try again',
    }, 'lost');
  }

  // Now instead of at the next backoff step (the button, the browser coming back online).
  function reconnectNow() {
    if (net.ws || game.fatal || game.phase === 'over' || net.dropAt === null) return;
    connect();
  }

  function retryNow() {
    net.reconnectAttempts = 0;
    net.dropAt = null;
    connect();
  }

  // A socket can die without a close (a path that vanished without a reset): one that hears
  // nothing for STALL_MS, not even the pong of an older ping, or never opens, is given up on.
  function watchConnection() {
    const ws = net.ws;
    if (!ws) return;
    const now = performance.now();
    let stalled = false;
    if (ws.readyState === WebSocket.CONNECTING) {
      stalled = now - net.connectedAt > STALL_MS;
    } else if (ws.readyState === WebSocket.OPEN) {
      const oldestPing = Math.min(...net.pingSentAt.values());
      stalled = now - oldestPing > STALL_MS && now - net.lastMessageAt > STALL_MS;
    }
    if (!stalled) return;
    console.info('The match socket went silent; reconnecting');
    detachSocket();
    ws.close();
    if (game.phase !== 'over') connectionLost(1006);
  }

  // The server ended the match while this tab was away: its result is in the match API.
  async function matchOverElsewhere() {
    forgetResume();
    game.finalState = 'match_over';
    const matchId = game.matchId;
    let detail = null;
    try {
      const response = await fetch(`${API_MATCHES}${encodeURIComponent(matchId)}/`, { credentials: 'same-origin' });
      if (response.ok) detail = await response.json();
    } catch {
      detail = null;
    }
    if (matchId !== game.matchId) return; // the player moved on meanwhile
    if (detail && detail.result && Array.isArray(detail.result.ranking)) {
      applyEnd({ t: 'end', tick: detail.ticks || 0, result: detail.result });
      return;
    }
    showFinal('match_over');
  }

  function rateLimitAllows(now) {
    while (net.sendTimes.length && now - net.sendTimes[0] >= RATE_WINDOW_MS) net.sendTimes.shift();
    return net.sendTimes.length < RATE_MAX_PER_WINDOW;
  }

  function send(message) {
    const ws = net.ws;
    const now = performance.now();
    if (!ws || ws.readyState !== WebSocket.OPEN || !rateLimitAllows(now)) return false;
    ws.send(MessagePack.encode(message));
    net.sendTimes.push(now);
    return true;
  }

  function sendPing() {
    const id = net.pingId + 1;
    if (!send({ t: 'ping', id })) return;
    net.pingId = id;
    net.pingSentAt.set(id, performance.now());
  }

  // -------------------------------------------------------- message handlers

  const MESSAGE_HANDLERS = {
    seat: applySeat,
    snapshot: applySnapshot,
    phase: applyPhase,
    frame: applyFrame,
    end: applyEnd,
    error: applyError,
    pong: applyPong,
  };

  // Admitted: the credential that alone brings this tab back onto the seat.
  function applySeat(msg) {
    if (typeof msg.resume !== 'string' || !Number.isInteger(msg.seat)) return;
    game.mySeat = msg.seat;
    saveResume(msg);
  }

  function applyError(msg) {
    net.lastError = msg.code || null;
    if (CLOSING_ERRORS.has(msg.code)) return; // the close right after it says what happens
    showToast(`${msg.code || 'error'}: ${msg.detail || ''}`);
  }

  function applySnapshot(msg) {
    const state = msg.state;
    state.tick = msg.tick ?? state.tick;
    game.state = state;
    game.mySeat = msg.seat;
    game.phase = msg.phase;
    game.players = new Map(state.players.map((p) => [p.s, p]));
    game.shots = new Map((state.shots || []).map((shot) => [shot[0], shot]));
    game.prevPos.clear();
    game.koTick.clear();
    game.frameAt = performance.now();
    net.synced = true;
    // Back on the seat after a drop, or after a reload (the credential came from storage).
    if (net.via === 'resume') {
      net.resumed += 1;
      net.resumedUntil = performance.now() + RESUMED_NOTICE_MS;
    }
    net.dropAt = null;
    net.reconnectAttempts = 0;
    if (net.status !== 'connected') setStatus('connected');
    // After a page reload our counter restarts; continue above what the server already saw.
    const serverAck = (msg.acks && msg.acks[msg.seat]) || 0;
    input.seq = Math.max(input.seq, serverAck);
    input.lastAck = serverAck;
    input.pendingSeqs.clear();
    dom.hudSeat.textContent = `${msg.seat + 1} (${playerName(msg.seat)})`;
    layoutCanvas();
    updateOverlays();
    renderConnBanner();
  }

  function applyPhase(msg) {
    if (game.phase === 'over') return;
    const wasRunning = game.phase === 'running';
    if (msg.phase === 'running' && !wasRunning) {
      input.lastSent = null;
      addFeed('The match has started!');
    }
    const away = new Map((msg.away || []).map(([seat, forfeitTick]) => [seat, forfeitTick]));
    if (wasRunning) {
      for (const seat of away.keys()) {
        if (!game.away.has(seat) && seat !== game.mySeat) addFeed(`${playerName(seat)} disconnected`);
      }
      for (const seat of game.away.keys()) {
        if (!away.has(seat) && seat !== game.mySeat && (msg.present || []).includes(seat)) {
          addFeed(`${playerName(seat)} is back`);
        }
      }
    }
    game.phase = msg.phase;
    game.present = msg.present || [];
    game.away = away;
    updateInviteStatus();
    updateOverlays();
  }

  function applyFrame(msg) {
    if (!game.state) return;
    const current = game.state.tick;
    if (msg.tick <= current) return;
    if (msg.tick > current + 1) game.lostFrames += msg.tick - current - 1;

    const now = performance.now();
    rememberDrawnPositions(now);
    const delta = msg.d || {};
    for (const change of delta.p || []) mergePlayer(change);
    for (const shot of delta.sa || []) game.shots.set(shot[0], shot);
    for (const id of delta.sr || []) game.shots.delete(id);
    game.state.tick = msg.tick;
    game.frameAt = now;

    applyAcks(msg.acks, now);
    for (const event of msg.ev || []) applyEvent(event);
  }

  function mergePlayer(change) {
    const player = game.players.get(change.s);
    if (player) {
      Object.assign(player, change);
    } else {
      const added = { ...change };
      game.state.players.push(added);
      game.players.set(added.s, added);
    }
  }

  function applyAcks(acks, now) {
    if (!acks || game.mySeat == null) return;
    const ack = acks[game.mySeat];
    if (typeof ack !== 'number' || ack <= input.lastAck) return;
    input.lastAck = ack;
    const sentAt = input.pendingSeqs.get(ack);
    if (sentAt !== undefined) input.latencyMs = now - sentAt;
    for (const [seq, at] of input.pendingSeqs) {
      if (seq > ack && now - at < PENDING_SEQ_TTL_MS) break;
      input.pendingSeqs.delete(seq);
    }
  }

  function applyEnd(msg) {
    game.phase = 'over';
    game.away.clear();
    forgetResume();
    if (game.state && msg.tick > game.state.tick) game.state.tick = msg.tick;
    releaseControls();
    showResults(msg.result);
    setStatus('match over');
    updateLobbyButtons();
    updateOverlays();
    if (lobby) lobby.matchEnded(game.matchId, msg.result);
  }

  // A line under the results (the lobby's rating change for this match).
  function addResultsNote(matchId, text) {
    if (matchId !== game.matchId) return;
    if ([...dom.resultsRating.children].some((note) => note.textContent === text)) return;
    dom.resultsRating.append(el('span', { textContent: text }));
    dom.resultsRating.hidden = false;
  }

  function applyPong(msg) {
    const sentAt = net.pingSentAt.get(msg.id);
    if (sentAt === undefined) return;
    net.rttMs = performance.now() - sentAt;
    for (const id of net.pingSentAt.keys()) {
      if (id <= msg.id) net.pingSentAt.delete(id);
    }
  }

  // --------------------------------------------------------- frame events

  const EVENT_HANDLERS = {
    fire() {},
    hit(victim) {
      game.flashUntil.set(victim, performance.now() + HIT_FLASH_MS);
    },
    ko(victim, killer) {
      game.koTick.set(victim, game.state.tick);
      const text = killer == null || killer === victim
        ? `${playerName(victim)} was knocked out`
        : `${playerName(killer)} knocked out ${playerName(victim)}`;
      addFeed(text);
    },
    respawn(seat) {
      const koTick = game.koTick.get(seat);
      if (koTick !== undefined) game.respawnTicks = game.state.tick - koTick;
      game.koTick.delete(seat);
      game.prevPos.delete(seat);
    },
    forfeit(seat) {
      game.koTick.delete(seat);
      game.away.delete(seat);
      addFeed(seat === game.mySeat
        ? 'You were away too long: your seat is forfeited'
        : `${playerName(seat)} forfeited (did not come back in time)`);
    },
    end() {},
  };

  function applyEvent(event) {
    if (!Array.isArray(event)) return;
    const [kind, ...args] = event;
    const handler = EVENT_HANDLERS[kind];
    if (handler) handler(...args);
  }

  // ------------------------------------------------------------------ input

  function isTypingTarget(target) {
    if (!(target instanceof HTMLElement)) return false;
    return target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName);
  }

  function heldActions() {
    const held = { up: false, down: false, left: false, right: false, fire: false };
    for (const code of input.heldKeys) held[KEY_ACTIONS[code]] = true;
    return held;
  }

  function currentControls(now) {
    const held = heldActions();
    return {
      mx: (held.right ? 1 : 0) - (held.left ? 1 : 0),
      my: (held.down ? 1 : 0) - (held.up ? 1 : 0),
      aim: updateAim(now),
      fire: input.mouseDown || held.fire,
    };
  }

  function clientToWorld(clientX, clientY) {
    const rect = dom.canvas.getBoundingClientRect();
    const w = world();
    return {
      x: ((clientX - rect.left) / rect.width) * w.w,
      y: ((clientY - rect.top) / rect.height) * w.h,
    };
  }

  // Aim is relative to where the player is drawn, because that is what the cursor is compared with.
  function updateAim(now) {
    const me = game.players.get(game.mySeat);
    if (!me || !input.mouseClient) return input.aim;
    const mouse = clientToWorld(input.mouseClient.x, input.mouseClient.y);
    const pos = drawnPosition(me, interpolationAlpha(now));
    const dx = mouse.x - pos.x;
    const dy = mouse.y - pos.y;
    if (dx !== 0 || dy !== 0) {
      input.aim = Math.round((Math.atan2(dy, dx) / (2 * Math.PI)) * AIM_STEPS) & (AIM_STEPS - 1);
    }
    return input.aim;
  }

  function maySendInput() {
    const me = game.players.get(game.mySeat);
    return game.phase === 'running' && !game.fatal && net.synced && !(me && me.ff)
      && net.ws !== null && net.ws.readyState === WebSocket.OPEN;
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
    const controls = currentControls(now);
    if (!inputDue(controls, now - input.lastSentAt)) return;
    const seq = input.seq + 1;
    if (!send({ t: 'input', seq, ...controls })) return;
    input.seq = seq;
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
    if (!isGameScreen() || isTypingTarget(event.target)) return;
    if (!(event.code in KEY_ACTIONS)) return;
    if (down && (event.ctrlKey || event.metaKey || event.altKey)) return;
    // While playing: no page scrolling on arrows/space and no space-clicking a focused button.
    if (game.phase === 'running') event.preventDefault();
    if (down) input.heldKeys.add(event.code);
    else input.heldKeys.delete(event.code);
    pumpInput();
  }

  function bindInputEvents() {
    window.addEventListener('keydown', (e) => onKey(e, true));
    window.addEventListener('keyup', (e) => onKey(e, false));
    window.addEventListener('blur', releaseControls);
    document.addEventListener('visibilitychange', () => { if (document.hidden) releaseControls(); });
    window.addEventListener('mousemove', (e) => {
      input.mouseClient = { x: e.clientX, y: e.clientY };
      pumpInput();
    });
    dom.canvas.addEventListener('mousedown', (e) => {
      if (e.button !== 0) return;
      e.preventDefault();
      if (document.activeElement instanceof HTMLElement) document.activeElement.blur();
      input.mouseClient = { x: e.clientX, y: e.clientY };
      input.mouseDown = true;
      pumpInput();
    });
    window.addEventListener('mouseup', (e) => {
      if (e.button !== 0 || !input.mouseDown) return;
      input.mouseDown = false;
      pumpInput();
    });
    dom.canvas.addEventListener('contextmenu', (e) => e.preventDefault());
    setInterval(pumpInput, INPUT_PUMP_MS);
  }

  // -------------------------------------------------------------- rendering

  function layoutCanvas() {
    const w = world();
    const ratio = w.w / w.h;
    const availableWidth = document.documentElement.clientWidth;
    // Fill the width, but never taller than the viewport below the HUD so the whole arena is visible.
    const availableHeight = window.innerHeight - dom.hud.offsetHeight;
    const cssWidth = Math.max(160, Math.floor(Math.min(availableWidth, availableHeight * ratio)));
    const cssHeight = Math.round(cssWidth / ratio);
    const dpr = window.devicePixelRatio || 1;
    dom.stage.style.width = `${cssWidth}px`;
    dom.canvas.style.width = `${cssWidth}px`;
    dom.canvas.style.height = `${cssHeight}px`;
    dom.canvas.width = Math.round(cssWidth * dpr);
    dom.canvas.height = Math.round(cssHeight * dpr);
  }

  function interpolationAlpha(now) {
    return clamp((now - game.frameAt) / (1000 / tickRate()), 0, 1);
  }

  function drawnPosition(player, alpha) {
    const prev = game.prevPos.get(player.s);
    if (!prev || Math.hypot(player.x - prev.x, player.y - prev.y) > SNAP_DISTANCE) {
      return { x: player.x, y: player.y };
    }
    return { x: lerp(prev.x, player.x, alpha), y: lerp(prev.y, player.y, alpha) };
  }

  // Starting the next interpolation from what is on screen avoids a jump when a frame arrives early.
  function rememberDrawnPositions(now) {
    const alpha = interpolationAlpha(now);
    for (const player of game.players.values()) {
      game.prevPos.set(player.s, drawnPosition(player, alpha));
    }
  }

  function render(now) {
    requestAnimationFrame(render);
    if (!isGameScreen()) return;
    const w = world();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, dom.canvas.width, dom.canvas.height);
    ctx.setTransform(dom.canvas.width / w.w, 0, 0, dom.canvas.height / w.h, 0, 0);
    drawFloor(w);
    if (game.state) {
      const alpha = interpolationAlpha(now);
      // Players are drawn between the previous and the current tick, so shots use the same clock.
      const renderTick = game.state.tick - 1 + alpha;
      drawObstacles(game.state.obs || []);
      drawShots(renderTick);
      drawPlayers(alpha, renderTick, now);
    }
    maybeUpdateHud(now);
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

  function drawShots(renderTick) {
    for (const [, owner, x0, y0, vx, vy, t0] of game.shots.values()) {
      const dt = Math.max(0, renderTick - t0);
      ctx.fillStyle = playerColour(owner);
      ctx.beginPath();
      ctx.arc(x0 + vx * dt, y0 + vy * dt, SHOT_RADIUS, 0, 2 * Math.PI);
      ctx.fill();
    }
  }

  function drawPlayers(alpha, renderTick, now) {
    // Draw knocked-out players first so the living are on top; yours last of all.
    const players = [...game.players.values()].sort((a, b) =>
      (a.al === b.al ? 0 : a.al ? 1 : -1) || (a.s === game.mySeat) - (b.s === game.mySeat));
    for (const player of players) {
      const pos = drawnPosition(player, alpha);
      const status = seatStatus(player.s);
      ctx.globalAlpha = player.ff ? 0.25 : !player.al ? 0.3 : status ? 0.5 : 1;
      drawBody(player, pos, now);
      if (player.al) drawAimLine(player, pos);
      drawLabel(player, pos, status);
      ctx.globalAlpha = 1;
      if (!player.al && !player.ff) drawRespawnCountdown(player, pos, renderTick);
    }
  }

  function drawBody(player, pos, now) {
    ctx.fillStyle = player.ff ? '#7a7f85' : playerColour(player.s);
    ctx.beginPath();
    ctx.arc(pos.x, pos.y, PLAYER_RADIUS, 0, 2 * Math.PI);
    ctx.fill();
    if (player.s === game.mySeat) {
      ctx.strokeStyle = '#ffffff';
      ctx.lineWidth = 3;
      ctx.stroke();
    }
    if ((game.flashUntil.get(player.s) || 0) > now) {
      ctx.fillStyle = 'rgba(255, 255, 255, 0.7)';
      ctx.fill();
    }
  }

  function drawAimLine(player, pos) {
    const aim = player.s === game.mySeat ? input.aim : player.a;
    const angle = ((aim || 0) / AIM_STEPS) * 2 * Math.PI;
    ctx.strokeStyle = 'rgba(255, 255, 255, 0.8)';
    ctx.lineWidth = 3;
    ctx.beginPath();
    ctx.moveTo(pos.x + Math.cos(angle) * PLAYER_RADIUS * 0.5, pos.y + Math.sin(angle) * PLAYER_RADIUS * 0.5);
    ctx.lineTo(pos.x + Math.cos(angle) * PLAYER_RADIUS * 2, pos.y + Math.sin(angle) * PLAYER_RADIUS * 2);
    ctx.stroke();
  }

  function drawLabel(player, pos, status) {
    const name = player.n || `Player ${player.s + 1}`;
    const barWidth = PLAYER_RADIUS * 2.4;
    ctx.font = '600 15px system-ui, sans-serif';
    // Keep the label inside the arena: shift it sideways at the walls, below the player at the top.
    const half = Math.max(barWidth, ctx.measureText(name).width) / 2 + 2;
    const x = clamp(pos.x, half, world().w - half);
    const below = pos.y - PLAYER_RADIUS - 32 < 0;
    const barY = below ? pos.y + PLAYER_RADIUS + 6 : pos.y - PLAYER_RADIUS - 12;
    const hp = clamp(player.hp || 0, 0, MAX_HP);
    ctx.fillStyle = 'rgba(0, 0, 0, 0.6)';
    ctx.fillRect(x - barWidth / 2, barY, barWidth, 6);
    ctx.fillStyle = hp > 50 ? '#4caf50' : hp > 25 ? '#ffc107' : '#f44336';
    ctx.fillRect(x - barWidth / 2, barY, (barWidth * hp) / MAX_HP, 6);
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
      ctx.fillText(status.short, clamp(pos.x, half, world().w - half), pos.y + PLAYER_RADIUS + (below ? 26 : 6));
      ctx.globalAlpha = saved;
    }
  }

  function drawRespawnCountdown(player, pos, renderTick) {
    const koTick = game.koTick.get(player.s);
    if (koTick === undefined || game.respawnTicks == null) return;
    const seconds = (koTick + game.respawnTicks - renderTick) / tickRate();
    if (seconds <= 0) return;
    ctx.font = '700 16px system-ui, sans-serif';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.fillStyle = '#ffffff';
    ctx.fillText(seconds.toFixed(1), pos.x, pos.y);
  }

  // -------------------------------------------------------------------- HUD

  let lastHudAt = 0;
  function maybeUpdateHud(now) {
    if (now - lastHudAt < HUD_REFRESH_MS) return;
    lastHudAt = now;
    pruneFeed(now);
    dom.hudPing.textContent = net.rttMs == null ? '-' : `${Math.round(net.rttMs)} ms`;
    dom.hudLatency.textContent = input.latencyMs == null ? '-' : `${Math.round(input.latencyMs)} ms`;
    dom.hudLost.hidden = game.lostFrames === 0;
    dom.hudLost.textContent = `\u26a0 ${game.lostFrames} skipped tick${game.lostFrames === 1 ? '' : 's'}`;
    if (!game.state) return;
    const s = game.state;
    dom.hudTime.textContent = s.end_tick == null ? '-' : formatClock((s.end_tick - s.tick) / tickRate());
    dom.hudLimit.textContent = s.score_limit == null ? '-' : String(s.score_limit);
    renderScoreboard();
  }

  function renderScoreboard() {
    // Forfeited seats last: they are out for good (and ranked last).
    const players = [...game.players.values()].sort((a, b) => Boolean(a.ff) - Boolean(b.ff)
      || (b.sc || 0) - (a.sc || 0) || (b.k || 0) - (a.k || 0) || (a.d || 0) - (b.d || 0) || a.s - b.s);
    dom.scoreboardBody.replaceChildren(...players.map((p) => {
      const swatch = el('span', { className: 'swatch' });
      swatch.style.background = p.ff ? '#7a7f85' : playerColour(p.s);
      const status = seatStatus(p.s);
      const name = el('td', { className: 'name' }, [el('span', { className: 'player-name', textContent: p.n })]);
      if (status) name.append(el('span', { className: `seat-status ${status.kind}`, textContent: status.text }));
      const row = el('tr', {}, [
        el('td', {}, [swatch]),
        name,
        el('td', { textContent: String(p.sc || 0) }),
        el('td', { textContent: `${p.k || 0}/${p.d || 0}` }),
      ]);
      row.dataset.seat = String(p.s);
      row.classList.toggle('me', p.s === game.mySeat);
      row.classList.toggle('down', !p.al && !p.ff);
      row.classList.toggle('away', Boolean(status && status.kind === 'away'));
      row.classList.toggle('forfeited', Boolean(p.ff));
      return row;
    }));
    renderTeamScores(players);
  }

  // The banner over the arena: reconnecting (attempts, time left to come back), a short
  // "resumed" notice, or that this seat forfeited and the tab only watches.
  function renderConnBanner() {
    const now = performance.now();
    const me = game.players.get(game.mySeat);
    let kind = null;
    let title = '';
    let detail = '';
    if (net.dropAt !== null && !game.fatal && game.phase !== 'over') {
      kind = 'reconnecting';
      title = game.state ? 'Connection lost \u2014 reconnecting\u2026' : 'Cannot reach the server \u2014 retrying\u2026';
      const left = Math.ceil((graceMs() - (now - net.dropAt)) / 1000);
      const attempt = net.reconnectAttempts ? `Attempt ${net.reconnectAttempts}` : 'Trying';
      const next = net.ws ? 'connecting now' : `next try in ${Math.max(0, Math.ceil((net.nextAttemptAt - now) / 1000))} s`;
      let keep = '';
      if (game.phase === 'running') {
        keep = left > 0
          ? ` \u00b7 ${left} s left to get back before your seat is forfeited`
          : ' \u00b7 your seat may be forfeited by now';
      }
      detail = `${attempt}, ${next}${keep}`;
    } else if (now < net.resumedUntil && !game.fatal && game.phase !== 'over') {
      kind = 'resumed';
      title = 'Reconnected';
      detail = `You are back on your seat (${game.mySeat + 1}, ${playerName(game.mySeat)}).`;
    } else if (me && me.ff && game.phase === 'running' && !game.fatal) {
      kind = 'watching';
      title = 'Seat forfeited';
      detail = 'You were away too long; you are watching the rest of the match.';
    }
    dom.connBanner.hidden = kind === null;
    dom.stage.classList.toggle('reconnecting', kind === 'reconnecting');
    if (kind === null) return;
    dom.connBanner.className = `conn-banner ${kind}`;
    dom.connBanner.dataset.kind = kind;
    dom.connBannerTitle.textContent = title;
    dom.connBannerDetail.textContent = detail;
    dom.reconnectNow.hidden = kind !== 'reconnecting' || net.ws !== null;
  }

  function renderTeamScores(players) {
    const totals = [0, 0];
    let teamMatch = false;
    for (const p of players) {
      if (p.tm === 0 || p.tm === 1) {
        teamMatch = true;
        totals[p.tm] += p.sc || 0;
      }
    }
    dom.teamScores.hidden = !teamMatch;
    if (!teamMatch) return;
    dom.teamScores.replaceChildren(...[0, 1].flatMap((tm) => {
      const part = el('span', { className: 'team-score', textContent: `${TEAM_NAMES[tm]} ${totals[tm]}` });
      part.style.color = TEAM_COLOURS[tm];
      return tm === 0 ? [part, ' : '] : [part];
    }));
  }

  // ------------------------------------------------------------------- boot

  // Read-only view of what this tab knows, for the browser tests (tests/test_browser*.py) and for
  // poking at in the devtools console. Returns copies: it cannot change the game. `conn` is the
  // connection: live (synced), via ('ticket' | 'resume'), attempts, resumed (snapshots that put
  // this tab back on its seat), final (why it ended for good: an error code, 'lost', ...).
  window.arenaDebug = () => ({
    match: game.matchId,
    mode: game.mode,
    lobbyMatch: game.fromLobby,
    tick: game.state ? game.state.tick : null,
    seat: game.mySeat,
    phase: game.phase,
    players: [...game.players.values()].map((p) => ({ ...p })),
    shots: game.shots.size,
    seq: input.seq,
    ack: input.lastAck,
    present: [...game.present],
    away: [...game.away].map(([seat, forfeitTick]) => ({ seat, forfeitTick, seconds: secondsToForfeit(seat) })),
    conn: {
      status: net.status,
      live: Boolean(net.synced && net.ws && net.ws.readyState === WebSocket.OPEN),
      via: net.via,
      sockets: net.sockets,
      reconnecting: net.dropAt !== null && !game.fatal,
      attempts: net.reconnectAttempts,
      resumed: net.resumed,
      credential: Boolean(game.resume),
      grace: game.resume ? game.resume.grace : null,
      fatal: game.fatal,
      final: game.finalState,
    },
  });

  // What the lobby may do with the game (and nothing else).
  const lobbyInterface = {
    startGame: (matchId, ticket, options) => {
      // The seat's link in the address bar: a reload rejoins the match.
      history.replaceState(null, '', `/?match=${encodeURIComponent(matchId)}&ticket=${encodeURIComponent(ticket)}`);
      startGame(matchId, ticket, [], { ...options, lobby: true });
    },
    leaveGame: () => leaveGame(),
    currentMatch: () => (isGameScreen() ? { id: game.matchId, phase: game.phase, lobby: game.fromLobby } : null),
    addResultsNote,
    showScreen,
    showToast,
    readCookie,
    practiceForm: dom.createForm,
    teams: { names: TEAM_NAMES, colours: TEAM_COLOURS },
    practiceName: (name) => { if (!dom.nameInput.value) dom.nameInput.value = name; },
  };
  let lobby = null;

  function boot() {
    if (typeof MessagePack === 'undefined') {
      document.body.prepend(el('p', { className: 'panel error', textContent: 'msgpack library failed to load.' }));
      return;
    }
    bindInputEvents();
    dom.retryButton.addEventListener('click', retryNow);
    dom.reconnectNow.addEventListener('click', reconnectNow);
    window.addEventListener('online', reconnectNow);
    setInterval(watchConnection, WATCHDOG_MS);
    setInterval(renderConnBanner, BANNER_REFRESH_MS);
    for (const button of dom.lobbyButtons) button.addEventListener('click', backToLobby);
    window.addEventListener('resize', layoutCanvas);
    requestAnimationFrame(render);
    initStartScreen();

    if (window.ArenaLobby) {
      try {
        lobby = window.ArenaLobby.attach(lobbyInterface);
      } catch (err) {
        console.warn('The lobby could not start', err);
        lobby = null;
      }
    }
    const params = new URLSearchParams(location.search);
    const matchId = params.get('match');
    if (matchId) startGame(matchId, params.get('ticket') || '', loadStoredInvites(matchId));
    // The lobby decides between sign-in and lobby (and connects in the background during a game).
    if (lobby) lobby.start({ inGame: Boolean(matchId) });
    else if (!matchId) showStartScreen();
    updateLobbyButtons();
  }

  boot();
})();
