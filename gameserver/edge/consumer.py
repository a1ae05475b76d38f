"""The consumer base class every socket of ours uses, and the base of the named-channel workers.

Channels 4.3's ``AsyncConsumer.dispatch`` awaits ``aclose_old_connections()`` (a hop onto the
one thread-sensitive executor) before EVERY handler, and ``await_many_dispatch`` makes a task
and an ``asyncio.wait`` per message. Our consumers read the socket in a plain loop, take
channel-layer events in a second one (handlers still run one at a time, under a lock), and
never hop threads per message: database work goes through ``database_sync_to_async``, which
closes stale connections itself.

Failures stay contained: a handler that raises is logged with context and counted, the socket
is closed 1011 and its cleanup runs (once, whatever happens); a write to a socket that is
already going away is counted and triggers the same cleanup instead of raising into a handler.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from typing import Any

from channels.consumer import AsyncConsumer, get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings

from gameserver import protocol
from gameserver.edge import metrics
from gameserver.edge.clients import scope_address
from gameserver.edge.connlimits import ConnectionLimits, Refused
from gameserver.edge.eager import run_eagerly
from gameserver.edge.middleware import SERVER_RECEIVE, SERVER_SEND, deliver_directly
from gameserver.edge.recovery import LayerWatch
from gameserver.edge.servers import SERVER_CLOSE_CODES, daphne_buffered, daphne_closer, daphne_frame_writer
from gameserver.edge.shutdown import Shutdown
from gameserver.limits import TokenBucket
from gameserver.protocol import CloseCode, ErrorCode, ProtocolError

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]
Send = Callable[[dict[str, Any]], Coroutine[Any, Any, None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]

# After a failed channel-layer receive (Redis restarting), wait this long before the next try.
LAYER_RETRY_SECONDS = 0.5
STOP = "edge.stop"  # the message that ends a consumer's listener (see stop_listening)
STOP_SECONDS = 5.0
SHUTDOWN_DETAIL = "the server is restarting; reconnect"
SWEEP_SECONDS = 5.0  # how often idle sockets and clients that stopped reading are looked for


async def serve(receive: Receive, lock: asyncio.Lock, dispatch: Handler) -> None:
    """The consumer's own messages, one at a time, until a handler raises StopConsumer."""
    try:
        while True:
            message = await receive()
            if message["type"] == STOP:  # see EdgeConsumer.deliver
                return
            async with lock:
                await dispatch(message)
    except StopConsumer:
        pass


async def listen(layer: Any, channel: str, lock: asyncio.Lock, dispatch: Handler, name: str) -> None:
    """A consumer's channel-layer events, dispatched under the same lock as its own messages.

    A failed receive (Redis restarting) is counted and retried, not fatal to the consumer; the
    process's LayerWatch then has everyone join their groups again (a restarted Redis forgot)."""
    while True:
        try:
            message = await layer.receive(channel)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            LayerWatch.of(layer).report(f"{name}.receive", exc, "retrying")
            await asyncio.sleep(LAYER_RETRY_SECONDS)
            continue
        if message.get("type") == STOP:
            return
        async with lock:
            try:
                await dispatch(message)
            except StopConsumer:
                return


async def stop_listening(layer: Any, channel: str, listener: asyncio.Task[None]) -> None:
    """End a listener by a message on its own channel, not by cancelling its receive.

    With channels-redis, one of a process's pending receives reads for all of them; cancelled
    in the middle of that read, it loses a message Redis already handed over, which may be for
    another socket of the process (django/channels_redis#366: seen here as a rating push that
    never reached a lobby socket while match sockets of the same process were closing).
    """
    if listener.done():
        return
    try:
        await layer.send(channel, {"type": STOP})
        await asyncio.wait_for(asyncio.shield(listener), STOP_SECONDS)
    except Exception:  # the layer is down, or the listener is stuck: cancelling loses nothing now
        listener.cancel()


async def rejoin(layer: Any, channel: str, groups: Iterable[str]) -> None:
    """Join ``groups`` again (after a layer failure); a failure here propagates to LayerWatch."""
    for group in list(groups):
        await layer.group_add(group, channel)


def auth_group(scope: Any) -> str | None:
    """The group of every socket opened with the same sign-in (a bearer token, else the
    session): a logout or a revoked token closes them all (lobby/receivers.py)."""
    token_hash = scope.get("auth_token_hash")
    if token_hash:
        return f"auth-token-{token_hash[:40]}"
    session = scope.get("session")
    key = getattr(session, "session_key", None) if session is not None else None
    if key and getattr(scope.get("user"), "is_authenticated", False):
        return f"auth-session-{key}"
    return None


class Sweeper:
    """One task per process: closes sockets idle past WS_IDLE_SECONDS (4408) and drops the
    ones whose client stopped reading while more than WS_MAX_SEND_BUFFER bytes wait for it."""

    task: asyncio.Task[None] | None = None

    @classmethod
    def ensure(cls) -> None:
        if cls.task is None or cls.task.done():
            cls.task = asyncio.ensure_future(cls.run())

    @classmethod
    async def run(cls) -> None:
        while Shutdown.sockets:
            await asyncio.sleep(SWEEP_SECONDS)
            now = time.monotonic()
            for consumer in list(Shutdown.sockets):
                try:
                    consumer.sweep(now)
                except Exception:
                    log.exception("sweeper: a socket failed its check")


class EdgeConsumer(AsyncWebsocketConsumer):
    """Binary msgpack frames with the per-connection limits every socket of ours has.

    Subclasses call ``setup_limits`` in ``connect``, set ``handlers`` (message type -> coroutine)
    and ``check_message`` (shape check returning the type), flip ``receiving`` on once the
    connection is admitted, and put what must happen when the socket goes in ``cleanup``.
    Every message first takes a rate token (the cheapest check, so a flood costs little); every
    violation is answered with an error message and spends a strike; out of strikes, closed.
    """

    handlers: Mapping[str, Handler]
    # Take socket messages inside the server's read when the consumer is idle (Daphne only; see
    # middleware.deliver_directly): for sockets whose messages are many and quick (inputs).
    direct_delivery = False
    receiving = False  # admitted: client messages are handled
    closing = False  # we are closing: what is still in flight is ignored
    gone = False  # the transport refused a write: the socket is going away
    cleaned = False

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:  # type: ignore[override]
        self.scope = scope
        # The server's own send when ServerSendMiddleware is outermost (see middleware.py).
        self.raw_send = scope.get(SERVER_SEND, send)
        self.frame_writer = daphne_frame_writer(self.raw_send)  # None: not Daphne
        self.server_close = daphne_closer(self.raw_send)
        self.base_send = self.guarded_send  # type: ignore[assignment]
        self.dispatch_lock = asyncio.Lock()  # handlers run one at a time, as in channels
        self.pending_write: asyncio.Future[Any] | None = None
        self.background: set[asyncio.Future[Any]] = set()
        self.member_of: set[str] = set()  # groups joined, to join again after a layer failure
        self.buffered = daphne_buffered(self.raw_send)  # None: the server has flow control
        self.writes = 0
        self.last_heard = time.monotonic()
        self.counted: list[tuple[str, str, int]] = []  # connection-limit keys this socket holds
        Shutdown.sockets.add(self)
        Sweeper.ensure()
        self.channel_layer = get_channel_layer(self.channel_layer_alias)  # type: ignore[assignment]
        self.requeue: Callable[[dict[str, Any]], None] | None = None
        if self.direct_delivery and (server_receive := scope.get(SERVER_RECEIVE)) is not None:
            self.requeue = deliver_directly(server_receive, self.deliver)
        listener: asyncio.Task[None] | None = None
        if self.channel_layer is not None:
            self.channel_name = await self.channel_layer.new_channel()
            listener = asyncio.ensure_future(self._listen())
        try:
            await serve(receive, self.dispatch_lock, self.dispatch)
        finally:
            Shutdown.sockets.discard(self)
            if self.counted:
                counted, self.counted = self.counted, []
                await ConnectionLimits.get().release(counted)
            if listener is not None:
                await stop_listening(self.channel_layer, self.channel_name, listener)
            for task in self.background:
                task.cancel()

    def deliver(self, message: dict[str, Any]) -> bool:
        """Handle a socket message now, in the server's read, if no other handler is running.

        False leaves it on the server's queue for the serve loop; either way messages are
        handled in arrival order, one at a time, under the dispatch lock."""
        if self.dispatch_lock.locked():
            return False
        pending = run_eagerly(self._deliver(message))
        if pending is not None:  # it waits on something: a task finishes it, holding the lock
            self.background.add(pending)
            pending.add_done_callback(self.background.discard)
        return True

    async def _deliver(self, message: dict[str, Any]) -> None:
        try:
            async with self.dispatch_lock:
                await self.dispatch(message)
        except StopConsumer:  # the serve loop ends it, as if the handler had run there
            assert self.requeue is not None
            self.requeue({"type": STOP})

    async def _listen(self) -> None:
        """Channel-layer events for this socket, dispatched like socket messages."""
        assert self.channel_layer is not None
        name = type(self).__name__
        await listen(self.channel_layer, self.channel_name, self.dispatch_lock, self.dispatch, name)

    async def rejoin_groups(self) -> None:
        await rejoin(self.channel_layer, self.channel_name, self.member_of)

    async def group_join(self, group: str) -> None:
        if not self.member_of:
            LayerWatch.of(self.channel_layer).register(self)
        self.member_of.add(group)
        await self.channel_layer.group_add(group, self.channel_name)

    async def group_leave(self, group: str) -> None:
        """A cleanup step: a failure is logged and counted, and the next steps still run."""
        self.member_of.discard(group)
        await self.attempt(f"leave {group}", self.channel_layer.group_discard(group, self.channel_name))

    async def dispatch(self, message: dict[str, Any]) -> None:
        try:
            if message["type"] == "websocket.receive":  # the hot path: no name lookup
                await self.websocket_receive(message)
                return
            handler = getattr(self, get_handler_name(message), None)
            if handler is None:
                raise ValueError(f"no handler for message type {message['type']!r}")
            await handler(message)
        except StopConsumer:
            raise
        except Exception as exc:
            await self.fail(exc, message)

    async def fail(self, exc: Exception, message: dict[str, Any]) -> None:
        """A handler raised: log and count it, clean up, close 1011; never take the process down."""
        kind = str(message.get("type"))
        metrics.HANDLER_ERRORS.labels(consumer=type(self).__name__, event=kind).inc()
        user = getattr(self.scope.get("user"), "pk", None)
        log.error(
            "%s %s (user %r): handler for %r failed; closing %d",
            type(self).__name__,
            self.scope.get("path"),
            user,
            kind,
            CloseCode.INTERNAL,
            exc_info=exc,
        )
        self.closing = True
        await self.run_cleanup()
        if kind == "websocket.disconnect":
            raise StopConsumer
        await self.close(code=int(CloseCode.INTERNAL))

    # --- lifecycle ---------------------------------------------------------------------------

    async def websocket_connect(self, message: Any) -> None:
        if Shutdown.stopping:  # accept so the client sees why (Daphne drops close reasons)
            await self.accept()
            await self.refuse(CloseCode.RESTARTING, ErrorCode.SHUTTING_DOWN, SHUTDOWN_DETAIL)
            return
        scope: dict[str, Any] = dict(self.scope)
        user = scope.get("user")
        keys = ConnectionLimits.keys_for(
            user=getattr(user, "pk", None) if getattr(user, "is_authenticated", False) else None,
            address=scope_address(scope),
        )
        try:
            await ConnectionLimits.get().admit(keys)
        except Refused as exc:
            metrics.FLOOD_CLOSES.labels(code=str(int(CloseCode.FLOOD))).inc()
            await self.accept()
            await self.refuse(CloseCode.FLOOD, ErrorCode.TOO_MANY_CONNECTIONS, str(exc))
            return
        self.counted = keys
        await super().websocket_connect(message)
        group = auth_group(self.scope)
        if group is not None and self.receiving and not self.closing:
            await self.group_join(group)

    async def auth_revoked(self, event: dict[str, Any]) -> None:
        """The sign-in this socket was opened with ended (logout, a revoked token)."""
        self.signed_out = True
        if not (self.closing or self.gone):
            await self.refuse(CloseCode.UNAUTHORIZED, ErrorCode.SIGNED_OUT, "signed out; sign in again")

    def sweep(self, now: float) -> None:
        """The sweeper's check: idle too long, or a client that stopped reading."""
        if self.closing or self.gone or not self.receiving:
            return
        if now - self.last_heard > settings.WS_IDLE_SECONDS:
            self.in_background(
                self.refuse(
                    CloseCode.IDLE,
                    ErrorCode.IDLE,
                    f"no message for {settings.WS_IDLE_SECONDS} s; send a ping more often",
                )
            )
        elif self.buffered is not None and self.buffered() > settings.WS_MAX_SEND_BUFFER:
            self.drop_slow_reader()

    def drop_slow_reader(self) -> None:
        """More than WS_MAX_SEND_BUFFER bytes wait for this client: it cannot be told (it does
        not read), so the connection is dropped; the disconnect runs the cleanup as usual."""
        assert self.buffered is not None
        metrics.FLOOD_CLOSES.labels(code="slow_reader").inc()
        log.warning(
            "%s %s: the client stopped reading; dropping it", type(self).__name__, self.scope.get("path")
        )
        self.closing = True
        self.buffered.abort()

    async def shut_down(self) -> None:
        """The process is stopping: tell the client, close 1012; cleanup runs as on any close."""
        async with self.dispatch_lock:
            if not (self.closing or self.gone):
                await self.refuse(CloseCode.RESTARTING, ErrorCode.SHUTTING_DOWN, SHUTDOWN_DETAIL)

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        """Under Daphne, the server codes its ``sendClose`` refuses (1011, 1012) go as a close
        frame of their own (servers.daphne_closer); everything else as channels does it."""
        if (
            code in SERVER_CLOSE_CODES
            and self.server_close is not None
            and not self.gone
            and self.server_close(int(code))
        ):
            return
        await super().close(code=code, reason=reason)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:  # type: ignore[override]
        # 1000 from the client: it left on purpose (signed out), not a drop (1001, 1006, ...).
        self.client_close_code: int | None = message.get("code")
        self.closing = self.gone = True
        await self.run_cleanup()
        raise StopConsumer

    async def cleanup(self) -> None:
        """What must happen when this socket goes, however it goes (runs exactly once)."""

    async def run_cleanup(self) -> None:
        if self.cleaned:
            return
        self.cleaned = True
        self.receiving = False
        try:
            await self.cleanup()
        except Exception:
            metrics.HANDLER_ERRORS.labels(consumer=type(self).__name__, event="cleanup").inc()
            log.exception("%s %s: cleanup failed", type(self).__name__, self.scope.get("path"))

    async def attempt(self, what: str, step: Awaitable[Any]) -> None:
        """One cleanup step: a failure is logged and counted, and the next steps still run."""
        try:
            await step
        except Exception as exc:
            metrics.layer_error(what, exc)
            log.warning("%s: %s failed: %r", type(self).__name__, what, exc)

    # --- writing -----------------------------------------------------------------------------

    async def guarded_send(self, message: dict[str, Any]) -> None:
        """Every ASGI send of this consumer: a socket that is going away is not an error."""
        if self.gone:
            return
        try:
            await self.raw_send(message)
        except Exception as exc:
            self.transport_failed(exc)
            return
        if self.buffered is not None and not self.closing and self.buffered() > settings.WS_MAX_SEND_BUFFER:
            self.drop_slow_reader()

    def write_now(self, message: dict[str, Any]) -> bool:
        """Write without waiting (the relay's path); False if gone or still busy with a write."""
        if self.gone:
            return False
        if self.frame_writer is not None:  # Daphne: never blocks, and frames a broadcast once
            try:
                self.frame_writer(message)
            except Exception as exc:
                self.transport_failed(exc)
                return False
            self.writes += 1
            if (
                not self.writes & 15  # a few reads of Twisted's buffer, every 16th frame
                and self.buffered is not None
                and self.buffered() > settings.WS_MAX_SEND_BUFFER
            ):
                self.drop_slow_reader()
                return False
            return True
        if self.pending_write is not None:
            if not self.pending_write.done():
                return False
            self.pending_write = None
        try:
            self.pending_write = run_eagerly(self.raw_send(message))
        except Exception as exc:
            self.transport_failed(exc)
            return False
        if self.pending_write is not None:
            self.pending_write.add_done_callback(self._write_done)
        return True

    def _write_done(self, task: asyncio.Future[Any]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            self.transport_failed(exc)

    def transport_failed(self, exc: BaseException) -> None:
        """The server refused a write (closing or closed socket): count it and clean up now."""
        if self.gone:
            return
        self.gone = self.closing = True
        metrics.SEND_ERRORS.labels(consumer=type(self).__name__).inc()
        log.info("%s %s: write to a closing socket (%r)", type(self).__name__, self.scope.get("path"), exc)
        self.in_background(self.run_cleanup())

    def in_background(self, work: Awaitable[Any]) -> None:
        """A task this consumer holds (the loop keeps tasks only weakly) and cancels at the end."""
        task = asyncio.ensure_future(work)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    # --- the protocol ------------------------------------------------------------------------

    def setup_limits(self, *, max_str_len: int = protocol.DEFAULT_LIMITS.max_str_len) -> None:
        self.limits = protocol.Limits(
            max_message_bytes=settings.WS_MAX_MESSAGE_BYTES, max_str_len=max_str_len
        )
        self.rate = TokenBucket(rate=settings.WS_RATE_PER_SEC, burst=settings.WS_RATE_BURST)
        self.strikes = TokenBucket(rate=1.0, burst=settings.WS_MAX_STRIKES)
        self.last_rate_error = float("-inf")

    def check_message(self, message: dict[str, Any]) -> str:
        """The message's type, after checking its shape; raise ProtocolError otherwise."""
        raise NotImplementedError

    async def websocket_receive(self, message: dict[str, Any]) -> None:  # type: ignore[override]
        if not self.receiving or self.closing:
            return
        now = self.last_heard = time.monotonic()
        if not self.rate.take(now):
            await self.rate_limited(now)
            return
        data = message.get("bytes")
        try:
            if data is None:
                raise ProtocolError(ErrorCode.TEXT_FRAME, "only binary msgpack frames are accepted")
            decoded = protocol.decode(data, self.limits)
            kind = self.check_message(decoded)
            await self.handlers[kind](decoded)
        except ProtocolError as exc:
            await self.send_message(protocol.error_message(exc.code, exc.detail))
            await self.strike(now, CloseCode.PROTOCOL)

    async def on_ping(self, message: dict[str, Any]) -> None:
        await self.send_message(protocol.pong_message(message["id"]))

    async def rate_limited(self, now: float, what: str = "") -> None:
        """Drop the message; say so at most once a second; close a sustained flood."""
        if not await self.strike(now, CloseCode.FLOOD):
            return
        if now - self.last_rate_error >= 1.0:
            self.last_rate_error = now
            limit = what or f"over {settings.WS_RATE_PER_SEC} messages/s"
            await self.send_message(
                protocol.error_message(ErrorCode.RATE_LIMITED, f"{limit}; messages are being dropped")
            )

    async def strike(self, now: float, code: CloseCode) -> bool:
        """Count a violation; False (and the connection closed) once the allowance is spent."""
        if self.strikes.take(now):
            return True
        metrics.FLOOD_CLOSES.labels(code=str(int(code))).inc()
        await self.send_message(protocol.error_message(ErrorCode.TOO_MANY_ERRORS, "too many bad messages"))
        self.closing = True  # ignore what is still in flight; cleanup runs as usual
        await self.close(code=int(code))
        return False

    async def refuse(self, code: CloseCode, error: ErrorCode, detail: str) -> None:
        """Tell the client why, then close (Daphne drops close reasons, so the error says it)."""
        await self.send_message(protocol.error_message(error, detail))
        self.closing = True
        await self.close(code=int(code))

    async def send_message(self, message: dict[str, Any]) -> None:
        await self.send(bytes_data=protocol.encode(message))


class EdgeWorker(AsyncConsumer):
    """Base of the named-channel workers: no executor hop or task per message, a handler that
    raises is logged and counted, and a failed receive on the worker's own channel is retried:
    none of these is fatal to the worker and everything it owns."""

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:  # type: ignore[override]
        self.scope = scope
        self.base_send = send  # type: ignore[assignment]
        self.dispatch_lock = asyncio.Lock()
        self.channel_layer = get_channel_layer(self.channel_layer_alias)  # type: ignore[assignment]
        assert self.channel_layer is not None, "a worker needs a channel layer"
        self.channel_name = await self.channel_layer.new_channel()
        name = type(self).__name__
        listener = asyncio.ensure_future(
            listen(self.channel_layer, self.channel_name, self.dispatch_lock, self.dispatch, name)
        )
        LayerWatch.of(self.channel_layer).register(self)
        Shutdown.workers.add(self)
        try:
            await serve(receive, self.dispatch_lock, self.dispatch)
        finally:
            Shutdown.workers.discard(self)
            listener.cancel()

    async def dispatch(self, message: dict[str, Any]) -> None:
        try:
            await self.handle(message)
        except Exception as exc:
            kind = str(message.get("type"))
            metrics.HANDLER_ERRORS.labels(consumer=type(self).__name__, event=kind).inc()
            if isinstance(exc, ValueError):
                log.warning("%s: dropped event %r: %s", type(self).__name__, kind, exc)
            else:
                log.exception("%s: handler for %r failed", type(self).__name__, kind)

    async def shut_down(self) -> int:
        """The process is stopping: end or hand over what this worker owns; how many matches
        it ended (default: none)."""
        return 0

    def groups_held(self) -> Iterable[str]:
        """The groups this worker is in (joined again after a layer failure)."""
        return ()

    async def rejoin_groups(self) -> None:
        await rejoin(self.channel_layer, self.channel_name, self.groups_held())

    async def handle(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"no handler for message type {message['type']!r}")
        await handler(message)
