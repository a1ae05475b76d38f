// The client side of the wire, shared by every script of the page (lobby.js, client.js and the
// game renderers in games/): the protocol's names as gameserver/protocol has them (message
// types, phases, error codes, close codes), the msgpack codec (the vendored MessagePack global),
// and Link, one WebSocket endpoint: pings with the round trip and its jitter, a watchdog for a
// socket that went silent, the client's own cap on what it sends, a meter of bytes received,
// and reconnect timing (exponential backoff with jitter). What a close means (reconnect, give
// up, tell the player) stays with the page that owns the link.
//
// A classic script (the page's CSP allows only 'self' scripts, no modules needed): it defines
// window.GameNet and nothing else.
(() => {
  'use strict';

  // ------------------------------------------------------------- protocol names

  // Match socket (gameserver/protocol/core.py).
  const MATCH = Object.freeze({
    INPUT: 'input',
    PING: 'ping',
    SEAT: 'seat',
    SNAPSHOT: 'snapshot',
    PHASE: 'phase',
    FRAME: 'frame',
    END: 'end',
    ERROR: 'error',
    PONG: 'pong',
  });

  const PHASE = Object.freeze({ WAITING: 'waiting', RUNNING: 'running', OVER: 'over' });

  // Lobby socket (gameserver/protocol/lobby.py); ping, pong and error are shared with matches.
  const LOBBY = Object.freeze({
    PING: 'ping',
    PONG: 'pong',
    ERROR: 'error',
    CHAT: 'chat',
    PARTY_INVITE: 'party_invite',
    PARTY_ACCEPT: 'party_accept',
    PARTY_DECLINE: 'party_decline',
    PARTY_LEAVE: 'party_leave',
    PARTY_KICK: 'party_kick',
    QUEUE_JOIN: 'queue_join',
    QUEUE_LEAVE: 'queue_leave',
    READY: 'ready',
    ROOM_CREATE: 'room_create',
    ROOM_JOIN: 'room_join',
    ROOM_LEAVE: 'room_leave',
    ROOM_START: 'room_start',
    WELCOME: 'welcome',
    PRESENCE: 'presence',
    PARTY: 'party',
    PARTY_INVITED: 'party_invited',
    QUEUE: 'queue',
    MATCH_FOUND: 'match_found',
    READY_UPDATE: 'ready_update',
    MATCH_CANCELLED: 'match_cancelled',
    MATCH_READY: 'match_ready',
    ROOM: 'room',
    ROOM_LISTED: 'room_listed',
    RATING: 'rating',
  });

  // ErrorCode: the `code` of {t: 'error'} messages.
  const ERROR = Object.freeze({
    TEXT_FRAME: 'text_frame',
    TOO_LARGE: 'too_large',
    BAD_ENCODING: 'bad_encoding',
    BAD_SHAPE: 'bad_shape',
    UNKNOWN_TYPE: 'unknown_type',
    BAD_INPUT: 'bad_input',
    RATE_LIMITED: 'rate_limited',
    NOT_READY: 'not_ready',
    TICKET_INVALID: 'ticket_invalid',
    TICKET_EXPIRED: 'ticket_expired',
    WRONG_MATCH: 'wrong_match',
    WRONG_PLAYER: 'wrong_player',
    NO_SUCH_MATCH: 'no_such_match',
    MATCH_OVER: 'match_over',
    REPLACED: 'replaced',
    SEAT_TAKEN: 'seat_taken',
    RESUME_INVALID: 'resume_invalid',
    TOO_MANY_ERRORS: 'too_many_errors',
    UNAVAILABLE: 'unavailable',
    SHUTTING_DOWN: 'shutting_down',
    TOO_MANY_CONNECTIONS: 'too_many_connections',
    IDLE: 'idle',
    SIGNED_OUT: 'signed_out',
    UNAUTHENTICATED: 'unauthenticated',
    BUSY: 'busy',
    PLAYER_OFFLINE: 'player_offline',
    CANNOT_TARGET_SELF: 'cannot_target_self',
    NO_SUCH_PARTY: 'no_such_party',
    NOT_IN_PARTY: 'not_in_party',
    NOT_PARTY_LEADER: 'not_party_leader',
    ALREADY_IN_PARTY: 'already_in_party',
    PARTY_FULL: 'party_full',
    PARTY_TOO_BIG: 'party_too_big',
    ALREADY_QUEUED: 'already_queued',
    NOT_QUEUED: 'not_queued',
    IN_MATCH: 'in_match',
    NO_SUCH_CHECK: 'no_such_check',
    NOT_YOUR_CHECK: 'not_your_check',
    NO_SUCH_ROOM: 'no_such_room',
    WRONG_PASSWORD: 'wrong_password',
    ROOM_FULL: 'room_full',
    IN_ROOM: 'in_room',
    NOT_IN_ROOM: 'not_in_room',
    NOT_ROOM_HOST: 'not_room_host',
    NOT_ENOUGH_PLAYERS: 'not_enough_players',
  });

  // CloseCode: 1xxx from the WebSocket standard, 4xxx ours (mirroring HTTP where it can).
  const CLOSE = Object.freeze({
    NORMAL: 1000,
    ABNORMAL: 1006, // no close frame: the connection was cut (never sent, only seen)
    INTERNAL: 1011, // a server-side failure on this socket; reconnect
    RESTARTING: 1012, // the server process is stopping; reconnect (to another one)
    PROTOCOL: 4400,
    UNAUTHORIZED: 4401,
    FORBIDDEN: 4403,
    NOT_FOUND: 4404,
    IDLE: 4408,
    REPLACED: 4409,
    GONE: 4410,
    FLOOD: 4429,
    UNAVAILABLE: 4503,
  });

  // Positive 31-bit integers (ping ids, input sequence numbers), as the server checks them.
  const UINT31_MAX = 2147483647;

  // -------------------------------------------------------------------- codec

  function encode(message) {
    return MessagePack.encode(message);
  }

  // A server frame (ArrayBuffer) -> message map; throws on bytes that are not one.
  function decode(data) {
    const message = MessagePack.decode(new Uint8Array(data));
    if (!message || typeof message !== 'object' || typeof message.t !== 'string') {
      throw new TypeError('not a protocol message');
    }
    return message;
  }

  // ws:// or wss:// (as the page) to a path of this host, with query parameters.
  function socketUrl(path, params = {}) {
    const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    const query = new URLSearchParams(params).toString();
    return `${scheme}${location.host}${path}${query ? `?${query}` : ''}`;
  }

  // ------------------------------------------------------------------ helpers

  // Reconnect delays: the ceiling doubles from baseMs to maxMs, and each wait is drawn from the
  // ceiling's upper half, so a crowd that dropped together does not come back together.
  class Backoff {
    constructor({ baseMs = 500, maxMs = 5000 } = {}) {
      this.baseMs = baseMs;
      this.maxMs = maxMs;
      this.attempts = 0;
    }

    next() {
      this.attempts += 1;
      const ceiling = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.attempts - 1, 20));
      return ceiling / 2 + Math.random() * (ceiling / 2);
    }

    reset() {
      this.attempts = 0;
    }
  }

  // Bytes received per second over the last WINDOW_MS.
  class RateMeter {
    static WINDOW_MS = 2000;

    constructor() {
      this.samples = []; // [at, bytes], oldest first
      this.total = 0;
    }

    add(bytes, now) {
      this.samples.push([now, bytes]);
      this.total += bytes;
      this.prune(now);
    }

    prune(now) {
      while (this.samples.length && now - this.samples[0][0] > RateMeter.WINDOW_MS) this.samples.shift();
    }

    perSecond(now) {
      this.prune(now);
      let sum = 0;
      for (const [, bytes] of this.samples) sum += bytes;
      return Math.round((sum * 1000) / RateMeter.WINDOW_MS);
    }
  }

  // ---------------------------------------------------------------------- Link

  // One WebSocket endpoint (binary msgpack frames), reopened by connect() or retry().
  //
  // options:
  //   url()            the address, asked again at every connect (a credential may change)
  //   onConnecting()   a socket is about to open (connect(), or the timer of retry())
  //   onOpen()         the socket opened
  //   onMessage(msg)   every decoded message but the pongs to our pings (kept here)
  //   onClose(info)    {code, reason, stalled}: the socket closed by itself, or was given up on
  //                    by the watchdog (stalled, code 1006); not called after close()
  //   pingMs           ping this often while open (0: never)
  //   stallMs          a socket that hears nothing this long while a ping that old is unanswered,
  //                    or that does not open within it, is dropped (0: never)
  //   rate             {windowMs, max}: send() refuses beyond max messages in any windowMs
  //   backoff          {baseMs, maxMs} for retry()
  class Link {
    constructor(options) {
      this.options = options;
      this.pingMs = options.pingMs || 0;
      this.stallMs = options.stallMs || 0;
      this.rate = options.rate || { windowMs: 1000, max: 28 };
      this.backoff = new Backoff(options.backoff);
      this.ws = null;
      this.sockets = 0; // sockets opened by this link
      this.openedAt = 0;
      this.lastHeardAt = 0;
      this.retryTimer = null;
      this.nextAttemptAt = 0;
      this.sendTimes = [];
      this.pingId = 0;
      this.pingSentAt = new Map(); // id -> performance.now()
      this.rttMs = null;
      this.jitterMs = null; // smoothed change between successive round trips (RFC 3550 style)
      this.bytesIn = new RateMeter();
      this.messagesIn = 0;
      this.timers = [];
    }

    get attempts() {
      return this.backoff.attempts;
    }

    // A socket is open or opening, or a retry is pending.
    get active() {
      return this.ws !== null || this.retryTimer !== null;
    }

    isOpen() {
      return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
    }

    // Open a socket now (dropping the current one, if any, without a close callback).
    connect() {
      this.cancelRetry();
      this.detach(1000);
      if (this.options.onConnecting) this.options.onConnecting();
      const ws = new WebSocket(this.options.url());
      ws.binaryType = 'arraybuffer';
      this.ws = ws;
      this.sockets += 1;
      this.openedAt = performance.now();
      this.lastHeardAt = this.openedAt;
      ws.addEventListener('open', () => this.onOpen(ws));
      ws.addEventListener('message', (event) => this.onMessage(ws, event));
      ws.addEventListener('close', (event) => this.onClose(ws, event));
      if (this.stallMs) this.timers.push(setInterval(() => this.watch(ws), Math.min(1000, this.stallMs / 4)));
      return ws;
    }

    // Open again after the next backoff delay (at most capMs). Returns the delay.
    retry(capMs = Infinity) {
      this.cancelRetry();
      const delay = Math.max(0, Math.min(this.backoff.next(), capMs));
      this.nextAttemptAt = performance.now() + delay;
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.connect();
      }, delay);
      return delay;
    }

    cancelRetry() {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }

    // Connected for good (the server let us in): the next drop starts the backoff afresh.
    resetBackoff() {
      this.backoff.reset();
    }

    // Close on purpose (no onClose); a pending retry is cancelled.
    close(code = 1000) {
      this.cancelRetry();
      this.detach(code);
    }

    // Close, resolving once the closing handshake is over (or after withinMs): a request sent
    // then (a sign-out) cannot overtake the close and be told to this socket first.
    closeAndWait(code = 1000, withinMs = 3000) {
      this.cancelRetry();
      const ws = this.detach(code);
      if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
      return new Promise((resolve) => {
        const timer = setTimeout(resolve, withinMs);
        ws.addEventListener('close', () => {
          clearTimeout(timer);
          resolve();
        }, { once: true });
      });
    }

    // Send one message; false when not open or over the client's own rate cap.
    send(message) {
      if (!this.isOpen()) return false;
      const now = performance.now();
      while (this.sendTimes.length && now - this.sendTimes[0] >= this.rate.windowMs) this.sendTimes.shift();
      if (this.sendTimes.length >= this.rate.max) return false;
      this.ws.send(encode(message));
      this.sendTimes.push(now);
      return true;
    }

    ping() {
      const id = (this.pingId % UINT31_MAX) + 1;
      if (!this.send({ t: MATCH.PING, id })) return;
      this.pingId = id;
      this.pingSentAt.set(id, performance.now());
    }

    // {rttMs, jitterMs, live, bytesPerSecond}: what the page shows about this link.
    stats(now = performance.now()) {
      return {
        rttMs: this.rttMs,
        jitterMs: this.jitterMs,
        live: this.isOpen(),
        bytesPerSecond: this.bytesIn.perSecond(now),
      };
    }

    // ------------------------------------------------------------- internals

    // Forget the current socket: its late events are ignored from now on.
    detach(code) {
      for (const timer of this.timers) clearInterval(timer);
      this.timers = [];
      this.pingSentAt.clear();
      const ws = this.ws;
      this.ws = null;
      if (ws && ws.readyState <= WebSocket.OPEN) ws.close(code);
      return ws;
    }

    onOpen(ws) {
      if (ws !== this.ws) return;
      if (this.pingMs) {
        this.timers.push(setInterval(() => this.ping(), this.pingMs));
        this.ping();
      }
      if (this.options.onOpen) this.options.onOpen();
    }

    onMessage(ws, event) {
      if (ws !== this.ws) return;
      const now = performance.now();
      this.lastHeardAt = now;
      if (!(event.data instanceof ArrayBuffer)) {
        console.warn('Ignoring a non-binary frame from the server');
        return;
      }
      this.bytesIn.add(event.data.byteLength, now);
      this.messagesIn += 1;
      let message;
      try {
        message = decode(event.data);
      } catch (err) {
        console.warn('Undecodable frame from the server', err);
        return;
      }
      if (message.t === MATCH.PONG && this.pingSentAt.has(message.id)) {
        this.onPong(message.id, now);
        return;
      }
      if (this.options.onMessage) this.options.onMessage(message);
    }

    onPong(id, now) {
      const rtt = now - this.pingSentAt.get(id);
      for (const sent of this.pingSentAt.keys()) {
        if (sent <= id) this.pingSentAt.delete(sent);
      }
      // From 0, so one slow first round trip (the handshake's) is not taken for the jitter.
      if (this.rttMs !== null) {
        const change = Math.abs(rtt - this.rttMs);
        this.jitterMs = (this.jitterMs || 0) + (change - (this.jitterMs || 0)) / 8;
      } else {
        this.jitterMs = 0;
      }
      this.rttMs = rtt;
    }

    onClose(ws, event) {
      if (ws !== this.ws) return;
      this.detach(1000);
      if (this.options.onClose) this.options.onClose({ code: event.code, reason: event.reason, stalled: false });
    }

    // A socket can die without a close (a path that vanished without a reset).
    watch(ws) {
      if (ws !== this.ws) return;
      const now = performance.now();
      let stalled = false;
      if (ws.readyState === WebSocket.CONNECTING) {
        stalled = now - this.openedAt > this.stallMs;
      } else if (ws.readyState === WebSocket.OPEN && this.pingSentAt.size) {
        const oldestPing = Math.min(...this.pingSentAt.values());
        stalled = now - oldestPing > this.stallMs && now - this.lastHeardAt > this.stallMs;
      }
      if (!stalled) return;
      console.info('A socket went silent; dropping it');
      this.detach(1000);
      if (this.options.onClose) {
        this.options.onClose({ code: CLOSE.ABNORMAL, reason: 'stalled', stalled: true });
      }
    }
  }

  window.GameNet = Object.freeze({
    MATCH,
    PHASE,
    LOBBY,
    ERROR,
    CLOSE,
    UINT31_MAX,
    encode,
    decode,
    socketUrl,
    Backoff,
    RateMeter,
    Link,
  });
})();
