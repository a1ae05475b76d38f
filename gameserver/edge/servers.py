"""What the ASGI servers cost us that we can switch off, in one place.

Twisted (under Daphne) never writes when asked: ``FileDescriptor.write`` buffers the bytes and
registers the socket as a writer with the event loop (an ``epoll_ctl`` and a selector-key
``_replace``); the next loop turn writes them and unregisters it (another ``epoll_ctl``). That
was 15-20% of a Daphne process at 200 sockets, one frame per socket per tick. asyncio's own
transports try the socket first; ``direct_twisted_writes`` does the same for plain TCP
connections whose buffer is empty, and leaves everything else (TLS, a backlog, a closing
socket, EAGAIN, an error) to Twisted's own path, so order and error handling are Twisted's.

autobahn (under Daphne) formats colored debug arguments for every frame it sends and every
read, whether or not debug logging is on: ``self.log.debug(..., func=hltype(self.sendData),
peer=hlval(self.peer))`` in ``WebSocketProtocol.sendData`` (and in the Twisted adapter's
``dataReceived``) runs click.style per call, about 8% of a Daphne process's CPU at 200 sockets
(py-spy, docs/benchmarks.md). With debug logging off we hand those autobahn modules plain
pass-through functions instead; the log calls stay no-ops.

autobahn (under Daphne) unmasks every client frame with a new cffi masker: two ``ffi.new``
buffers, an ``ffi.gc`` and three C calls, about 6% of a Daphne process that reads 4,000 small
inputs a second. ``small_frame_unmasking`` gives frames under 4 KiB a masker that XORs the
payload as one Python integer (the same bytes; larger frames keep autobahn's SIMD masker).

autobahn (under Daphne) fires a "message" signal for every client frame, a Deferred made and
given callbacks whether or not anything listens (nothing does under Daphne): about 5% of a
Daphne process reading 4,000 inputs a second. ``unobserved_messages`` skips it while no
listener is registered.

Daphne (under the relay) frames the same tick's bytes again for every socket: ``send`` ->
``handle_reply`` -> ``serverSend`` -> ``sendMessage`` -> ``sendFrame``, about 8% of a Daphne
process at 200 sockets. ``daphne_frame_writer`` uses autobahn's own broadcast API instead
(``PreparedMessage``, framed once per message, ``sendPreparedMessage`` per socket).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def _plain(value: object, *args: object, **kwargs: object) -> object:
    return value


def quiet_autobahn() -> bool:
    """Skip autobahn's per-frame debug formatting unless debug logging is on; True if done."""
    if logging.getLogger().isEnabledFor(logging.DEBUG):
        return False
    from autobahn.twisted import websocket
    from autobahn.websocket import protocol

    for module in (protocol, websocket):
        module.hltype = _plain  # type: ignore[attr-defined]
        module.hlval = _plain  # type: ignore[attr-defined]
    return True


def direct_twisted_writes() -> None:
    """Try the socket first on a plain TCP connection with nothing queued (see the docstring)."""
    from twisted.internet import tcp

    queued_write = tcp.Connection.write
    if getattr(queued_write, "direct", False):
        return

    def write(self: Any, data: bytes) -> None:
        if (
            data
            and type(data) is bytes
            and not self.TLS
            and self.connected
            and not self.disconnecting
            and not self._writeDisconnected
            and not self._tempDataBuffer
            and self.offset == len(self.dataBuffer)
        ):
            try:
                sent = self.socket.send(data)
            except OSError:  # EAGAIN or a real error: Twisted's path sees it and handles it
                sent = 0
            if sent == len(data):
                return
            data = data[sent:]
        queued_write(self, data)

    write.direct = True  # type: ignore[attr-defined]
    tcp.Connection.write = write  # type: ignore[method-assign]


SMALL_FRAME = 4096  # bytes: below this one big-integer XOR beats setting up a cffi masker


class IntXorMasker:
    """autobahn's masker interface (``pointer``, ``reset``, ``process``) for a small frame."""

    __slots__ = ("mask", "ptr")

    def __init__(self, mask: bytes) -> None:
        self.mask = bytes(mask)
        self.ptr = 0

    def pointer(self) -> int:
        return self.ptr

    def reset(self) -> None:
        self.ptr = 0

    def process(self, data: bytes) -> bytes:
        n = len(data)
        if not n:
            return b""
        shift = self.ptr & 3
        key = (self.mask[shift:] + self.mask[:shift]) * ((n >> 2) + 1)
        self.ptr += n
        return (int.from_bytes(data, "little") ^ int.from_bytes(key[:n], "little")).to_bytes(n, "little")


def small_frame_unmasking() -> None:
    """Unmask frames under SMALL_FRAME bytes with IntXorMasker (see the docstring)."""
    from autobahn.websocket import protocol

    create = protocol.create_xor_masker
    if getattr(create, "small", False):
        return

    def create_xor_masker(mask: bytes, length: int | None = None) -> Any:
        if length is not None and length < SMALL_FRAME:
            return IntXorMasker(mask)
        return create(mask, length)

    create_xor_masker.small = True  # type: ignore[attr-defined]
    protocol.create_xor_masker = create_xor_masker


def daphne_protocol(send: Any) -> Any:
    """The Daphne WebSocket protocol behind an ASGI ``send`` (Daphne's ``handle_reply``, bound
    to it with functools.partial), or None for any other server."""
    if not isinstance(send, functools.partial) or getattr(send.func, "__name__", "") != "handle_reply":
        return None
    from daphne.ws_protocol import WebSocketProtocol

    protocol = send.args[0] if send.args else None
    return protocol if isinstance(protocol, WebSocketProtocol) else None


# Close codes RFC 6455 lets a server send that autobahn's ``sendClose`` refuses (it allows only
# 1000 and 3000-4999), so ``close(code=1011)`` under Daphne raised instead of closing.
SERVER_CLOSE_CODES = frozenset({1001, 1008, 1011, 1012, 1013})


def daphne_closer(send: Any) -> Callable[[int], bool] | None:
    """Where ``send`` is Daphne's: close an open socket with any code of SERVER_CLOSE_CODES
    through autobahn's own close frame (the state, the handshake timeout and the drop are
    autobahn's); False where the socket is not open (nothing to do, or Daphne's own path)."""
    protocol = daphne_protocol(send)
    if protocol is None:
        return None

    def close(code: int) -> bool:
        if protocol.state != protocol.STATE_OPEN:
            return False
        protocol.sendCloseFrame(code=code, isReply=False)
        return True

    return close


class Buffered:
    """The bytes Twisted holds for a Daphne socket that it could not write yet (callable), and
    a way to drop the connection without waiting on a client that does not read."""

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol

    def __call__(self) -> int:
        transport = getattr(self.protocol, "transport", None)
        if transport is None:
            return 0
        return (len(getattr(transport, "dataBuffer", b"")) - getattr(transport, "offset", 0)) + getattr(
            transport, "_tempDataLen", 0
        )

    def abort(self) -> None:
        transport = getattr(self.protocol, "transport", None)
        if transport is not None:
            transport.abortConnection()


def daphne_buffered(send: Any) -> Buffered | None:
    """Where ``send`` is Daphne's: how much waits in its socket's write buffer. Twisted buffers
    without a bound; uvicorn's websockets has flow control instead (a write waits), so None."""
    protocol = daphne_protocol(send)
    return Buffered(protocol) if protocol is not None else None


class _Broadcast:
    """The frame of the message being broadcast: the relay hands all of a match's sockets one
    dict per tick, so one process-wide entry frames it once."""

    message: dict[str, Any] | None = None
    frame: Any = None


def daphne_frame_writer(send: Any) -> Callable[[dict[str, Any]], None] | None:
    """Where ``send`` is Daphne's: write ``websocket.send`` bytes framed once for all sockets.

    Raises like ``send`` does on a socket that is not open; a message over the size limit goes
    through ``send``'s own path (and error). None for any other server.
    """
    protocol = daphne_protocol(send)
    if protocol is None:
        return None
    from autobahn.exception import Disconnected
    from autobahn.websocket.protocol import PreparedMessage

    from gameserver.edge.eager import run_eagerly

    def write(message: dict[str, Any]) -> None:
        if protocol.state != protocol.STATE_OPEN:
            raise Disconnected("Attempt to send on a closed protocol")
        if _Broadcast.message is not message:
            payload = message["bytes"]
            if 0 < protocol.maxMessagePayloadSize < len(payload):
                run_eagerly(send(message))
                return
            _Broadcast.frame = PreparedMessage(payload, True, False, False)
            _Broadcast.message = message
        protocol.sendPreparedMessage(_Broadcast.frame)

    return write


def unobserved_messages() -> None:
    """Skip autobahn's per-message signal while nobody listens for it (see the docstring)."""
    from autobahn.websocket.protocol import WebSocketProtocol

    fired = WebSocketProtocol.onMessageEnd
    if getattr(fired, "unobserved", False):
        return

    def onMessageEnd(self: Any) -> None:
        listeners = self._listeners
        if self.failedByMe or self.trackedTimings or self._parent is not None or listeners:
            fired(self)
            return
        self._onMessage(b"".join(self.message_data), self.message_is_binary)
        self.message_data = None

    onMessageEnd.unobserved = True  # type: ignore[attr-defined]
    WebSocketProtocol.onMessageEnd = onMessageEnd  # type: ignore[method-assign]


# Seconds a client has to answer the server's close frame before the TCP is dropped. autobahn's
# default is 1 s, and the drop is a reset: a client busy for a second (a loaded load generator, a
# tab in the background) whose next write met that reset gave up on the socket with the match's
# ``end`` still unread. websockets (under uvicorn) waits 10 s as well.
CLOSE_HANDSHAKE_SECONDS = 10.0


def websocket_close_options() -> None:
    """How Daphne's sockets close. autobahn fails a connection by dropping TCP
    (``failByDrop``), so a client whose message is over Daphne's cap saw 1006 and no reason:
    fail by a close frame instead (1009, Message Too Big; 1002 for a protocol violation). And
    any close frame waits CLOSE_HANDSHAKE_SECONDS for the client's answer, not 1 s."""
    from daphne.ws_protocol import WebSocketFactory

    built = WebSocketFactory.__init__
    if getattr(built, "closes", False):
        return

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        built(self, *args, **kwargs)
        self.setProtocolOptions(failByDrop=False, closeHandshakeTimeout=CLOSE_HANDSHAKE_SECONDS)

    __init__.closes = True  # type: ignore[attr-defined]
    WebSocketFactory.__init__ = __init__  # type: ignore[method-assign,unused-ignore]


def request_deadlines(seconds: float) -> None:
    """Twisted's HTTP channel times out only after 12 idle hours, and any byte resets it: a
    client dribbling a header every 20 s held a connection for good (slowloris). Every request
    (headers and body, a WebSocket handshake included) must now arrive whole within
    ``seconds`` of the connection opening or the previous response ending; else the
    connection is dropped."""
    from twisted.internet import reactor
    from twisted.web import http

    made = http.HTTPChannel.connectionMade
    if getattr(made, "deadline", False):
        return
    received = http.HTTPChannel.allContentReceived
    done = http.HTTPChannel.requestDone
    lost = http.HTTPChannel.connectionLost

    def disarm(channel: Any) -> None:
        call = getattr(channel, "_request_deadline", None)
        if call is not None and call.active():
            call.cancel()
        channel._request_deadline = None

    def expire(channel: Any) -> None:
        channel._request_deadline = None
        if channel.transport is not None and not channel._handlingRequest:
            log.warning("http: a request did not arrive whole within %ss; dropping the connection", seconds)
            channel.transport.abortConnection()

    def arm(channel: Any) -> None:
        disarm(channel)
        clock: Any = reactor
        channel._request_deadline = clock.callLater(seconds, expire, channel)

    def connectionMade(self: Any) -> None:
        made(self)
        arm(self)

    def allContentReceived(self: Any) -> None:
        disarm(self)
        received(self)

    def requestDone(self: Any, request: Any) -> None:
        done(self, request)
        if self.persistent and self.transport is not None and not self.transport.disconnecting:
            arm(self)

    def connectionLost(self: Any, reason: Any) -> None:
        disarm(self)
        lost(self, reason)

    connectionMade.deadline = True  # type: ignore[attr-defined]
    http.HTTPChannel.connectionMade = connectionMade  # type: ignore[method-assign]
    http.HTTPChannel.allContentReceived = allContentReceived  # type: ignore[method-assign]
    http.HTTPChannel.requestDone = requestDone  # type: ignore[method-assign]
    http.HTTPChannel.connectionLost = connectionLost  # type: ignore[method-assign]
