// The page shell for matches, the same for every game: it creates practice matches, joins a
// match (its ticket, or the seat's resume credential), keeps the connection (a GameNet.Link from
// net.js: pings, reconnect with backoff) and hands the match's messages to the game's renderer,
// window.GameClients[game] (web/static/web/games/<game>.js), which draws the canvas and reads the
// player's controls. Around the canvas everything is the shell's: HUD, scoreboard, event feed,
// controls, the connection banner, the waiting / results / end-state overlays, the debug overlay.
// The contract between the two is in docs/architecture.md ("The browser client").
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

  const { MATCH, PHASE, ERROR, CLOSE } = window.GameNet;

  // ---------------------------------------------------------------- constants

  const API_MATCHES = '/api/matches/';
  const NAME_MAX_CHARS = 16;
  const DEFAULT_GAME = 'arena';
  const DEFAULT_ASPECT = 16 / 9;

  // The server allows 40 messages/s on a match socket; the renderers pace their inputs (<= 25/s)
  // and this sliding-window cap on everything sent (pings included) is the safety net.
  const RATE = { windowMs: 1000, max: 28 };
  const PENDING_SEQ_TTL_MS = 10000;

  const PING_INTERVAL_MS = 1000;
  // After an unexpected close the client retries with exponential backoff and jitter for as long
  // as the server keeps the seat (the `grace` of the seat message) plus a margin, then gives up.
  const BACKOFF = { baseMs: 500, maxMs: 5000 };
  const RECONNECT_MARGIN_MS = 5000;
  const DEFAULT_GRACE_SECONDS = 30; // until the server says (a first connection that never got in)
  // A socket that hears nothing, not even the pong to a ping sent this long ago, is dead (a path
  // that died without a reset): dropped and reconnected. Also the limit for a hanging handshake.
  const STALL_MS = 10000;
  // Admitted sockets in a row that found no tick worker for the match (`unavailable`, each after
  // the server asked for ~10 s): nothing runs the match any more (the server restarted, losing it).
  const UNAVAILABLE_LIMIT = 2;
  const BANNER_REFRESH_MS = 250;
  const RESUMED_NOTICE_MS = 3000;

  const HUD_REFRESH_MS = 100;
  const TOAST_MS = 3500;
  const FEED_TTL_MS = 6000;
  const FEED_MAX_ENTRIES = 6;
  const FEED_REPEAT_MS = 1000; // the same line again this soon is one event told twice
  const DEBUG_KEYS = new Set(['F3', 'Backquote']);

  const SEAT_COLOURS = [
    '#e6194b', '#3cb44b', '#4363d8', '#f58231',
    '#911eb4', '#42d4f4', '#f032e6', '#bfef45',
  ];
  // Team matches colour players by team ("tm" 0/1 in the player maps) instead of by seat.
  const TEAM_COLOURS = ['#3d8bff', '#ff8c1a'];
  const TEAM_NAMES = ['Blue', 'Orange'];
  const FORFEITED_COLOUR = '#7a7f85';

  // Closes after which the client reconnects by itself (with the seat's resume credential):
  // 1012 the server restarts, 1011 a server-side failure on this socket, 4503 no tick worker
  // answered; and every other code below 4000 (1006: the connection was cut).
  const RECONNECT_CLOSE_CODES = new Set([CLOSE.INTERNAL, CLOSE.RESTARTING, CLOSE.UNAVAILABLE]);

  // How a match ends for this tab when it cannot go on. The server sends an error just before a
  // 4xxx close (Daphne drops close reasons), so the error code says which one it is; the close
  // code is the fallback. `retry`: the label of a button that tries again (only where trying
  // again can work); `forget`: the resume credential opens nothing any more.
  const FINAL_STATES = {
    [ERROR.SEAT_TAKEN]: {
      title: 'Seat taken',
      text: 'This seat is already taken: it is open in another tab or on another device. '
        + 'Only the browser tab that holds it can come back to it.',
    },
    [ERROR.REPLACED]: {
      title: 'Playing in another tab',
      text: 'This seat was opened in another tab or window, which plays it now.',
      retry: 'Play here instead',
    },
    [ERROR.RESUME_INVALID]: {
      title: 'Cannot rejoin',
      text: 'The key that brings this tab back to its seat is no longer valid '
        + '(the server was reset, or the match was replaced), so this seat cannot be resumed.',
      forget: true,
    },
    [ERROR.TICKET_INVALID]: { title: 'Cannot join', text: 'Your invite ticket is missing or invalid.' },
    [ERROR.TICKET_EXPIRED]: { title: 'Cannot join', text: 'Your invite ticket has expired.' },
    [ERROR.WRONG_MATCH]: { title: 'Cannot join', text: 'This ticket belongs to a different match.' },
    [ERROR.WRONG_PLAYER]: { title: 'Cannot join', text: 'This seat belongs to another player.' },
    [ERROR.NO_SUCH_MATCH]: {
      title: 'Match not found',
      text: 'This match does not exist (any more).',
      forget: true,
    },
    [ERROR.MATCH_OVER]: { title: 'Match over', text: 'This match is already over.', forget: true },
    match_gone: {
      title: 'Match gone',
      text: 'The server no longer runs this match: it restarted and the match was lost with it. '
        + 'It cannot be resumed.',
      forget: true,
    },
    lost: {
      title: 'Connection lost',
      retry: 'Try again',
    },
  };
  const CLOSE_STATES = {
    [CLOSE.PROTOCOL]: { text: 'The server rejected a message from this client (protocol violation).' },
    [CLOSE.UNAUTHORIZED]: FINAL_STATES[ERROR.TICKET_INVALID],
    [CLOSE.FORBIDDEN]: FINAL_STATES[ERROR.WRONG_MATCH],
    [CLOSE.NOT_FOUND]: FINAL_STATES[ERROR.NO_SUCH_MATCH],
    [CLOSE.REPLACED]: FINAL_STATES[ERROR.REPLACED],
    [CLOSE.GONE]: FINAL_STATES[ERROR.MATCH_OVER],
    [CLOSE.FLOOD]: { text: 'Disconnected for sending too many messages.' },
  };
  // Errors that come just before a close: the final state (or the reconnect) says it, not a toast.
  const CLOSING_ERRORS = new Set([
    ...Object.keys(FINAL_STATES), ERROR.UNAVAILABLE, ERROR.SHUTTING_DOWN,
  ]);

  const END_REASONS = {
    score: 'The score limit was reached.',
    time: 'Time is up.',
    forfeit: 'The other side forfeited.',
    aborted: 'The match was aborted (the server stopped it): it has no result.',
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
    games: readJson('games-data') || [], // [{game, min, max}], the default first
  };

  function readJson(id) {
    try {
      const node = document.getElementById(id);
      return node ? JSON.parse(node.textContent) : null;
    } catch {
      return null;
    }
  }

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
      tick: null,             // the newest tick this tab has (snapshot, then frames)
      hz: null,
      endTick: null,          // from the snapshot's state, for games that have them
      scoreLimit: null,
      aspect: null,           // width / height of the game's world
      name: null,             // the game, from the snapshot
      renderer: null,
      players: [],            // the renderer's player list, refreshed with the HUD
      names: new Map(),       // seat -> name
      lostFrames: 0,
      feed: [],               // [{text, at}]
      fatal: false,
      finalState: null,       // why the connection ended for good (an error code, 'lost', ...)
      unavailable: 0,         // admitted sockets in a row that found no tick worker
      fromLobby: false,       // the lobby started this match
      mode: null,             // lobby mode: duel | team | ffa | ...
      result: null,
      outcome: null,          // {kind, title, placing} of the result, for this seat
      endedAway: false,       // the match ended while this tab was not connected
    };
  }
  const game = freshGame();

  function freshConn() {
    return {
      synced: false,          // a snapshot arrived on this socket; the server rejects input before that
      admitted: false,        // the seat message arrived on this socket
      status: 'idle',
      via: null,              // 'ticket' | 'resume': how the current socket asked to get in
      lastError: null,        // code of the last error message on the current socket
      dropAt: null,           // performance.now() of the unexpected close being recovered from
      resumed: 0,             // snapshots that put this tab back on its seat
      resumedUntil: 0,        // the "resumed" notice shows until then
    };
  }
  const conn = freshConn();

  const input = {
    seq: 0,                 // kept across reconnects
    pendingSeqs: new Map(), // seq -> performance.now() at send
    lastAck: 0,
    latencyMs: null,
  };

  const meter = { frames: 0, since: 0, fps: 0, debugShown: false };

  // --------------------------------------------------------------------- DOM

  const $ = (id) => document.getElementById(id);
  const dom = {
    startScreen: $('start-screen'),
    lobbyScreen: $('lobby-screen'),
    createForm: $('create-form'),
    nameInput: $('name-input'),
    gameChoice: $('game-choice'),
    gameSelect: $('game-select'),
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
    matchBar: $('match-bar'),
    controls: $('controls'),
    debugToggle: $('debug-toggle'),
    debugOverlay: $('debug-overlay'),
    stage: $('stage'),
    canvas: $('arena'),
    scoreboardBody: $('scoreboard-body'),
    teamScores: $('team-scores'),
    killFeed: $('kill-feed'),
    waitingOverlay: $('waiting-overlay'),
    waitingTitle: $('waiting-title'),
    inviteList: $('invite-list'),
    resultsOverlay: $('results-overlay'),
    resultsTitle: $('results-title'),
    resultsPlacing: $('results-placing'),
    resultsReason: $('results-reason'),
    resultsAway: $('results-away'),
    resultsHead: $('results-head'),
    resultsBody: $('results-body'),
    resultsTeams: $('results-teams'),
    resultsRating: $('results-rating'),
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

  function el(tag, props = {}, children = []) {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children);
    return node;
  }

  // ------------------------------------------------------------------ helpers

  const seatColour = (seat) => SEAT_COLOURS[((seat % SEAT_COLOURS.length) + SEAT_COLOURS.length) % SEAT_COLOURS.length];
  const teamColour = (team) => TEAM_COLOURS[team] || '#cccccc';
  const teamName = (team) => TEAM_NAMES[team] || `Team ${team + 1}`;
  const isGameScreen = () => !dom.gameScreen.hidden;
  const tickRate = () => game.hz || config.tickHz;
  const playerOf = (seat) => game.players.find((p) => p.s === seat) || null;
  const hasTeam = (p) => p && (p.tm === 0 || p.tm === 1);
  const playerColour = (p) => (p.ff ? FORFEITED_COLOUR : hasTeam(p) ? teamColour(p.tm) : seatColour(p.s));

  function playerName(seat) {
    return game.names.get(seat) || `Player ${seat + 1}`;
  }

  function ordinal(n) {
    const tens = n % 100;
    const suffix = tens >= 11 && tens <= 13 ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' }[n % 10] || 'th');
    return `${n}${suffix}`;
  }

  // Whole seconds until an away seat forfeits, by the match clock.
  function secondsToForfeit(seat) {
    const at = game.away.get(seat);
    if (at === undefined || game.tick === null) return null;
    return Math.max(0, Math.ceil((at - game.tick) / tickRate()));
  }

  // Another player's connection, as shown in the scoreboard (and by renderers on the avatar).
  // {kind: 'forfeited' | 'away', text} or null while they are playing.
  function seatStatus(p) {
    if (p.ff) return { kind: 'forfeited', text: 'forfeited' };
    if (p.s === game.mySeat || !game.away.has(p.s)) return null;
    return { kind: 'away', text: `disconnected \u2014 back within ${secondsToForfeit(p.s)}s or forfeits` };
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

  function joinNames(names) {
    return names.length <= 1 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
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
    if (screen === dom.gameScreen) layoutCanvas();
  }

  // ------------------------------------------------------------- start screen

  function initStartScreen() {
    const clients = window.GameClients || {};
    dom.gameSelect.replaceChildren(...config.games.map((g) => el('option', {
      value: g.game,
      textContent: (clients[g.game] && clients[g.game].title) || g.game,
    })));
    dom.gameChoice.hidden = config.games.length < 2; // one game: nothing to choose
    dom.gameSelect.addEventListener('change', updatePlayerOptions);
    updatePlayerOptions();
    dom.nameInput.value = localStorage.getItem(STORAGE_NAME) || '';
    dom.createForm.addEventListener('submit', onCreateSubmit);
  }

  // Players per match of the chosen game.
  function updatePlayerOptions() {
    const chosen = config.games.find((g) => g.game === dom.gameSelect.value);
    const [low, high] = chosen ? [chosen.min, chosen.max] : [2, config.maxPlayers];
    const previous = Number(dom.playersSelect.value) || low;
    dom.playersSelect.replaceChildren();
    for (let n = Math.max(2, low); n <= high; n++) {
      dom.playersSelect.append(el('option', { value: String(n), textContent: String(n) }));
    }
    dom.playersSelect.value = String(Math.min(high, Math.max(low, previous)));
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
      const match = await postMatch(Number(dom.playersSelect.value), name, dom.gameSelect.value);
      onMatchCreated(match);
    } catch (err) {
      showCreateError(err.message);
    } finally {
      dom.createButton.disabled = false;
    }
  }

  // `game` only when there is a choice (absent: the default game).
  async function postMatch(players, name, game) {
    const body = { players, names: [name] };
    if (game && config.games.length > 1) body.game = game;
    let response;
    try {
      response = await fetch(API_MATCHES, {
        method: 'POST',
        credentials: 'same-origin',
        headers: {
          'Content-Type': 'application/json',
          'X-CSRFToken': readCookie('csrftoken'),
        },
        body: JSON.stringify(body),
      });
    } catch {
      throw new Error('Could not reach the server.');
    }
    const reply = await response.json().catch(() => null);
    if (!response.ok) {
      const detail = reply && (reply.detail || reply.error);
      throw new Error(detail || `Could not create the match (HTTP ${response.status}).`);
    }
    if (!reply || !Array.isArray(reply.tickets)) throw new Error('Unexpected reply from the server.');
    return reply;
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
    const swatch = el('span', { className: 'swatch' });
    swatch.style.background = seatColour(invite.seat);
    const item = el('li', {}, [
      swatch,
      el('span', { className: 'invite-name', textContent: invite.name }),
      el('span', { className: 'invite-status' }),
      field, copy,
    ]);
    item.dataset.seat = String(invite.seat);
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
    if (ticket || game.resume) connect();
    else showFinal(ERROR.TICKET_INVALID);
  }

  // Close this tab's match socket (if any) and forget the match, so another one can start.
  function leaveGame({ keepUrl = false } = {}) {
    link.close(CLOSE.NORMAL);
    link = newLink();
    destroyRenderer();
    Object.assign(game, freshGame());
    Object.assign(conn, freshConn());
    Object.assign(input, { seq: 0, pendingSeqs: new Map(), lastAck: 0, latencyMs: null });
    setStatus('idle');
    for (const node of [dom.hudSeat, dom.hudTime, dom.hudLimit, dom.hudPing, dom.hudLatency]) node.textContent = '-';
    dom.hudLost.hidden = true;
    dom.scoreboardBody.replaceChildren();
    dom.teamScores.hidden = true;
    dom.controls.replaceChildren();
    dom.resultsBody.replaceChildren();
    dom.resultsTeams.hidden = true;
    dom.resultsPlacing.hidden = true;
    dom.resultsAway.hidden = true;
    delete dom.resultsOverlay.dataset.outcome;
    dom.resultsRating.hidden = true;
    dom.resultsRating.replaceChildren();
    // Nothing of the last match stays on screen (a renderer on another context type clears its own).
    const ctx = dom.canvas.getContext('2d');
    if (ctx) {
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, dom.canvas.width, dom.canvas.height);
    }
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
    const over = game.phase === PHASE.OVER;
    dom.resultsOverlay.hidden = !over;
    dom.fatalOverlay.hidden = !game.fatal || over;
    dom.waitingOverlay.hidden = over || game.fatal || game.phase === PHASE.RUNNING;
    const total = game.names.size || game.invites.length + 1;
    dom.waitingTitle.textContent = game.phase === PHASE.WAITING
      ? `Waiting for players (${game.present.length}/${total})`
      : 'Connecting\u2026';
  }

  // The connection ended for good. `state`: {title, text, retry (a button label), forget}.
  function showFatal(state, code = 'closed') {
    link.cancelRetry();
    conn.dropAt = null;
    game.fatal = true;
    game.finalState = code;
    if (state.forget) forgetResume();
    dom.fatalTitle.textContent = state.title || 'Disconnected';
    dom.fatalMessage.textContent = state.text;
    dom.retryButton.textContent = state.retry || 'Try again';
    dom.retryButton.hidden = !state.retry;
    callRenderer('releaseControls');
    updateOverlays();
    renderConnBanner();
  }

  function showFinal(code) {
    showFatal(FINAL_STATES[code], code);
  }

  // ------------------------------------------------------------------ results

  // Victory / Defeat / Draw / a placing, for this seat, as the lobby's ratings count it
  // (`rating.outcome`). The sides are the teams when there are teams, else the players; equal
  // rank is a shared placing. Victory: first alone. Draw: first, shared with another side (a
  // 2-2, or a tie at the top of a free-for-all). Otherwise Defeat when there were two sides, and
  // the placing ("3rd of 6") when more. A forfeited seat lost. A watcher gets no verdict.
  function outcomeOf(result, seat) {
    const ranking = (result && result.ranking) || [];
    if (!ranking.length) return { kind: 'aborted', title: 'Match aborted', placing: '' };
    const me = ranking.find((r) => r.s === seat);
    if (!me) {
      const winners = ranking.filter((r) => r.rank === 1).map((r) => r.n);
      return { kind: 'over', title: 'Match over', placing: winners.length === 1 ? `${winners[0]} wins` : '' };
    }
    const teams = Array.isArray(result.teams) && hasTeam(me) ? result.teams : null;
    const sides = teams || ranking;
    const mine = (teams && teams.find((t) => t.tm === me.tm)) || me;
    const shared = sides.filter((s) => s.rank === mine.rank).length > 1;
    const placing = sides.length > 2 ? `${shared ? 'shared ' : ''}${ordinal(mine.rank)} of ${sides.length}` : '';
    if (me.ff || mine.ff) return { kind: 'defeat', title: 'Defeat', placing: placing || 'You forfeited' };
    if (mine.rank === 1) return shared ? { kind: 'draw', title: 'Draw', placing } : { kind: 'victory', title: 'Victory', placing };
    if (sides.length > 2) return { kind: 'place', title: `${ordinal(mine.rank)} place`, placing };
    return { kind: 'defeat', title: 'Defeat', placing };
  }

  // Columns of the placings table: rank and name, then the numbers the entries carry.
  const RESULT_COLUMNS = [['sc', 'Score'], ['k', 'Kills'], ['d', 'Deaths']];

  function showResults(result) {
    const ranking = (result && result.ranking) || [];
    const reason = result && result.reason;
    game.result = result;
    game.outcome = outcomeOf(result, game.mySeat);
    dom.resultsOverlay.dataset.outcome = game.outcome.kind;
    dom.resultsTitle.textContent = game.outcome.title;
    dom.resultsPlacing.textContent = game.outcome.placing;
    dom.resultsPlacing.hidden = !game.outcome.placing;

    // Forfeited seats (away longer than the grace period) are ranked last and named.
    const forfeited = ranking.filter((r) => r.ff).map((r, i) => (r.s !== game.mySeat ? r.n : i ? 'you' : 'You'));
    const forfeitText = forfeited.length ? `${joinNames(forfeited)} forfeited.` : '';
    dom.resultsReason.textContent = reason === 'forfeit' && forfeitText
      ? forfeitText
      : [END_REASONS[reason] || '', forfeitText].filter(Boolean).join(' ');
    dom.resultsAway.hidden = !game.endedAway;

    const teams = (result && Array.isArray(result.teams)) ? result.teams : null;
    dom.resultsTeams.hidden = !teams;
    if (teams) {
      const winners = teams.filter((t) => t.rank === 1);
      const score = teams.map((t) => `${teamName(t.tm)} ${t.sc}${t.ff ? ' (forfeited)' : ''}`).join(' : ');
      dom.resultsTeams.textContent = winners.length === 1
        ? `${teamName(winners[0].tm)} team wins (${score})`
        : `Draw (${score})`;
    }

    const columns = RESULT_COLUMNS.filter(([key]) => ranking.some((r) => typeof r[key] === 'number'));
    dom.resultsHead.replaceChildren(el('tr', {}, [
      el('th', { textContent: '#' }), el('th', { textContent: 'Name' }),
      ...columns.map(([, label]) => el('th', { textContent: label })),
    ]));
    dom.resultsBody.replaceChildren(...ranking.map((r) => {
      const name = el('td', { textContent: r.n + (r.s === game.mySeat ? ' (you)' : '') });
      if (hasTeam(r)) {
        const swatch = el('span', { className: 'swatch' });
        swatch.style.background = teamColour(r.tm);
        name.prepend(swatch, ' ');
      }
      if (r.ff) name.append(' ', el('span', { className: 'seat-status forfeited', textContent: 'forfeited' }));
      const shared = ranking.filter((o) => o.rank === r.rank).length > 1;
      const row = el('tr', {}, [
        el('td', { textContent: `${shared ? '=' : ''}${r.rank}` }),
        name,
        ...columns.map(([key]) => el('td', { textContent: String(r[key] ?? '') })),
      ]);
      row.dataset.seat = String(r.s);
      row.classList.toggle('me', r.s === game.mySeat);
      row.classList.toggle('forfeited', Boolean(r.ff));
      return row;
    }));
  }

  // Lines under the results (the lobby's rating change for this match, and how it came about).
  function addResultsNote(matchId, text, detail = '') {
    if (matchId !== game.matchId) return;
    if ([...dom.resultsRating.children].some((note) => note.dataset.text === text)) return;
    const note = el('li', {}, [el('span', { className: 'rating-line', textContent: text })]);
    if (detail) note.append(el('span', { className: 'rating-why', textContent: detail }));
    note.dataset.text = text;
    dom.resultsRating.append(note);
    dom.resultsRating.hidden = false;
  }

  // --------------------------------------------------------------------- feed

  function addFeed(text) {
    const now = performance.now();
    if (game.feed.some((f) => f.text === text && now - f.at < FEED_REPEAT_MS)) return;
    game.feed.push({ text: String(text), at: now });
    if (game.feed.length > FEED_MAX_ENTRIES) game.feed.shift();
    renderFeed();
  }

  function renderFeed() {
    // Newest first: the bar shows as many as fit.
    dom.killFeed.replaceChildren(...game.feed.slice().reverse().map((f) => el('li', { textContent: f.text })));
  }

  function pruneFeed(now) {
    const before = game.feed.length;
    game.feed = game.feed.filter((f) => now - f.at < FEED_TTL_MS);
    if (game.feed.length !== before) renderFeed();
  }

  // ------------------------------------------------------------ the renderer

  // What a renderer may use (the contract in docs/architecture.md).
  const host = {
    canvas: dom.canvas,
    get seat() { return game.mySeat; },
    get tickHz() { return tickRate(); },
    sendInput,
    playerName,
    seatColour,
    teamColour,
    feed: addFeed,
    net: () => ({ rttMs: link.rttMs, jitterMs: link.jitterMs, live: isLive() }),
  };

  // The renderer for `name`, created on the first snapshot (the game is named there).
  function ensureRenderer(name) {
    const clients = window.GameClients || {};
    const chosen = clients[name] ? name : DEFAULT_GAME;
    if (game.renderer && game.name === chosen) return true;
    destroyRenderer();
    const client = clients[chosen];
    if (!client) {
      showFatal({ title: 'Cannot show this game', text: `This page has no renderer for the game ${JSON.stringify(name)}.` }, 'no_renderer');
      return false;
    }
    if (chosen !== name) console.warn(`No renderer for the game ${JSON.stringify(name)}; using ${chosen}`);
    game.name = chosen;
    try {
      game.renderer = client.create(host);
    } catch (err) {
      console.error('The game renderer failed to start', err);
      game.renderer = null;
      return false;
    }
    renderControls(client);
    return true;
  }

  function destroyRenderer() {
    callRenderer('destroy');
    game.renderer = null;
  }

  // A renderer's failure must not take the connection or the page down with it.
  function callRenderer(method, arg) {
    const renderer = game.renderer;
    if (!renderer || typeof renderer[method] !== 'function') return undefined;
    try {
      return renderer[method](arg);
    } catch (err) {
      console.error(`The game renderer failed in ${method}()`, err);
      return undefined;
    }
  }

  function rendererDebug() {
    const extra = callRenderer('debug');
    return extra && typeof extra === 'object' ? extra : {};
  }

  // The renderer's players, for the scoreboard, the names and the input gate.
  function refreshPlayers() {
    const players = rendererDebug().players;
    if (!Array.isArray(players)) return;
    game.players = players;
    for (const p of players) {
      if (Number.isInteger(p.s) && typeof p.n === 'string') game.names.set(p.s, p.n);
    }
  }

  function renderControls(client) {
    const controls = Array.isArray(client.controls) ? client.controls : [];
    dom.controls.replaceChildren(...controls.flatMap(([keys, action], i) => [
      ...(i ? [' \u00b7 '] : []),
      el('kbd', { textContent: keys }), ` ${action}`,
    ]));
    dom.controls.setAttribute('aria-label', `Controls of ${client.title || game.name}`);
  }

  function isLive() {
    return Boolean(conn.synced && link.isOpen());
  }

  function mayPlay() {
    const me = playerOf(game.mySeat);
    return game.phase === PHASE.RUNNING && !game.fatal && game.mySeat !== null && !(me && me.ff) && isLive();
  }

  // host.sendInput: number the input and send it; null when it did not go out.
  function sendInput(fields) {
    if (!mayPlay()) return null;
    const seq = input.seq + 1;
    if (!link.send({ ...fields, t: MATCH.INPUT, seq })) return null;
    input.seq = seq;
    input.pendingSeqs.set(seq, performance.now());
    return seq;
  }

  // ---------------------------------------------------------------- network

  // One link per match (its socket count, backoff and round trips are the match's).
  function newLink() {
    return new window.GameNet.Link({
      url: socketUrl,
      onConnecting: onSocketConnecting,
      onOpen: onSocketOpen,
      onMessage: onSocketMessage,
      onClose: onSocketClose,
      pingMs: PING_INTERVAL_MS,
      stallMs: STALL_MS,
      rate: RATE,
      backoff: BACKOFF,
    });
  }
  let link = newLink();

  function socketUrl() {
    const path = `/ws/match/${encodeURIComponent(game.matchId)}/`;
    // The credential is the only way back onto a claimed seat; the ticket claims it the first time.
    return window.GameNet.socketUrl(path, game.resume ? { resume: game.resume.resume } : { ticket: game.ticket });
  }

  function setStatus(status) {
    conn.status = status;
    dom.hudConn.textContent = status;
  }

  function connect() {
    game.fatal = false;
    game.finalState = null;
    updateOverlays();
    link.connect();
  }

  // Every socket of the match, opened by connect() or by the link's own retry.
  function onSocketConnecting() {
    conn.synced = false;
    conn.admitted = false;
    conn.via = game.resume ? 'resume' : 'ticket';
    conn.lastError = null;
    setStatus(conn.dropAt === null ? 'connecting' : `reconnecting (attempt ${link.attempts})`);
    renderConnBanner();
  }

  // Open is not in: "connected" waits for the snapshot, so it is never shown over a dead match.
  function onSocketOpen() {
    setStatus(conn.dropAt === null ? 'joining' : 'reconnected, joining');
  }

  function onSocketMessage(msg) {
    const handler = MESSAGE_HANDLERS[msg.t];
    if (handler) handler(msg);
    else console.warn('Unknown message from the server', msg);
  }

  function onSocketClose(event) {
    conn.synced = false;
    const error = conn.lastError;
    const admitted = conn.admitted;
    conn.lastError = null;
    conn.admitted = false;
    callRenderer('releaseControls');
    if (game.phase === PHASE.OVER) {
      setStatus('match over');
      renderConnBanner();
      return;
    }
    if (error === ERROR.UNAVAILABLE || event.code === CLOSE.UNAVAILABLE) {
      if (admitted) game.unavailable += 1;
      if (game.unavailable >= UNAVAILABLE_LIMIT) {
        setStatus('disconnected');
        showFinal('match_gone');
        return;
      }
    }
    if (event.code < 4000 || RECONNECT_CLOSE_CODES.has(event.code)) {
      connectionLost(event.code);
      return;
    }
    setStatus('disconnected');
    if (error === ERROR.MATCH_OVER || (!(error in FINAL_STATES) && event.code === CLOSE.GONE)) {
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
    if (conn.dropAt === null) conn.dropAt = performance.now();
    if (code === CLOSE.RESTARTING) showToast('The server is restarting: reconnecting.', 'info');
    scheduleReconnect();
  }

  const graceMs = () => 1000 * ((game.resume && game.resume.grace) || DEFAULT_GRACE_SECONDS);

  function scheduleReconnect() {
    const windowMs = graceMs() + RECONNECT_MARGIN_MS;
    const elapsed = performance.now() - conn.dropAt;
    if (elapsed >= windowMs) {
      giveUp();
      return;
    }
    link.retry(windowMs - elapsed);
    // The retry opens the socket by itself; connect()'s bookkeeping runs when it does.
    setStatus(`reconnecting (attempt ${link.attempts})`);
    renderConnBanner();
  }

  function giveUp() {
    setStatus('disconnected');
    const seconds = Math.round(graceMs() / 1000);
    showFatal({
      ...FINAL_STATES.lost,
      text: `Could not reach the server again within the ${seconds} s your seat is kept after a drop, `
        + 'so it may have been forfeited. Try again to rejoin: a forfeited seat can still watch.',
    }, 'lost');
  }

  // Now instead of at the next backoff step (the button, the browser coming back online).
  function reconnectNow() {
    if (link.ws || game.fatal || game.phase === PHASE.OVER || conn.dropAt === null) return;
    connect();
  }

  function retryNow() {
    link.resetBackoff();
    conn.dropAt = null;
    game.unavailable = 0;
    connect();
  }

  // The server ended the match while this tab was away: its result is in the match API.
  async function matchOverElsewhere() {
    forgetResume();
    game.finalState = ERROR.MATCH_OVER;
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
      game.endedAway = true;
      applyEnd({ t: MATCH.END, tick: detail.ticks || 0, result: detail.result });
      return;
    }
    showFinal(ERROR.MATCH_OVER);
  }

  // -------------------------------------------------------- message handlers

  const MESSAGE_HANDLERS = {
    [MATCH.SEAT]: applySeat,
    [MATCH.SNAPSHOT]: applySnapshot,
    [MATCH.PHASE]: applyPhase,
    [MATCH.FRAME]: applyFrame,
    [MATCH.END]: applyEnd,
    [MATCH.ERROR]: applyError,
    [MATCH.PONG]: () => {}, // answers to pings the link did not send (none today)
  };

  // Admitted: the credential that alone brings this tab back onto the seat.
  function applySeat(msg) {
    if (typeof msg.resume !== 'string' || !Number.isInteger(msg.seat)) return;
    conn.admitted = true;
    game.mySeat = msg.seat;
    saveResume(msg);
  }

  function applyError(msg) {
    conn.lastError = msg.code || null;
    if (CLOSING_ERRORS.has(msg.code)) return; // the close right after it says what happens
    showToast(`${msg.code || 'error'}: ${msg.detail || ''}`);
  }

  function applySnapshot(msg) {
    const state = msg.state || {};
    const wasForfeited = Boolean(playerOf(msg.seat) && playerOf(msg.seat).ff);
    if (!ensureRenderer(msg.game || DEFAULT_GAME)) return;
    game.mySeat = msg.seat;
    game.phase = msg.phase;
    game.tick = msg.tick ?? state.tick ?? 0;
    game.hz = state.hz || config.tickHz;
    game.endTick = Number.isInteger(state.end_tick) ? state.end_tick : null;
    game.scoreLimit = Number.isInteger(state.score_limit) ? state.score_limit : null;
    game.aspect = state.w > 0 && state.h > 0 ? state.w / state.h : null;
    for (const p of Array.isArray(state.players) ? state.players : []) {
      if (p && Number.isInteger(p.s) && typeof p.n === 'string') game.names.set(p.s, p.n);
    }
    conn.synced = true;
    // Back on the seat after a drop, or after a reload (the credential came from storage).
    if (conn.via === 'resume') {
      conn.resumed += 1;
      conn.resumedUntil = performance.now() + RESUMED_NOTICE_MS;
    }
    conn.dropAt = null;
    game.unavailable = 0;
    link.resetBackoff();
    setStatus('connected');
    // After a page reload our counter restarts; continue above what the server already saw.
    const serverAck = (msg.acks && msg.acks[msg.seat]) || 0;
    input.seq = Math.max(input.seq, serverAck);
    input.lastAck = serverAck;
    input.pendingSeqs.clear();
    layoutCanvas();
    callRenderer('snapshot', msg);
    refreshPlayers();
    const me = playerOf(msg.seat);
    if (me && me.ff && !wasForfeited && game.phase === PHASE.RUNNING) {
      addFeed('You were away too long: your seat is forfeited');
    }
    dom.hudSeat.textContent = `${msg.seat + 1} (${playerName(msg.seat)})`;
    updateOverlays();
    renderConnBanner();
    updateHud(performance.now());
  }

  function applyPhase(msg) {
    if (game.phase === PHASE.OVER) return;
    const wasRunning = game.phase === PHASE.RUNNING;
    const present = msg.present || [];
    const away = new Map((msg.away || []).map(([seat, forfeitTick]) => [seat, forfeitTick]));
    if (msg.phase === PHASE.RUNNING && !wasRunning) addFeed('The match has started!');
    if (wasRunning) {
      for (const seat of away.keys()) {
        if (!game.away.has(seat) && seat !== game.mySeat) addFeed(`${playerName(seat)} disconnected`);
      }
      for (const seat of game.away.keys()) {
        if (away.has(seat) || seat === game.mySeat) continue;
        // Off the away list: back (present again), or out of time.
        addFeed(present.includes(seat)
          ? `${playerName(seat)} is back`
          : `${playerName(seat)} forfeited (did not come back in time)`);
      }
    }
    game.phase = msg.phase;
    game.present = present;
    game.away = away;
    callRenderer('phase', msg);
    updateInviteStatus();
    updateOverlays();
  }

  function applyFrame(msg) {
    if (!conn.synced || game.tick === null || msg.tick <= game.tick) return;
    if (msg.tick > game.tick + 1) game.lostFrames += msg.tick - game.tick - 1;
    game.tick = msg.tick;
    applyAcks(msg.acks, performance.now());
    callRenderer('frame', msg);
  }

  function applyAcks(acks, now) {
    if (!acks || game.mySeat === null) return;
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
    game.phase = PHASE.OVER;
    game.away.clear();
    forgetResume();
    if (game.tick === null || msg.tick > game.tick) game.tick = msg.tick;
    callRenderer('end', msg);
    callRenderer('releaseControls');
    refreshPlayers();
    showResults(msg.result);
    setStatus('match over');
    updateLobbyButtons();
    updateOverlays();
    renderConnBanner();
    if (lobby) lobby.matchEnded(game.matchId, msg.result);
  }

  // -------------------------------------------------------------- rendering

  // The canvas as large as fits below the bars, in the game world's proportions (so a world
  // point maps linearly onto the canvas); the renderer is told when its size changes.
  function layoutCanvas() {
    if (!isGameScreen()) return;
    const fromRenderer = Number(callRenderer('aspect'));
    const ratio = fromRenderer > 0 ? fromRenderer : game.aspect || DEFAULT_ASPECT;
    const availableWidth = document.documentElement.clientWidth;
    const availableHeight = window.innerHeight - dom.hud.offsetHeight - dom.matchBar.offsetHeight;
    const cssWidth = Math.max(160, Math.floor(Math.min(availableWidth, availableHeight * ratio)));
    const cssHeight = Math.round(cssWidth / ratio);
    const dpr = window.devicePixelRatio || 1;
    const width = Math.round(cssWidth * dpr);
    const height = Math.round(cssHeight * dpr);
    dom.stage.style.width = `${cssWidth}px`;
    dom.canvas.style.width = `${cssWidth}px`;
    dom.canvas.style.height = `${cssHeight}px`;
    if (dom.canvas.width === width && dom.canvas.height === height) return;
    dom.canvas.width = width;
    dom.canvas.height = height;
    callRenderer('resize');
  }

  function frameLoop(now) {
    requestAnimationFrame(frameLoop);
    if (!isGameScreen()) return;
    meter.frames += 1;
    if (now - meter.since >= 1000) {
      meter.fps = Math.round((meter.frames * 1000) / (now - meter.since));
      meter.frames = 0;
      meter.since = now;
    }
    callRenderer('draw', now);
    maybeUpdateHud(now);
  }

  // -------------------------------------------------------------------- HUD

  let lastHudAt = 0;
  function maybeUpdateHud(now) {
    if (now - lastHudAt < HUD_REFRESH_MS) return;
    lastHudAt = now;
    updateHud(now);
  }

  function updateHud(now) {
    pruneFeed(now);
    refreshPlayers();
    dom.hudPing.textContent = link.rttMs === null ? '-' : `${Math.round(link.rttMs)} ms`;
    dom.hudLatency.textContent = input.latencyMs === null ? '-' : `${Math.round(input.latencyMs)} ms`;
    dom.hudLost.hidden = game.lostFrames === 0;
    dom.hudLost.textContent = `\u26a0 ${game.lostFrames} skipped tick${game.lostFrames === 1 ? '' : 's'}`;
    const clock = game.endTick !== null && game.tick !== null ? (game.endTick - game.tick) / tickRate() : null;
    dom.hudTime.textContent = clock === null ? '-' : formatClock(clock);
    dom.hudLimit.textContent = game.scoreLimit === null ? '-' : String(game.scoreLimit);
    renderScoreboard();
    if (meter.debugShown) renderDebug(now);
  }

  // One compact line above the canvas (never over the playfield): who plays, their score.
  function renderScoreboard() {
    // Forfeited seats last: they are out for good (and ranked last).
    const players = [...game.players].sort((a, b) => Boolean(a.ff) - Boolean(b.ff)
      || (b.sc || 0) - (a.sc || 0) || (b.k || 0) - (a.k || 0) || (a.d || 0) - (b.d || 0) || a.s - b.s);
    dom.scoreboardBody.replaceChildren(...players.map((p) => {
      const swatch = el('span', { className: 'swatch' });
      swatch.style.background = playerColour(p);
      const status = seatStatus(p);
      const parts = [
        swatch,
        el('span', { className: 'player-name', textContent: p.n || playerName(p.s) }),
        el('span', { className: 'player-score', textContent: String(p.sc || 0), title: 'score' }),
      ];
      if (typeof p.k === 'number') {
        parts.push(el('span', { className: 'player-kd', textContent: `${p.k}/${p.d || 0}`, title: 'kills/deaths' }));
      }
      if (status) parts.push(el('span', { className: `seat-status ${status.kind}`, textContent: status.text }));
      const item = el('li', {}, parts);
      item.dataset.seat = String(p.s);
      item.classList.toggle('me', p.s === game.mySeat);
      item.classList.toggle('down', p.al === false && !p.ff);
      item.classList.toggle('away', Boolean(status && status.kind === 'away'));
      item.classList.toggle('forfeited', Boolean(p.ff));
      return item;
    }));
    renderTeamScores(players);
  }

  function renderTeamScores(players) {
    const totals = [0, 0];
    let teamMatch = false;
    for (const p of players) {
      if (hasTeam(p)) {
        teamMatch = true;
        totals[p.tm] += p.sc || 0;
      }
    }
    dom.teamScores.hidden = !teamMatch;
    if (!teamMatch) return;
    dom.teamScores.replaceChildren(...[0, 1].flatMap((tm) => {
      const part = el('span', { className: 'team-score', textContent: `${teamName(tm)} ${totals[tm]}` });
      part.style.color = teamColour(tm);
      return tm === 0 ? [part, ' : '] : [part];
    }));
  }

  // The banner across the top of the arena: reconnecting (attempt, next try, time left to come
  // back), a short "resumed" notice, or that this seat forfeited and the tab only watches.
  function renderConnBanner() {
    const now = performance.now();
    const me = playerOf(game.mySeat);
    let kind = null;
    let title = '';
    let detail = '';
    if (conn.dropAt !== null && !game.fatal && game.phase !== PHASE.OVER) {
      kind = 'reconnecting';
      title = game.tick !== null ? 'Connection lost \u2014 reconnecting\u2026' : 'Cannot reach the server \u2014 retrying\u2026';
      const left = Math.ceil((graceMs() - (now - conn.dropAt)) / 1000);
      const attempt = link.attempts ? `Attempt ${link.attempts}` : 'Trying';
      let next = `next try in ${Math.max(0, Math.ceil((link.nextAttemptAt - now) / 1000))} s`;
      if (link.ws) next = link.isOpen() ? 'connected, rejoining the match' : 'connecting now';
      if (game.unavailable) next += ' (the server has no worker for this match right now)';
      let keep = '';
      if (game.phase === PHASE.RUNNING) {
        keep = left > 0
          ? ` \u00b7 ${left} s left to get back before your seat is forfeited`
          : ' \u00b7 your seat may be forfeited by now';
      }
      detail = `${attempt}, ${next}${keep}`;
    } else if (now < conn.resumedUntil && !game.fatal && game.phase !== PHASE.OVER) {
      kind = 'resumed';
      title = 'Resumed';
      detail = `You are back on your seat (${game.mySeat + 1}, ${playerName(game.mySeat)}).`;
    } else if (me && me.ff && game.phase === PHASE.RUNNING && !game.fatal) {
      kind = 'watching';
      title = 'Seat forfeited';
      detail = 'You were away too long; you are watching the rest of the match.';
    }
    dom.connBanner.hidden = kind === null;
    dom.stage.classList.toggle('reconnecting', kind === 'reconnecting');
    if (kind === null) {
      delete dom.connBanner.dataset.kind;
      return;
    }
    dom.connBanner.className = `conn-banner ${kind}`;
    dom.connBanner.dataset.kind = kind;
    dom.connBannerTitle.textContent = title;
    dom.connBannerDetail.textContent = detail;
    dom.reconnectNow.hidden = kind !== 'reconnecting' || link.ws !== null;
  }

  // ---------------------------------------------------------------- debug overlay

  function toggleDebug(show = !meter.debugShown) {
    meter.debugShown = show;
    dom.debugOverlay.hidden = !show;
    dom.debugToggle.setAttribute('aria-pressed', String(show));
    if (show) renderDebug(performance.now());
  }

  const ms = (v) => (typeof v === 'number' && Number.isFinite(v) ? `${Math.round(v)} ms` : '-');
  const px = (v) => (typeof v === 'number' && Number.isFinite(v) ? `${v.toFixed(1)} px` : '-');

  function renderDebug(now) {
    const extra = rendererDebug();
    const stats = link.stats(now);
    const rows = [
      ['ping', ms(stats.rttMs)],
      ['jitter', ms(stats.jitterMs)],
      ...(typeof extra.jitterMs === 'number' ? [['frame jitter', ms(extra.jitterMs)]] : []),
      ['buffer', ms(extra.bufferMs)],
      ['prediction error', px(extra.predictionErrorPx)],
      ['fps', String(meter.fps)],
      ['received', `${(stats.bytesPerSecond / 1024).toFixed(1)} KiB/s`],
      ['frames lost', String(game.lostFrames)],
      ['input latency', ms(input.latencyMs)],
      ['tick', game.tick === null ? '-' : String(game.tick)],
    ];
    dom.debugOverlay.replaceChildren(el('dl', {}, rows.flatMap(([k, v]) => [
      el('dt', { textContent: k }), el('dd', { textContent: v }),
    ])));
  }

  function onDebugKey(event) {
    if (!DEBUG_KEYS.has(event.code) || !isGameScreen()) return;
    const target = event.target;
    if (target instanceof HTMLElement && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName))) return;
    event.preventDefault();
    if (!event.repeat) toggleDebug();
  }

  // ------------------------------------------------------------------- boot

  // Read-only view of what this tab knows, for the browser tests (tests/test_browser*.py), the
  // browser benchmark and the devtools console; the renderer's debug() is merged in (players,
  // shots, prediction and buffer figures). Returns copies: it cannot change the game. `conn` is
  // the connection: live (synced), via ('ticket' | 'resume'), attempts, resumed (snapshots that
  // put this tab back on its seat), final (why it ended for good: an error code, 'lost', ...).
  window.arenaDebug = () => {
    const extra = rendererDebug();
    const now = performance.now();
    const stats = link.stats(now);
    return {
      ...extra,
      players: (Array.isArray(extra.players) ? extra.players : []).map((p) => ({ ...p })),
      shots: typeof extra.shots === 'number' ? extra.shots : 0,
      game: game.name,
      match: game.matchId,
      mode: game.mode,
      lobbyMatch: game.fromLobby,
      tick: game.tick,
      seat: game.mySeat,
      phase: game.phase,
      seq: input.seq,
      ack: input.lastAck,
      present: [...game.present],
      away: [...game.away].map(([seat, forfeitTick]) => ({ seat, forfeitTick, seconds: secondsToForfeit(seat) })),
      outcome: game.outcome && { ...game.outcome },
      fps: meter.fps,
      framesLost: game.lostFrames,
      bytesPerSecond: stats.bytesPerSecond,
      rttMs: stats.rttMs,
      pingJitterMs: stats.jitterMs,
      latencyMs: input.latencyMs,
      debugOverlay: meter.debugShown,
      conn: {
        status: conn.status,
        live: isLive(),
        via: conn.via,
        sockets: link.sockets,
        reconnecting: conn.dropAt !== null && !game.fatal,
        attempts: link.attempts,
        resumed: conn.resumed,
        credential: Boolean(game.resume),
        grace: game.resume ? game.resume.grace : null,
        fatal: game.fatal,
        final: game.finalState,
      },
    };
  };

  // The shell's pure rules, for tests and for renderers that want them.
  window.GameShell = Object.freeze({ outcomeOf });

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

  function releaseControls() {
    callRenderer('releaseControls');
  }

  function boot() {
    if (typeof MessagePack === 'undefined') {
      document.body.prepend(el('p', { className: 'panel error', textContent: 'msgpack library failed to load.' }));
      return;
    }
    dom.retryButton.addEventListener('click', retryNow);
    dom.reconnectNow.addEventListener('click', reconnectNow);
    dom.debugToggle.addEventListener('click', () => toggleDebug());
    window.addEventListener('keydown', onDebugKey);
    window.addEventListener('online', reconnectNow);
    window.addEventListener('blur', releaseControls);
    document.addEventListener('visibilitychange', () => { if (document.hidden) releaseControls(); });
    setInterval(renderConnBanner, BANNER_REFRESH_MS);
    for (const button of dom.lobbyButtons) button.addEventListener('click', backToLobby);
    window.addEventListener('resize', layoutCanvas);
    if (typeof ResizeObserver === 'function') {
      const observer = new ResizeObserver(() => layoutCanvas());
      observer.observe(dom.hud);
      observer.observe(dom.matchBar);
    }
    requestAnimationFrame(frameLoop);
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
