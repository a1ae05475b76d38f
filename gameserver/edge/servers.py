"""What the ASGI servers cost us that we can switch off, in one place.

autobahn (under Daphne) formats colored debug arguments for every frame it sends and every
read, whether or not debug logging is on: ``self.log.debug(..., func=hltype(self.sendData),
peer=hlval(self.peer))`` in ``WebSocketProtocol.sendData`` (and in the Twisted adapter's
``dataReceived``) runs click.style per call, about 8% of a Daphne process's CPU at 200 sockets
(py-spy, docs/benchmarks.md). With debug logging off we hand those autobahn modules plain
pass-through functions instead; the log calls stay no-ops.
"""

from __future__ import annotations

import logging


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
