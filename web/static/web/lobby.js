// Lobby client: sign-in over HTTP (guest, log in, register), then one WebSocket to /ws/lobby/
// (binary msgpack frames through the vendored MessagePack global) for presence, chat, parties,
// queues, ready checks, rooms and rating pushes.
//
// Loaded before client.js, which calls window.ArenaLobby.attach(game) at boot. `game` is the
// game's side of the interface (startGame, leaveGame, currentMatch, addResultsNote, showScreen,
// showToast, readCookie, practiceForm, practiceName, teams); attach returns the lobby's side
// (start, signedIn, backToLobby, matchEnded). Nothing else crosses between the two files.
(() => {
  'use strict';

  // ---------------------------------------------------------------- constants

  const LOBBY_PATH = '/ws/lobby/';
  const API_AUTH = {
    guest: '/api/auth/guest/',
    login: '/api/auth/login/',
    register: '/api/auth/register/',
    logout: '/api/auth/logout/',
  };
  const MODES = ['duel', 'team', 'ffa'];
  const MODE_NAMES = { duel: 'Duel', team: 'Team 2v2', ffa: 'Free-for-all' };
  // Room sizes by mode (fewest to start, most allowed), as lobby/matchmaker/state.py has them.
  const ROOM_LIMITS = { duel: [2, 2], team: [2, 4], ffa: [2, 8] };
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
  const RECONNECT_BASE_MS = 1000;
  const RECONNECT_MAX_MS = 15000;
  const CLOCK_MS = 250;
  // Closes after which this client must not reconnect by itself (docs/protocol.md, section 10):
  // 4400 and 4429 mean it broke the rules; a person decides whether to try again.
  const NO_RECONNECT = { 4400: 'the server refused messages from this client', 4429: 'too many messages' };
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
      queue: { mode: '', waited: 0, window: 0, rating: 0, size: 0 },
      check: null,          // {check, mode, players, deadline, accepted, answer}
      lastCancel: null,     // the last match_cancelled
      room: null,           // the room this player is in (with members)
      rooms: new Map(),     // code -> open public room
      errors: [],           // [{code, detail, re, at}]
      match: null,          // the last match_ready (without the ticket)
    };
  }
  let state = freshState();

  const sock = {
    ws: null,
    closing: false,         // we closed it on purpose: no reconnect
    retries: 0,
    retryTimer: null,
    pingTimer: null,
    pingId: 0,
    sendTimes: [],
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
    queueButtons: [...document.querySelectorAll('#queue-buttons button')],
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

  const modeName = (mode) => MODE_NAMES[mode] || mode;
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
    // Close first, with 1000: the lobby lets a deliberate leave go at once (a drop gets a grace).
    disconnect();
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

  function socketUrl() {
    const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    return `${scheme}${location.host}${LOBBY_PATH}`;
  }

  function setConn(conn) {
    state.conn = conn;
    renderConn();
  }

  function connect() {
    clearTimeout(sock.retryTimer);
    sock.retryTimer = null;
    sock.closing = false;
    const ws = new WebSocket(socketUrl());
    ws.binaryType = 'arraybuffer';
    sock.ws = ws;
    setConn(sock.retries ? 'reconnecting' : 'connecting');
    ws.addEventListener('open', () => {
      if (ws !== sock.ws) return;
      clearInterval(sock.pingTimer);
      sock.pingTimer = setInterval(sendPing, PING_INTERVAL_MS);
    });
    ws.addEventListener('message', (event) => onMessage(ws, event));
    ws.addEventListener('close', (event) => onClose(ws, event));
  }

  function disconnect() {
    const ws = sock.ws;
    sock.ws = null;
    sock.closing = true;
    clearTimeout(sock.retryTimer);
    sock.retryTimer = null;
    clearInterval(sock.pingTimer);
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000);
    state.conn = 'offline';
  }

  function onClose(ws, event) {
    if (ws !== sock.ws) return;
    sock.ws = null;
    clearInterval(sock.pingTimer);
    if (sock.closing) return;
    if (event.code === 4401) {
      signedOut('Your session has ended: sign in again.');
      return;
    }
    if (event.code in NO_RECONNECT) {
      setConn('offline');
      showError(dom.lobbyError, `Disconnected from the lobby: ${NO_RECONNECT[event.code]} (${event.code}).`);
      return;
    }
    // Anything else is unexpected: try again, backing off.
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** Math.min(sock.retries, 4));
    sock.retries += 1;
    setConn('reconnecting');
    sock.retryTimer = setTimeout(connect, delay);
  }

  function onMessage(ws, event) {
    if (ws !== sock.ws) return;
    if (!(event.data instanceof ArrayBuffer)) {
      console.warn('Ignoring a non-binary lobby frame');
      return;
    }
    let msg;
    try {
      msg = MessagePack.decode(new Uint8Array(event.data));
    } catch (err) {
      console.warn('Undecodable lobby frame', err);
      return;
    }
    const handler = msg && HANDLERS[msg.t];
    if (handler) handler(msg);
    // Unknown types are ignored, as the protocol asks of clients.
  }

  function rateAllows(now) {
    while (sock.sendTimes.length && now - sock.sendTimes[0] >= SEND_WINDOW_MS) sock.sendTimes.shift();
    return sock.sendTimes.length < SEND_MAX_PER_WINDOW;
  }

  // Send one client message (exactly the fields of its schema). Returns whether it went out.
  function send(message, errorNode = dom.lobbyError) {
    const ws = sock.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      showError(errorNode, 'Not connected to the lobby yet; try again in a moment.');
      return false;
    }
    const now = performance.now();
    if (!rateAllows(now)) {
      showError(errorNode, 'Slow down: too many actions at once.');
      return false;
    }
    ws.send(MessagePack.encode(message));
    sock.sendTimes.push(now);
    return true;
  }

  function sendPing() {
    sock.pingId = (sock.pingId % 2147483647) + 1;
    send({ t: 'ping', id: sock.pingId });
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
    welcome(msg) {
      const me = msg.me || {};
      state.me = { id: me.id, n: me.n, guest: Boolean(me.guest) };
      state.signedIn = true;
      state.welcomed = true;
      state.ratings = { ...(msg.ratings || {}) };
      state.online = msg.online || 0;
      state.players = new Map((msg.players || []).map((p) => [p.id, p.n]));
      state.chat = (msg.chat || []).slice(-CHAT_KEEP);
      state.rooms = new Map((msg.rooms || []).map((r) => [r.code, r]));
      // Party, queue and room follow in their own messages right after this one, and the
      // ready check and invitations if there are any: forget what an earlier socket said.
      state.invites.clear();
      state.check = null;
      sock.retries = 0;
      setConn('online');
      renderAll();
    },

    presence(msg) {
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

    party(msg) {
      state.party = { id: msg.id, leader: msg.leader, members: msg.members || [], invited: msg.invited || [] };
      if (msg.id) state.invites.delete(msg.id);
      renderParty();
      renderOnline();
      renderQueue();
    },

    party_invited(msg) {
      state.invites.set(msg.party, {
        party: msg.party,
        from: msg.from,
        expiresAt: performance.now() + (msg.expires_in || 0) * 1000,
      });
      renderParty();
      if (currentScreen() === 'lobby') game.showToast(`${msg.from.n} invited you to a party`, 'info');
    },

    queue(msg) {
      const { t, ...queue } = msg;
      state.queue = queue;
      renderQueue();
    },

    match_found(msg) {
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

    ready_update(msg) {
      if (!state.check || state.check.check !== msg.check) return;
      state.check.accepted = msg.accepted || [];
      if (state.check.accepted.some(isMe)) state.check.answer = true;
      renderCheck();
    },

    match_cancelled(msg) {
      const { t, ...cancel } = msg;
      state.lastCancel = cancel;
      if (state.check && state.check.check === msg.check) state.check = null;
      const why = CANCEL_REASONS[msg.reason] || msg.reason;
      const next = msg.requeued ? 'You are back in the queue.' : 'You are no longer queued.';
      showNotice(`Match cancelled: ${why}. ${next}`);
      renderCheck();
      renderQueue();
    },

    match_ready(msg) {
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

    room(msg) {
      const { t, ...room } = msg;
      if (room.code && !state.room) {
        dom.joinCode.value = '';
        showError(dom.roomError, '');
      }
      state.room = room.code ? room : null;
      renderRoom();
      renderQueue();
    },

    room_listed(msg) {
      const room = msg.room || {};
      if (msg.event === 'created' || msg.event === 'updated') state.rooms.set(room.code, room);
      else state.rooms.delete(room.code);
      renderRooms();
    },

    rating(msg) {
      const { t, ...change } = msg;
      state.ratings[msg.mode] = msg.after;
      state.ratingChanges.push(change);
      renderRatings();
      const text = ratingText(change);
      game.showToast(text, 'info');
      game.addResultsNote(msg.match, text);
    },

    error(msg) {
      state.errors.push({ code: msg.code, detail: msg.detail, re: msg.re || null, at: Date.now() });
      if (state.errors.length > ERRORS_KEEP) state.errors.shift();
      if (msg.code === 'unauthenticated' || msg.code === 'signed_out') return; // the 4401 close follows
      showError(errorNodeFor(msg), errorText(msg.code, msg.detail));
    },

    pong() {},
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

  // ----------------------------------------------------------------- actions

  function queueJoin(mode) {
    showError(dom.queueError, '');
    send({ t: 'queue_join', mode }, dom.queueError);
  }

  function answerCheck(accept) {
    const check = state.check;
    if (!check || check.answer !== null) return;
    if (send({ t: 'ready', check: check.check, accept }, dom.readyError)) {
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
    if (send({ t: 'chat', text }, dom.chatError)) {
      sock.lastChatAt = performance.now();
      dom.chatInput.value = '';
      showError(dom.chatError, '');
    }
  }

  function onRoomCreate(event) {
    event.preventDefault();
    const message = {
      t: 'room_create',
      mode: dom.roomMode.value,
      max: Number.parseInt(dom.roomMax.value, 10),
      public: dom.roomPublic.checked,
    };
    if (dom.roomPassword.value) message.password = dom.roomPassword.value;
    showError(dom.roomError, '');
    if (send(message, dom.roomError)) dom.roomPassword.value = '';
  }

  function roomJoin(code, password) {
    const message = { t: 'room_join', code: code.trim().toUpperCase() };
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

  function updateRoomMaxOptions() {
    const [low, high] = ROOM_LIMITS[dom.roomMode.value] || [2, 8];
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
    dom.ratings.replaceChildren(...MODES.map((mode) => {
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
          send({ t: 'party_invite', player: id }, dom.partyError);
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
        send({ t: 'party_accept', party: invite.party }, dom.partyError);
      });
      decline.addEventListener('click', () => {
        if (send({ t: 'party_decline', party: invite.party }, dom.partyError)) {
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
        kick.addEventListener('click', () => send({ t: 'party_kick', player: m.id }, dom.partyError));
        item.append(kick);
      }
      return item;
    }));
    const pending = party.invited.map(nameOf);
    dom.partyPending.hidden = pending.length === 0;
    dom.partyPending.textContent = pending.length ? `Invited: ${pending.join(', ')}` : '';
  }

  function renderQueue() {
    const q = state.queue;
    const queued = Boolean(q.mode);
    const busy = queued || Boolean(state.check) || Boolean(state.room);
    const follower = inParty() && !isLeader();
    for (const button of dom.queueButtons) {
      button.disabled = busy || follower;
      button.title = follower ? 'Only the party leader can queue the party' : '';
    }
    dom.queueStatus.hidden = !queued;
    if (queued) {
      dom.queueText.textContent = `Searching ${modeName(q.mode)}: ${q.waited} s waited \u00b7 `
        + `rating ${q.rating} \u00b1 ${q.window} \u00b7 ${q.size} waiting`;
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
    dom.roomInfo.textContent = `${modeName(room.mode)} \u00b7 ${room.count}/${room.max} players \u00b7 `
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
    const low = (ROOM_LIMITS[room.mode] || [2])[0];
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
        el('span', { className: 'room-mode', textContent: modeName(room.mode) }),
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
      sock.retries = 0;
      connect();
    });
    for (const button of dom.queueButtons) button.addEventListener('click', () => queueJoin(button.dataset.mode));
    dom.queueLeave.addEventListener('click', () => send({ t: 'queue_leave' }, dom.queueError));
    dom.readyAccept.addEventListener('click', () => answerCheck(true));
    dom.readyDecline.addEventListener('click', () => answerCheck(false));
    dom.partyLeave.addEventListener('click', () => send({ t: 'party_leave' }, dom.partyError));
    dom.chatForm.addEventListener('submit', onChatSubmit);
    dom.roomCreateForm.addEventListener('submit', onRoomCreate);
    dom.roomMode.addEventListener('change', updateRoomMaxOptions);
    dom.roomJoinForm.addEventListener('submit', onRoomJoin);
    dom.roomStart.addEventListener('click', () => send({ t: 'room_start' }, dom.roomPanelError));
    dom.roomLeave.addEventListener('click', () => send({ t: 'room_leave' }, dom.roomPanelError));
    updateRoomMaxOptions();
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
          if (!sock.ws && !sock.retryTimer) connect();
          showLobby();
        },
        // The game's end message arrived; a rating push for it may have come first.
        matchEnded(matchId) {
          for (const change of state.ratingChanges) {
            if (change.match === matchId) game.addResultsNote(matchId, ratingText(change));
          }
        },
      };
    },
  };
})();
