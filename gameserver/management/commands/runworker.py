"""``manage.py runworker CHANNEL ...``: channels' worker (the tick worker, the matchmaker) that
stops gracefully on SIGTERM/SIGINT like ``serve`` does (gameserver/edge/shutdown.py): the
matches it owns end aborted with one stored result, then it exits 0. channels' own command
has no signal handling: SIGTERM killed the process and left its matches ``running``; and its
worker exited when Redis restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

from channels.management.commands import runworker

from gameserver.edge.liveness import ResilientWorker
from gameserver.edge.shutdown import GracefulStop


class GracefulWorker(ResilientWorker):
    """A worker that outlives Redis restarts (ResilientWorker) and whose loop is stopped by
    GracefulStop instead of by the signal."""

    def run(self) -> None:
        asyncio.run(self.serve_until_stopped())

    async def serve_until_stopped(self) -> None:
        serving = asyncio.ensure_future(self.arun())

        def say(line: str) -> None:
            print(line, file=sys.stdout, flush=True)

        def stop() -> None:
            serving.cancel()

        GracefulStop(say, stop).install(asyncio.get_running_loop())
        with contextlib.suppress(asyncio.CancelledError):
            await serving


class Command(runworker.Command):
    worker_class = GracefulWorker
