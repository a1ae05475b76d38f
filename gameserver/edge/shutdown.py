"""Stopping a server process without leaving anyone behind (SIGTERM or SIGINT, twice: at once).

In order: new sockets are refused; every connected socket is told (error ``shutting_down``)
and closed 1012 (the client shows it and reconnects), and its cleanup runs as on any close;
then each tick worker hosted here ends the matches it owns with an aborted result, written
once, and the lobby frees their players. All of it within ``SHUTDOWN_GRACE_SECONDS``; then
the process exits anyway.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

from gameserver.edge.liveness import release_leases

log = logging.getLogger(__name__)


class Shutdown:
    """Process-wide: the live sockets and named-channel workers here (each registers itself and
    leaves when it ends), and whether the process is stopping."""

    stopping = False
    sockets: weakref.WeakSet[Any] = weakref.WeakSet()  # EdgeConsumer
    workers: weakref.WeakSet[Any] = weakref.WeakSet()  # EdgeWorker


async def drain(grace: float) -> dict[str, Any]:
    """Tell and close every socket, then end every hosted match; what was done, for the log."""
    Shutdown.stopping = True
    started = time.monotonic()
    sockets = list(Shutdown.sockets)
    closed = await _all([socket.shut_down() for socket in sockets], grace / 2)
    # Their cleanup (seat vacated, lobby left) runs when the closes complete; a client that
    # never answers the close may hold this up to half the grace, the matches get the rest.
    cleaned_by = started + grace / 2
    while any(not socket.cleaned for socket in sockets) and time.monotonic() < cleaned_by:  # noqa: ASYNC110 (many sockets, no shared event)
        await asyncio.sleep(0.05)
    ended = await _all(
        [worker.shut_down() for worker in Shutdown.workers], started + grace - time.monotonic()
    )
    # The matchmaker's lease, given up now: its standby takes the lobby over at once.
    await _all([release_leases()], max(started + grace - time.monotonic(), 1.0))
    return {
        "sockets": len(sockets),
        "sockets_closed": len(closed),
        "matches_ended": sum(ended),
        "seconds": round(time.monotonic() - started, 2),
    }


async def _all(steps: list[Awaitable[Any]], within: float) -> list[Any]:
    """Run ``steps`` concurrently for at most ``within`` seconds; the results of those that
    finished cleanly (a failure is logged, what is still running is cancelled)."""
    if not steps:
        return []
    tasks = [asyncio.ensure_future(step) for step in steps]
    done, pending = await asyncio.wait(tasks, timeout=max(within, 0.0))
    for task in pending:
        task.cancel()
    results = []
    for task in done:
        if (exc := task.exception()) is not None:
            log.warning("shutdown: a step failed: %r", exc)
        else:
            results.append(task.result())
    return results


class GracefulStop:
    """SIGTERM/SIGINT: ``drain``, then ``stop``; a second signal, or the grace period running
    out, stops at once."""

    def __init__(self, say: Callable[[str], None], stop: Callable[[], None]) -> None:
        self.say = say
        self.server_stop = stop
        self.stopped = False
        self.draining: asyncio.Task[Any] | None = None

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.server_stop()

    def __call__(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self.draining is not None:
            self.say(f"{name} again: stopping now")
            self.stop()
            return
        grace = settings.SHUTDOWN_GRACE_SECONDS
        self.say(
            f"{name}: shutting down: telling {len(Shutdown.sockets)} connected sockets to reconnect"
            f" and ending this process's matches (at most {grace} s)"
        )
        loop = asyncio.get_running_loop()
        self.draining = asyncio.ensure_future(drain(grace))
        self.draining.add_done_callback(self.drained)
        loop.call_later(grace + 1, self.stop)

    def drained(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled() or task.exception() is not None:
            why = "cancelled" if task.cancelled() else repr(task.exception())
            self.say(f"shutdown: draining failed ({why})")
        else:
            done = task.result()
            self.say(
                f"shutdown: closed {done['sockets_closed']} of {done['sockets']} sockets (1012),"
                f" ended {done['matches_ended']} matches (aborted) in {done['seconds']} s; exiting"
            )
        self.stop()

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self, signum)
