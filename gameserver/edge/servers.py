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
"""

from __future__ import annotations

import logging
from typing import Any


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
