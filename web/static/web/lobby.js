// Lobby client: sign-in over HTTP (guest, log in, register), then one WebSocket to /ws/lobby/
// (a GameNet.Link from net.js: binary msgpack frames, pings, reconnect with backoff) for
// presence, chat, parties, queues (with what each mode needs and how long it waits), ready
// checks, rooms (each picks a game) and rating pushes (with how the change came about).
//
// Loaded before client.js, which calls window.ArenaLobby.attach(game) at boot. `game` is the
// game's side of the interface (startGame, leaveGame, currentMatch, addResultsNote, showScreen,
// showToast, readCookie, practiceForm, practiceName, teams); attach returns the lobby's side
// (start, signedIn, backToLobby, matchEnded). Nothing else crosses between the two files.
(() => {
  'use strict';

  // ---------------------------------------------------------------- constants

  const { LOBBY: T, ERROR, CLOSE } = window.GameNet;

  const LOBBY_PATH = '/ws/lobby/';
  const API_AUTH = {
    guest: '/api/auth/guest/',
    login: '/api/auth/login/',
    register: '/api/auth/register/',
    logout: '/api/auth/logout/',
  };
  const MODE_NAMES = { duel: 'Duel', team: 'Team 2v2', ffa: 'Free-for-all' };
  // Until the welcome lists the configured modes (settings.GAME_MODES) and games: the defaults.
  const DEFAULT_MODES = [
    { mode: 'duel', game: 'arena', players: 2, team_size: 1, min: 2, wait: 0, rated: true },
    { mode: 'team', game: 'arena', players: 4, team_size: 2, min: 4, wait: 0, rated: true },
    { mode: 'ffa', game: 'arena', players: 8, team_size: 1, min: 8, wait: 0, rated: true },
  ];
  const DEFAULT_GAMES = [{ game: 'arena', min: 2, max: 8 }];
  const OUTCOME_NAMES = { win: 'Win', loss: 'Loss', draw: 'Draw' };
  const CANCEL_REASONS = {
    declined: 'a player declined',
    timeout: 'not everyone accepted in time',
    left: 'a player left the lobby',
  };
  const ERROR_LEADS = {
    name_taken: 'Name taken',
    bad_name: 'Name not allowed',
    weak_password: 'Password too weak',
    bad_credentials: 'Could not log in',
    rate_limited: 'Slow down',
    wrong_password: 'Wrong password',
    room_full: 'Room full',
    no_such_room: 'No such room',
  };

  // The server allows 40 messages/s per socket and chat at 1/s in bursts of 5. This client sends
  // on clicks only, capped well below: 8 messages in any second, chat in bursts of 4 at 1 per 1.2 s.
  const SEND_WINDOW_MS = 1000;
  const SEND_MAX_PER_WINDOW = 8;
  const CHAT_BURST = 4;
  const CHAT_REFILL_MS = 1200;
  const PING_INTERVAL_MS = 20000;
  // Every ping is answered: a socket silent for three of them is dead (a path gone without a reset).
  const STALL_MS = 3 * PING_INTERVAL_MS;
  const BACKOFF = { baseMs: 1000, maxMs: 15000 };
  const CLOCK_MS = 250;
  // Closes after which this client must not reconnect by itself (docs/protocol.md, section 10):
  // 4400 and 4429 mean it broke the rules; a person decides whether to try again.
  const NO_RECONNECT = {
    [CLOSE.PROTOCOL]: 'the server refused messages from this client',
    [CLOSE.FLOOD]: 'too many messages',
  };
  const CHAT_KEEP = 200;
  const ERRORS_KEEP = 20;
  const ERROR_SHOW_MS = 10000;
  const NOTICE_MS = 12000;
  // A reply to a chat message comes without `re`; an error this soon after one is taken as its answer.
  const CHAT_ERROR_WINDOW_MS = 3000;

  const CHAT_MAX = Number(document.body.dataset.chatMax) || 200;

  // ------------------------------------------------------------------- state

  function freshState() {
    return {
      me: null,             // {id, n, guest}
      signedIn: false,
      conn: 'offline',      // offline | connecting | online | reconnecting
      welcomed: false,
      ratings: {},          // mode -> displayed rating
      ratingChanges: [],    // rating pushes, oldest first
      online: 0,
      players: new Map(),   // id -> name
      chat: [],             // chat messages, oldest first
      party: { id: 0, leader: 0, members: [], invited: [] },
      invites: new Map(),   // party id -> {party, from, expiresAt}
      queue: { mode: '', waited: 0, window: 0, rating: 0, size: 0, need: 0 },
      check: null,          // {check, mode, players, deadline, accepted, answer}
      lastCancel: null,     // the last match_cancelled
      room: null,           // the room this player is in (with members)
      rooms: new Map(),     // code -> open public room
      errors: [],           // [{code, detail, re, at}]
      match: null,          // the last match_ready (without the ticket)
    };
  }
  let state = freshState();

  // The server's configuration, as its welcome lists it (kept across sign-ins).
  const server = {
    modes: DEFAULT_MODES,   // [{mode, game, players, team_size, min, wait, rated}]
    games: DEFAULT_GAMES,   // [{game, min, max}]: what a room may play
  };

  const sock = {
    chatTokens: CHAT_BURST,
    chatRefillAt: 0,
    lastChatAt: -Infinity,
  };

  let game = null; // client.js's side of the interface

  // --------------------------------------------------------------------- DOM

  const $ = (id) => document.getElementById(id);
  const dom = {
    startScreen: $('start-screen'),
    lobbyScreen: $('lobby-screen'),
    gameScreen: $('game-screen'),
    guestForm: $('guest-form'),
    guestName: $('guest-name'),
    guestButton: $('guest-button'),
    guestError: $('guest-error'),
    accountForm: $('account-form'),
    accountUser: $('account-user'),
    accountPass: $('account-pass'),
    accountError: $('account-error'),
    signinNotice: $('signin-notice'),
    practiceHome: $('practice-home'),
    practiceLobby: $('practice-lobby'),
    me: $('lobby-me'),
    ratings: $('ratings'),
    conn: $('lobby-conn'),
    reconnect: $('lobby-reconnect'),
    signout: $('signout-button'),
    notice: $('lobby-notice'),
    lobbyError: $('lobby-error'),
    onlineCount: $('online-count'),
    onlineList: $('online-list'),
    queueModes: $('queue-buttons'),
    queueStatus: $('queue-status'),
    queueText: $('queue-text'),
    queueLeave: $('queue-leave'),
    queueError: $('queue-error'),
    roomPanel: $('room-panel'),
    roomCode: $('room-code'),
    roomInfo: $('room-info'),
    roomMembers: $('room-members'),
    roomStart: $('room-start'),
    roomLeave: $('room-leave'),
    roomPanelError: $('room-panel-error'),
    roomsCount: $('rooms-count'),
    roomList: $('room-list'),
    roomsEmpty: $('rooms-empty'),
    roomCreateForm: $('room-create-form'),
    roomGame: $('room-game'),
    roomMode: $('room-mode'),
    roomMax: $('room-max'),
    roomPublic: $('room-public'),
    roomPassword: $('room-password'),
    roomJoinForm: $('room-join-form'),
    joinCode: $('join-code'),
    joinPassword: $('join-password'),
    roomError: $('room-error'),
    inbox: $('invite-inbox'),
    partyEmpty: $('party-empty'),
    partyMembers: $('party-members'),
    partyPending: $('party-pending'),
    partyLeave: $('party-leave'),
    partyError: $('party-error'),
    chatLog: $('chat-log'),
    chatForm: $('chat-form'),
    chatInput: $('chat-input'),
    chatError: $('chat-error'),
    readyDialog: $('ready-dialog'),
    readyTitle: $('ready-title'),
    readyCountdown: $('ready-countdown'),
    readyStatus: $('ready-status'),
    readyPlayers: $('ready-players'),
    readyAccept: $('ready-accept'),
    readyDecline: $('ready-decline'),
    readyError: $('ready-error'),
  };

  function el(tag, props = {}, children = []) {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children);
    return node;
  }

  const modeInfo = (mode) => server.modes.find((m) => m.mode === mode) || null;
  const gameInfo = (name) => server.games.find((g) => g.game === name) || null;
  const gameTitle = (name) => {
    const client = (window.GameClients || {})[name];
    return (client && client.title) || (name ? name[0].toUpperCase() + name.slice(1) : '');
  };
  const severalGames = () => new Set(server.modes.map((m) => m.game).concat(server.games.map((g) => g.game))).size > 1;
  // "Duel", or for a configured mode its game's title when it is that game's only mode (or is
  // named after it), else the mode's own name, capitalised.
  function modeName(mode) {
    if (MODE_NAMES[mode]) return MODE_NAMES[mode];
    const info = modeInfo(mode);
    const only = info && server.modes.filter((m) => m.game === info.game).length === 1;
    if (info && (only || info.game === mode)) return gameTitle(info.game);
    return mode ? mode[0].toUpperCase() + mode.slice(1) : '';
  }
  function ordinal(n) {
    const tens = n % 100;
    const suffix = tens >= 11 && tens <= 13 ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' }[n % 10] || 'th');
    return `${n}${suffix}`;
  }
  const signed = (n) => (n > 0 ? `+${n}` : n < 0 ? `\u2212${Math.abs(n)}` : '+0');
  const nameOf = (id) => state.players.get(id) || (state.me && state.me.id === id ? state.me.n : `#${id}`);
  const isMe = (id) => Boolean(state.me) && state.me.id === id;
  const inParty = () => state.party.id !== 0;
  const isLeader = () => inParty() && isMe(state.party.leader);
  const currentScreen = () => ['start', 'lobby', 'game'].find((n) => !dom[`${n}Screen`].hidden) || null;

  // Errors stay a while, then clear themselves.
  const errorTimers = new Map();
  function showError(node, text) {
    node.textContent = text;
    node.hidden = !text;
    clearTimeout(errorTimers.get(node));
    if (text) errorTimers.set(node, setTimeout(() => { node.hidden = true; }, ERROR_SHOW_MS));
  }

  let noticeTimer = null;
  function showNotice(text) {
    dom.notice.textContent = text;
    dom.notice.hidden = !text;
    clearTimeout(noticeTimer);
    if (text) noticeTimer = setTimeout(() => { dom.notice.hidden = true; }, NOTICE_MS);
  }

  function errorText(code, detail) {
    const lead = ERROR_LEADS[code];
    return lead ? `${lead}: ${detail || code}` : (detail || code || 'error');
  }

  // ------------------------------------------------------------------ screens

  function showSignIn(notice = '') {
    dom.practiceHome.append(game.practiceForm);
    game.showScreen(dom.startScreen);
    dom.signinNotice.textContent = notice;
    dom.signinNotice.hidden = !notice;
    dom.guestName.focus();
  }

  function showLobby() {
    dom.practiceLobby.append(game.practiceForm);
    game.showScreen(dom.lobbyScreen);
    renderAll();
  }

  // -------------------------------------------------------------------- HTTP

  class HttpError extends Error {
    constructor(code, detail) {
      super(detail);
      this.code = code;
    }
  }

  async function postJson(url, body) {
    let response;
    try {
      response = await fetch(url, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-CSRFToken': game.readCookie('csrftoken') },
        body: JSON.stringify(body),
      });
    } catch {
      throw new HttpError('network', 'Could not reach the server.');
    }
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      throw new HttpError((data && data.error) || `http_${response.status}`,
        (data && data.detail) || `The server answered HTTP ${response.status}.`);
    }
    return data || {};
  }

  async function onGuestSubmit(event) {
    event.preventDefault();
    const name = dom.guestName.value.trim();
    if (!name) {
      showError(dom.guestError, 'Enter a name.');
      return;
    }
    showError(dom.guestError, '');
    dom.guestButton.disabled = true;
    try {
      const body = await postJson(API_AUTH.guest, { name });
      signedInAs(body.player);
    } catch (err) {
      showError(dom.guestError, errorText(err.code, err.message));
      dom.guestError.dataset.code = err.code || '';
    } finally {
      dom.guestButton.disabled = false;
    }
  }

  async function onAccountSubmit(event) {
    event.preventDefault();
    const action = event.submitter && event.submitter.value === 'register' ? 'register' : 'login';
    const username = dom.accountUser.value.trim();
    const password = dom.accountPass.value;
    if (!username || !password) {
      showError(dom.accountError, 'Enter a username and a password.');
      return;
    }
    showError(dom.accountError, '');
    const buttons = dom.accountForm.querySelectorAll('button');
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const body = await postJson(API_AUTH[action], { username, password });
      dom.accountPass.value = '';
      signedInAs(body.player);
    } catch (err) {
      showError(dom.accountError, errorText(err.code, err.message));
      dom.accountError.dataset.code = err.code || '';
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  function signedInAs(player) {
    disconnect();
    state = freshState();
    state.me = { id: player.id, n: player.name, guest: Boolean(player.guest) };
    state.signedIn = true;
    game.practiceName(player.name);
    showLobby();
    connect();
  }

  async function signOut() {
    dom.signout.disabled = true;
    // Close first, with 1000: the lobby lets a deliberate leave go at once (a drop gets a grace),
    // and the logout after it finds no socket of this session to tell.
    state.conn = 'offline';
    await link.closeAndWait(CLOSE.NORMAL);
    try {
      await postJson(API_AUTH.logout, {});
    } catch (err) {
      console.warn('Sign-out request failed', err);
    } finally {
      dom.signout.disabled = false;
    }
    signedOut('You signed out.');
  }

  // The session is gone (signed out here, or the server said 4401): back to the sign-in screen.
  function signedOut(notice) {
    disconnect();
    state = freshState();
    renderAll();
    if (game.currentMatch() && game.currentMatch().lobby) game.leaveGame();
    if (!game.currentMatch()) showSignIn(notice);
  }

  // ------------------------------------------------------------------ socket

  const link = new window.GameNet.Link({
    url: () => window.GameNet.socketUrl(LOBBY_PATH),
    onMessage,
    onClose,
    pingMs: PING_INTERVAL_MS,
    stallMs: STALL_MS,
    rate: { windowMs: SEND_WINDOW_MS, max: SEND_MAX_PER_WINDOW },
    backoff: BACKOFF,
  });

  function setConn(conn) {
    state.conn = conn;
    renderConn();
  }

  function connect() {
    link.connect();
    setConn(link.attempts ? 'reconnecting' : 'connecting');
  }

  function disconnect() {
    link.close(CLOSE.NORMAL);
    state.conn = 'offline';
  }

  function onClose(event) {
    if (event.code === CLOSE.UNAUTHORIZED) {
      signedOut('Your session has ended: sign in again.');
      return;
    }
    if (event.code in NO_RECONNECT) {
      setConn('offline');
      showError(dom.lobbyError, `Disconnected from the lobby: ${NO_RECONNECT[event.code]} (${event.code}).`);
      return;
    }
    // Anything else is unexpected: try again, backing off.
    link.retry();
    setConn('reconnecting');
  }

  function onMessage(msg) {
    const handler = HANDLERS[msg.t];
    if (handler) handler(msg);
    // Unknown types are ignored, as the protocol asks of clients.
  }

  // Send one client message (exactly the fields of its schema). Returns whether it went out.
  function send(message, errorNode = dom.lobbyError) {
    if (!link.isOpen()) {
      showError(errorNode, 'Not connected to the lobby yet; try again in a moment.');
      return false;
    }
    if (!link.send(message)) {
      showError(errorNode, 'Slow down: too many actions at once.');
      return false;
    }
    return true;
  }

  function chatAllows(now) {
    const refills = Math.floor((now - sock.chatRefillAt) / CHAT_REFILL_MS);
    if (refills > 0) {
      sock.chatTokens = Math.min(CHAT_BURST, sock.chatTokens + refills);
      sock.chatRefillAt += refills * CHAT_REFILL_MS;
    }
    if (sock.chatTokens >= CHAT_BURST) sock.chatRefillAt = now;
    if (sock.chatTokens < 1) return false;
    sock.chatTokens -= 1;
    return true;
  }

  // --------------------------------------------------------- server messages

  const HANDLERS = {
    [T.WELCOME](msg) {
      const me = msg.me || {};
      state.me = { id: me.id, n: me.n, guest: Boolean(me.guest) };
      state.signedIn = true;
      state.welcomed = true;
      state.ratings = { ...(msg.ratings || {}) };
      state.online = msg.online || 0;
      state.players = new Map((msg.players || []).map((p) => [p.id, p.n]));
      state.chat = (msg.chat || []).slice(-CHAT_KEEP);
      state.rooms = new Map((msg.rooms || []).map((r) => [r.code, r]));
      if (Array.isArray(msg.modes) && msg.modes.length) server.modes = msg.modes;
      if (Array.isArray(msg.games) && msg.games.length) server.games = msg.games;
      renderModes();
      renderGameOptions();
      // Party, queue and room follow in their own messages right after this one, and the
      // ready check and invitations if there are any: forget what an earlier socket said.
      state.invites.clear();
      state.check = null;
      link.resetBackoff();
      setConn('online');
      renderAll();
    },

    [T.PRESENCE](msg) {
      state.online = msg.online;
      for (const p of msg.joined || []) state.players.set(p.id, p.n);
      for (const id of msg.left || []) state.players.delete(id);
      renderOnline();
    },

    chat(msg) {
      const { t, ...line } = msg;
      state.chat.push(line);
      if (state.chat.length > CHAT_KEEP) state.chat.shift();
      appendChat(line);
    },

    [T.PARTY](msg) {
      state.party = { id: msg.id, leader: msg.leader, members: msg.members || [], invited: msg.invited || [] };
      if (msg.id) state.invites.delete(msg.id);
      renderParty();
      renderOnline();
      renderQueue();
    },

    [T.PARTY_INVITED](msg) {
      state.invites.set(msg.party, {
        party: msg.party,
        from: msg.from,
        expiresAt: performance.now() + (msg.expires_in || 0) * 1000,
      });
      renderParty();
      if (currentScreen() === 'lobby') game.showToast(`${msg.from.n} invited you to a party`, 'info');
    },

    [T.QUEUE](msg) {
      const { t, ...queue } = msg;
      state.queue = queue;
      renderQueue();
    },

    [T.MATCH_FOUND](msg) {
      state.check = {
        check: msg.check,
        mode: msg.mode,
        players: msg.players || [],
        timeout: msg.timeout,
        deadline: performance.now() + (msg.timeout || 0) * 1000,
        accepted: [],
        answer: null,
      };
      state.lastCancel = null;
      showNotice('');
      showError(dom.readyError, '');
      renderCheck();
      renderQueue();
    },

    [T.READY_UPDATE](msg) {
      if (!state.check || state.check.check !== msg.check) return;
      state.check.accepted = msg.accepted || [];
      if (state.check.accepted.some(isMe)) state.check.answer = true;
      renderCheck();
    },

    [T.MATCH_CANCELLED](msg) {
      const { t, ...cancel } = msg;
      state.lastCancel = cancel;
      if (state.check && state.check.check === msg.check) state.check = null;
      const why = CANCEL_REASONS[msg.reason] || msg.reason;
      const next = msg.requeued ? 'You are back in the queue.' : 'You are no longer queued.';
      showNotice(`Match cancelled: ${why}. ${next}`);
      renderCheck();
      renderQueue();
    },

    [T.MATCH_READY](msg) {
      const { t, ticket, ...match } = msg;
      state.match = match;
      state.check = null;
      showNotice('');
      renderCheck();
      renderQueue();
      // Already on it (a reload on the seat's link, or the message again for a new socket).
      const current = game.currentMatch();
      if (current && current.id === msg.match) return;
      game.startGame(msg.match, ticket, { mode: msg.mode, team: msg.team });
    },

    [T.ROOM](msg) {
      const { t, ...room } = msg;
      if (room.code && !state.room) {
        dom.joinCode.value = '';
        showError(dom.roomError, '');
      }
      state.room = room.code ? room : null;
      renderRoom();
      renderQueue();
    },

    [T.ROOM_LISTED](msg) {
      const room = msg.room || {};
      if (msg.event === 'created' || msg.event === 'updated') state.rooms.set(room.code, room);
      else state.rooms.delete(room.code);
      renderRooms();
    },

    [T.RATING](msg) {
      const { t, ...change } = msg;
      state.ratings[msg.mode] = msg.after;
      state.ratingChanges.push(change);
      renderRatings();
      const text = ratingText(change);
      game.showToast(text, 'info');
      game.addResultsNote(msg.match, text, ratingWhy(change));
    },

    [T.ERROR](msg) {
      state.errors.push({ code: msg.code, detail: msg.detail, re: msg.re || null, at: Date.now() });
      if (state.errors.length > ERRORS_KEEP) state.errors.shift();
      if (msg.code === ERROR.UNAUTHENTICATED || msg.code === ERROR.SIGNED_OUT) return; // the 4401 close follows
      showError(errorNodeFor(msg), errorText(msg.code, msg.detail));
    },

    [T.PONG]() {}, // the link keeps the answers to its own pings
  };

  function errorNodeFor(msg) {
    const re = msg.re || '';
    if (!re && performance.now() - sock.lastChatAt < CHAT_ERROR_WINDOW_MS) return dom.chatError;
    if (re.startsWith('party_')) return dom.partyError;
    if (re.startsWith('queue_')) return dom.queueError;
    if (re === 'ready') return state.check ? dom.readyError : dom.lobbyError;
    if (re === 'room_create' || re === 'room_join') return dom.roomError;
    if (re === 'room_leave' || re === 'room_start') return dom.roomPanelError;
    return dom.lobbyError;
  }

  function ratingText(change) {
    const delta = change.after - change.before;
    const sign = delta > 0 ? '+' : delta < 0 ? '\u2212' : '\u00b1';
    return `${modeName(change.mode)} rating ${change.before} \u2192 ${change.after} (${sign}${Math.abs(delta)})`;
  }

  // How the change came about: the result moves the skill estimate, and every rated match
  // makes the estimate surer, which raises the (conservative) number shown. E.g. "Draw: +0 for
  // the result, +32 as the rating grows more certain".
  function ratingWhy(change) {
    if (typeof change.skill !== 'number' || typeof change.certainty !== 'number') return '';
    const outcome = change.outcome === 'place' ? `${ordinal(change.rank)} place`
      : OUTCOME_NAMES[change.outcome] || `Rank ${change.rank}`;
    const surer = change.certainty >= 0 ? 'grows more certain' : 'grows less certain';
    return `${outcome}: ${signed(change.skill)} for the result, ${signed(change.certainty)} as the rating ${surer}`;
  }

  // ----------------------------------------------------------------- actions

  function queueJoin(mode) {
    showError(dom.queueError, '');
    send({ t: T.QUEUE_JOIN, mode }, dom.queueError);
  }

  function answerCheck(accept) {
    const check = state.check;
    if (!check || check.answer !== null) return;
    if (send({ t: T.READY, check: check.check, accept }, dom.readyError)) {
      check.answer = accept;
      renderCheck();
    }
  }

  function onChatSubmit(event) {
    event.preventDefault();
    const text = dom.chatInput.value.trim();
    if (!text) return;
    if (Array.from(text).length > CHAT_MAX) {
      showError(dom.chatError, `A message has at most ${CHAT_MAX} characters.`);
      return;
    }
    if (!chatAllows(performance.now())) {
      showError(dom.chatError, 'Slow down: wait a moment before sending more.');
      return;
    }
    if (send({ t: T.CHAT, text }, dom.chatError)) {
      sock.lastChatAt = performance.now();
      dom.chatInput.value = '';
      showError(dom.chatError, '');
    }
  }

  function onRoomCreate(event) {
    event.preventDefault();
    const message = {
      t: T.ROOM_CREATE,
      mode: dom.roomMode.value,
      max: Number.parseInt(dom.roomMax.value, 10),
      public: dom.roomPublic.checked,
    };
    if (dom.roomPassword.value) message.password = dom.roomPassword.value;
    // `game` only when not the mode's own (absent: the mode's game).
    const own = (modeInfo(message.mode) || {}).game;
    if (dom.roomGame.value && dom.roomGame.value !== own) message.game = dom.roomGame.value;
    showError(dom.roomError, '');
    if (send(message, dom.roomError)) dom.roomPassword.value = '';
  }

  function roomJoin(code, password) {
    const message = { t: T.ROOM_JOIN, code: code.trim().toUpperCase() };
    if (password) message.password = password;
    showError(dom.roomError, '');
    return send(message, dom.roomError);
  }

  function onRoomJoin(event) {
    event.preventDefault();
    const code = dom.joinCode.value.trim();
    if (!code) return;
    if (roomJoin(code, dom.joinPassword.value)) {
      dom.joinPassword.value = '';
    }
  }

  function onListedRoomClick(room) {
    if (room.locked) {
      // A locked room needs its password: prefill the code and ask for it.
      dom.joinCode.value = room.code;
      dom.joinPassword.focus();
      showError(dom.roomError, `Room ${room.code} is locked: enter its password and press Join room.`);
      return;
    }
    roomJoin(room.code, '');
  }

  // A room's (fewest players to start, most allowed), as the matchmaker has them: the game's
  // range capped by the mode's full match; a team mode needs a player per team.
  function roomLimits(mode, game) {
    const spec = modeInfo(mode) || { players: 8, team_size: 1 };
    const info = gameInfo(game || spec.game) || { min: 2, max: spec.players };
    const teams = spec.team_size > 1 ? Math.floor(spec.players / spec.team_size) : 1;
    return [Math.max(info.min, teams), Math.min(info.max, spec.players)];
  }

  // Games a mode can play in a room: a team mode only games some team mode plays.
  function playsIn(mode, game) {
    const spec = modeInfo(mode);
    if (!spec || spec.team_size <= 1) return true;
    return server.modes.some((m) => m.game === game && m.team_size > 1);
  }

  function renderGameOptions() {
    const previous = dom.roomGame.value;
    const mode = dom.roomMode.value;
    dom.roomGame.replaceChildren(...server.games.map((g) => el('option', {
      value: g.game,
      textContent: gameTitle(g.game),
      disabled: !playsIn(mode, g.game),
    })));
    const fallback = (modeInfo(mode) || {}).game || (server.games[0] || {}).game || '';
    const keep = server.games.some((g) => g.game === previous && playsIn(mode, g.game));
    dom.roomGame.value = keep ? previous : fallback;
    dom.roomGame.closest('label').hidden = server.games.length < 2 && !severalGames();
    updateRoomMaxOptions();
  }

  function updateRoomMaxOptions() {
    const [low, high] = roomLimits(dom.roomMode.value, dom.roomGame.value);
    const previous = Number(dom.roomMax.value) || high;
    dom.roomMax.replaceChildren();
    for (let n = low; n <= high; n++) {
      dom.roomMax.append(el('option', { value: String(n), textContent: String(n) }));
    }
    dom.roomMax.value = String(Math.min(high, Math.max(low, previous)));
  }

  // ---------------------------------------------------------------- rendering

  function renderAll() {
    renderMe();
    renderConn();
    renderRatings();
    renderOnline();
    renderChat();
    renderParty();
    renderQueue();
    renderCheck();
    renderRoom();
    renderRooms();
  }

  function renderMe() {
    const me = state.me;
    dom.me.replaceChildren(...(me ? [
      el('span', { className: 'me-name', textContent: me.n }),
      ...(me.guest ? [el('span', { className: 'tag', textContent: 'guest' })] : []),
    ] : []));
  }

  function renderConn() {
    const text = { online: 'online', connecting: 'connecting\u2026', reconnecting: 'reconnecting\u2026', offline: 'offline' };
    dom.conn.textContent = text[state.conn] || state.conn;
    dom.conn.dataset.state = state.conn;
    dom.reconnect.hidden = !(state.signedIn && state.conn === 'offline');
  }

  function renderRatings() {
    const rated = server.modes.filter((m) => m.rated !== false).map((m) => m.mode);
    dom.ratings.replaceChildren(...rated.map((mode) => {
      const value = state.ratings[mode];
      const last = [...state.ratingChanges].reverse().find((c) => c.mode === mode);
      const item = el('span', { className: 'rating' }, [
        el('span', { className: 'rating-mode', textContent: modeName(mode) }),
        el('span', { className: 'rating-value', textContent: value == null ? '-' : String(value) }),
      ]);
      item.dataset.mode = mode;
      if (last) {
        const delta = last.after - last.before;
        const badge = el('span', {
          className: `rating-delta ${delta >= 0 ? 'up' : 'down'}`,
          textContent: `${delta >= 0 ? '+' : '\u2212'}${Math.abs(delta)}`,
        });
        badge.title = ratingText(last);
        item.append(badge);
      }
      return item;
    }));
  }

  function renderOnline() {
    dom.onlineCount.textContent = String(state.online);
    const partyIds = new Set(state.party.members.map((m) => m.id));
    const invited = new Set(state.party.invited);
    const canInvite = !inParty() || isLeader();
    const people = [...state.players].sort(([a, an], [b, bn]) =>
      (isMe(b) - isMe(a)) || an.localeCompare(bn) || a - b);
    dom.onlineList.replaceChildren(...people.map(([id, name]) => {
      const item = el('li', {}, [el('span', { className: 'person-name', textContent: name })]);
      item.dataset.id = String(id);
      if (isMe(id)) {
        item.classList.add('me');
        item.append(el('span', { className: 'tag', textContent: 'you' }));
      } else if (partyIds.has(id)) {
        item.append(el('span', { className: 'tag', textContent: 'in your party' }));
      } else if (canInvite) {
        const button = el('button', {
          type: 'button',
          className: 'small',
          textContent: invited.has(id) ? 'Invited' : 'Invite',
          disabled: invited.has(id),
        });
        button.setAttribute('aria-label', `Invite ${name}`);
        button.addEventListener('click', () => {
          showError(dom.partyError, '');
          send({ t: T.PARTY_INVITE, player: id }, dom.partyError);
        });
        item.append(button);
      }
      return item;
    }));
  }

  function chatItem(line) {
    const at = new Date(line.at);
    const time = Number.isFinite(at.getTime())
      ? `${String(at.getHours()).padStart(2, '0')}:${String(at.getMinutes()).padStart(2, '0')}`
      : '';
    const sender = line.from || {};
    const item = el('li', {}, [
      el('time', { textContent: time }),
      el('strong', { textContent: sender.n || '?' }),
      el('span', { className: 'chat-text', textContent: line.text }),
    ]);
    item.classList.toggle('mine', isMe(sender.id));
    return item;
  }

  function renderChat() {
    dom.chatLog.replaceChildren(...state.chat.map(chatItem));
    dom.chatLog.scrollTop = dom.chatLog.scrollHeight;
  }

  function appendChat(line) {
    const log = dom.chatLog;
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.append(chatItem(line));
    while (log.children.length > CHAT_KEEP) log.firstChild.remove();
    if (atBottom || isMe((line.from || {}).id)) log.scrollTop = log.scrollHeight;
  }

  function renderParty() {
    const now = performance.now();
    dom.inbox.replaceChildren(...[...state.invites.values()].map((invite) => {
      const seconds = Math.max(0, Math.ceil((invite.expiresAt - now) / 1000));
      const accept = el('button', { type: 'button', className: 'small', textContent: 'Accept' });
      const decline = el('button', { type: 'button', className: 'small secondary', textContent: 'Decline' });
      accept.addEventListener('click', () => {
        showError(dom.partyError, '');
        send({ t: T.PARTY_ACCEPT, party: invite.party }, dom.partyError);
      });
      decline.addEventListener('click', () => {
        if (send({ t: T.PARTY_DECLINE, party: invite.party }, dom.partyError)) {
          state.invites.delete(invite.party);
          renderParty();
        }
      });
      const item = el('li', {}, [
        el('span', { className: 'invite-text' }, [
          `${invite.from.n} invited you to their party `,
          el('span', { className: 'hint expires', textContent: `(${seconds} s)` }),
        ]),
        accept, decline,
      ]);
      item.dataset.party = String(invite.party);
      return item;
    }));

    const party = state.party;
    dom.partyEmpty.hidden = inParty();
    dom.partyLeave.hidden = !inParty();
    dom.partyMembers.replaceChildren(...party.members.map((m) => {
      const item = el('li', {}, [el('span', { className: 'person-name', textContent: m.n })]);
      item.dataset.id = String(m.id);
      if (m.id === party.leader) {
        item.classList.add('leader');
        item.append(el('span', { className: 'tag leader-mark', textContent: '\u2605 leader', title: 'Party leader' }));
      }
      if (isMe(m.id)) item.append(el('span', { className: 'tag', textContent: 'you' }));
      if (isLeader() && !isMe(m.id)) {
        const kick = el('button', { type: 'button', className: 'small danger', textContent: 'Kick' });
        kick.setAttribute('aria-label', `Kick ${m.n}`);
        kick.addEventListener('click', () => send({ t: T.PARTY_KICK, player: m.id }, dom.partyError));
        item.append(kick);
      }
      return item;
    }));
    const pending = party.invited.map(nameOf);
    dom.partyPending.hidden = pending.length === 0;
    dom.partyPending.textContent = pending.length ? `Invited: ${pending.join(', ')}` : '';
  }

  // What a mode needs before its match starts: "8 players; starts with 3 after 20 s", or, while
  // queued for it, "3 queued of 8, starts with 3 after 20 s".
  function modeHint(info, queue) {
    const smaller = info.min < info.players ? `, starts with ${info.min} after ${info.wait} s` : '';
    const teams = info.team_size > 1 ? ` (teams of ${info.team_size})` : '';
    if (!queue) return `${info.players} players${teams}${smaller}`;
    let hint = `${queue.size} queued of ${info.players}${smaller}`;
    if (typeof queue.need === 'number' && queue.need > queue.size) {
      const more = queue.need - queue.size;
      hint += ` \u00b7 ${more} more needed`;
    }
    return hint;
  }

  // One row per mode: its queue button and its hint (ids and labels as "Queue duel").
  function renderModes() {
    dom.queueModes.replaceChildren(...server.modes.map((info) => {
      const button = el('button', {
        type: 'button',
        id: `queue-${info.mode}`,
        textContent: `Queue ${modeName(info.mode).toLowerCase()}`,
      });
      button.dataset.mode = info.mode;
      button.addEventListener('click', () => queueJoin(info.mode));
      // With several games, which one the mode plays.
      const played = severalGames() ? [el('span', { className: 'mode-game tag', textContent: gameTitle(info.game) })] : [];
      const item = el('li', {}, [button, ...played, el('span', { className: 'mode-hint' })]);
      item.dataset.mode = info.mode;
      return item;
    }));
    const previous = dom.roomMode.value;
    dom.roomMode.replaceChildren(...server.modes.map((info) => el('option', {
      value: info.mode, textContent: modeName(info.mode),
    })));
    const modes = server.modes.map((m) => m.mode);
    dom.roomMode.value = modes.includes(previous) ? previous : modes.includes('ffa') ? 'ffa' : modes[0];
    renderQueue();
  }

  function renderQueue() {
    const q = state.queue;
    const queued = Boolean(q.mode);
    const busy = queued || Boolean(state.check) || Boolean(state.room);
    const follower = inParty() && !isLeader();
    for (const item of dom.queueModes.children) {
      const mode = item.dataset.mode;
      const button = item.querySelector('button');
      const info = modeInfo(mode);
      button.disabled = busy || follower;
      button.title = follower ? 'Only the party leader can queue the party' : '';
      const hint = item.querySelector('.mode-hint');
      hint.textContent = info ? `${modeHint(info, q.mode === mode ? q : null)}` : '';
      item.classList.toggle('queued', q.mode === mode);
    }
    dom.queueStatus.hidden = !queued;
    if (queued) {
      const info = modeInfo(q.mode);
      dom.queueText.textContent = `Searching ${modeName(q.mode)}: ${q.waited} s waited \u00b7 `
        + `rating ${q.rating} \u00b1 ${q.window} \u00b7 `
        + (info ? modeHint(info, q) : `${q.size} waiting`);
    }
    dom.queueLeave.hidden = !queued; // any member may take the party out of the queue
  }

  function renderCheck() {
    const check = state.check;
    dom.readyDialog.hidden = !check;
    if (!check) return;
    const accepted = new Set(check.accepted);
    dom.readyTitle.textContent = `Match found: ${modeName(check.mode)}`;
    const teams = new Map();
    for (const p of check.players) {
      const key = p.team >= 0 && check.mode === 'team' ? p.team : -1;
      if (!teams.has(key)) teams.set(key, []);
      teams.get(key).push(p);
    }
    const colours = (game.teams && game.teams.colours) || [];
    const names = (game.teams && game.teams.names) || [];
    dom.readyPlayers.replaceChildren(...[...teams].map(([team, players]) => {
      const heading = team >= 0 ? el('h3', { textContent: `${names[team] || 'Team'} team` }) : null;
      if (heading && colours[team]) heading.style.color = colours[team];
      const list = el('ul', { className: 'people' }, players.map((p) => {
        const item = el('li', {}, [
          el('span', { className: 'person-name', textContent: p.n + (isMe(p.id) ? ' (you)' : '') }),
          el('span', {
            className: `tag ${accepted.has(p.id) ? 'accepted' : 'pending'}`,
            textContent: accepted.has(p.id) ? '\u2713 accepted' : 'waiting',
          }),
        ]);
        item.dataset.id = String(p.id);
        item.classList.toggle('accepted', accepted.has(p.id));
        return item;
      }));
      return el('div', { className: 'ready-team' }, heading ? [heading, list] : [list]);
    }));
    dom.readyStatus.textContent = `${accepted.size}/${check.players.length} accepted`
      + (check.answer === true ? ' \u00b7 waiting for the others' : '');
    dom.readyAccept.disabled = check.answer !== null;
    dom.readyDecline.disabled = check.answer !== null;
    renderCountdown();
  }

  function renderCountdown() {
    if (!state.check) return;
    const seconds = Math.max(0, Math.ceil((state.check.deadline - performance.now()) / 1000));
    dom.readyCountdown.textContent = `${seconds} s`;
  }

  function renderRoom() {
    const room = state.room;
    dom.roomPanel.hidden = !room;
    dom.roomCreateForm.querySelector('button').disabled = Boolean(room);
    dom.roomJoinForm.querySelector('button').disabled = Boolean(room);
    if (!room) return;
    dom.roomCode.textContent = room.code;
    const host = room.host || {};
    const played = room.game ? `${gameTitle(room.game)} \u00b7 ` : '';
    dom.roomInfo.textContent = `${played}${modeName(room.mode)} \u00b7 ${room.count}/${room.max} players \u00b7 `
      + `${room.public ? 'public' : 'private'}${room.locked ? ', password' : ''} \u00b7 host ${host.n || '?'}`
      + ' \u00b7 share the code to invite';
    dom.roomMembers.replaceChildren(...(room.members || []).map((m) => {
      const item = el('li', {}, [el('span', { className: 'person-name', textContent: m.n })]);
      item.dataset.id = String(m.id);
      if (m.id === host.id) item.append(el('span', { className: 'tag leader-mark', textContent: '\u2605 host' }));
      if (isMe(m.id)) item.append(el('span', { className: 'tag', textContent: 'you' }));
      return item;
    }));
    const amHost = isMe(host.id);
    dom.roomStart.hidden = !amHost;
    const low = roomLimits(room.mode, room.game)[0];
    dom.roomStart.disabled = (room.members || []).length < low;
    dom.roomStart.title = dom.roomStart.disabled ? `Needs at least ${low} players` : '';
  }

  function renderRooms() {
    const rooms = [...state.rooms.values()];
    dom.roomsCount.textContent = String(rooms.length);
    dom.roomsEmpty.hidden = rooms.length > 0;
    dom.roomList.replaceChildren(...rooms.map((room) => {
      const host = room.host || {};
      const button = el('button', { type: 'button', className: 'room-item secondary' }, [
        el('span', { className: 'room-mode', textContent: room.game && severalGames()
          ? `${gameTitle(room.game)} \u00b7 ${modeName(room.mode)}` : modeName(room.mode) }),
        el('span', { className: 'room-host', textContent: `${host.n || '?'}'s room` }),
        el('span', { className: 'room-count', textContent: `${room.count}/${room.max}` }),
        el('span', { className: 'room-code code', textContent: room.code }),
        ...(room.locked ? [el('span', { className: 'tag', textContent: 'password' })] : []),
      ]);
      button.setAttribute('aria-label',
        `Room ${room.code}: ${modeName(room.mode)}, ${host.n || '?'}'s room, ${room.count}/${room.max}`);
      button.disabled = Boolean(state.room);
      button.addEventListener('click', () => onListedRoomClick(room));
      const item = el('li', {}, [button]);
      item.dataset.code = room.code;
      return item;
    }));
  }

  // Countdowns: the ready check and invitation expiries.
  function onClock() {
    if (state.check) renderCountdown();
    const now = performance.now();
    let expired = false;
    for (const [id, invite] of state.invites) {
      if (invite.expiresAt <= now) {
        state.invites.delete(id);
        expired = true;
      }
    }
    if (state.invites.size || expired) renderParty();
  }

  // ------------------------------------------------------------- debug hook

  // Read-only copy of what the lobby knows, for the browser tests and the devtools console.
  window.lobbyDebug = () => JSON.parse(JSON.stringify({
    screen: currentScreen(),
    conn: state.conn,
    signedIn: state.signedIn,
    welcomed: state.welcomed,
    me: state.me,
    ratings: state.ratings,
    ratingChanges: state.ratingChanges,
    online: state.online,
    players: [...state.players].map(([id, n]) => ({ id, n })),
    chat: state.chat,
    party: state.party,
    invites: [...state.invites.values()].map(({ party, from }) => ({ party, from })),
    queue: state.queue,
    modes: server.modes,
    games: server.games,
    check: state.check && {
      check: state.check.check,
      mode: state.check.mode,
      players: state.check.players,
      accepted: state.check.accepted,
      answer: state.check.answer,
      remaining: Math.max(0, Math.ceil((state.check.deadline - performance.now()) / 1000)),
    },
    lastCancel: state.lastCancel,
    room: state.room,
    rooms: [...state.rooms.values()],
    match: state.match,
    errors: state.errors,
  }));

  // ------------------------------------------------------------------- attach

  function bindEvents() {
    dom.guestForm.addEventListener('submit', onGuestSubmit);
    dom.accountForm.addEventListener('submit', onAccountSubmit);
    dom.signout.addEventListener('click', signOut);
    dom.reconnect.addEventListener('click', () => {
      link.resetBackoff();
      connect();
    });
    dom.queueLeave.addEventListener('click', () => send({ t: T.QUEUE_LEAVE }, dom.queueError));
    dom.readyAccept.addEventListener('click', () => answerCheck(true));
    dom.readyDecline.addEventListener('click', () => answerCheck(false));
    dom.partyLeave.addEventListener('click', () => send({ t: T.PARTY_LEAVE }, dom.partyError));
    dom.chatForm.addEventListener('submit', onChatSubmit);
    dom.roomCreateForm.addEventListener('submit', onRoomCreate);
    dom.roomMode.addEventListener('change', renderGameOptions);
    dom.roomGame.addEventListener('change', updateRoomMaxOptions);
    dom.roomJoinForm.addEventListener('submit', onRoomJoin);
    dom.roomStart.addEventListener('click', () => send({ t: T.ROOM_START }, dom.roomPanelError));
    dom.roomLeave.addEventListener('click', () => send({ t: T.ROOM_LEAVE }, dom.roomPanelError));
    renderModes();
    renderGameOptions();
    setInterval(onClock, CLOCK_MS);
  }

  function readMe() {
    const node = document.getElementById('me-data');
    try {
      const me = node ? JSON.parse(node.textContent) : null;
      return me && typeof me.id === 'number' ? me : null;
    } catch {
      return null;
    }
  }

  window.ArenaLobby = {
    attach(gameInterface) {
      game = gameInterface;
      bindEvents();
      return {
        // Open on the lobby if the page says we are signed in, else on sign-in; during a game
        // (a reload on a seat's link) only connect in the background.
        start({ inGame = false } = {}) {
          const me = readMe();
          if (me) {
            state.me = { id: me.id, n: me.name, guest: Boolean(me.guest) };
            state.signedIn = true;
            game.practiceName(me.name);
            connect();
            if (!inGame) showLobby();
          } else if (!inGame) {
            showSignIn();
          }
        },
        signedIn: () => state.signedIn,
        backToLobby() {
          game.leaveGame();
          if (!state.signedIn) {
            showSignIn();
            return;
          }
          if (!link.active) connect();
          showLobby();
        },
        // The game's end message arrived; a rating push for it may have come first.
        matchEnded(matchId) {
          for (const change of state.ratingChanges) {
            if (change.match === matchId) game.addResultsNote(matchId, ratingText(change), ratingWhy(change));
          }
        },
      };
    },
  };
})();
