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
from typing import Any, Protocol

from django.conf import settings

log = logging.getLogger(__name__)


class Drains(Protocol):
    """A socket or worker the shutdown waits for."""

    def shut_down(self) -> Awaitable[Any]: ...


class Shutdown:
    """Process-wide: what is live here, and whether the process is stopping."""

    stopping = False
    sockets: weakref.WeakSet[Any] = weakref.WeakSet()
    workers: weakref.WeakSet[Any] = weakref.WeakSet()

    @classmethod
    def add_socket(cls, socket: Drains) -> None:
        cls.sockets.add(socket)

    @classmethod
    def add_worker(cls, worker: Drains) -> None:
        cls.workers.add(worker)


async def drain(grace: float) -> dict[str, Any]:
    """Tell and close every socket, then end every hosted match; what was done, for the log."""
    Shutdown.stopping = True
    started = time.monotonic()
    deadline = started + grace
    sockets = list(Shutdown.sockets)
    told = await _all([socket.shut_down() for socket in sockets], grace / 2)
    # Their cleanup (seat vacated, lobby left) runs when the closes complete; a client that
    # never answers the close may hold this up to half the grace, the matches get the rest.
    cleaned_by = started + grace / 2
    while any(not getattr(socket, "cleaned", True) for socket in sockets) and time.monotonic() < cleaned_by:  # noqa: ASYNC110 (many sockets, no shared event)
        await asyncio.sleep(0.05)
    workers = list(Shutdown.workers)
    ended = await _all([worker.shut_down() for worker in workers], deadline - time.monotonic())
    return {
        "sockets": len(sockets),
        "sockets_closed": told,
        "matches_ended": sum(n for n in ended_counts(workers)),
        "workers_done": ended,
        "seconds": round(time.monotonic() - started, 2),
    }


def ended_counts(workers: list[Any]) -> list[int]:
    return [int(getattr(worker, "matches_ended", 0)) for worker in workers]


async def _all(steps: list[Awaitable[Any]], within: float) -> int:
    """Run ``steps`` concurrently for at most ``within`` seconds; how many finished cleanly."""
    if not steps:
        return 0
    tasks = [asyncio.ensure_future(step) for step in steps]
    done, pending = await asyncio.wait(tasks, timeout=max(within, 0.0))
    for task in pending:
        task.cancel()
    failed = [task for task in done if task.exception() is not None]
    for task in failed:
        log.warning("shutdown: a step failed: %r", task.exception())
    return len(done) - len(failed)


class GracefulStop:
    """SIGTERM/SIGINT: drain (gameserver/edge/shutdown.py), then ``stop``; a second one, or the
    grace period running out, stops at once."""

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
