"""Benchmark: process CPU per input through MatchConsumer, in-process.

Run ``python -m load_tests.bench_ingress`` from the repo root. One 2-player match on the
in-memory layer with the tick worker hosted in the same loop (as ``make run`` does); seat 0
sends 3000 inputs through channels' WebsocketCommunicator, then a ping, five times. It prints
the process CPU time per input: the consumer's decode, checks and forward to the tick worker,
plus the worker's decode, plus the test harness's own cost (the same in every run, so it is for
comparing two versions of the input path in one sitting, not an absolute figure). It asserts
nothing: numbers go to docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time

RUNS = 5
INPUTS = 3000
ORIGIN = [(b"origin", b"http://localhost"), (b"host", b"localhost")]


async def measure() -> list[float]:
    import msgpack
    from channels.db import database_sync_to_async
    from channels.layers import get_channel_layer
    from channels.testing import WebsocketCommunicator
    from channels.worker import Worker

    from gameserver.asgi import application
    from gameserver.groups import TICK_CHANNEL
    from match import services
    from match.tickets import ticket_issue

    layer = get_channel_layer()
    assert layer is not None
    worker = Worker(application=application, channels=[TICK_CHANNEL], channel_layer=layer)
    task = asyncio.ensure_future(worker.arun())
    match = await database_sync_to_async(services.match_create)(players=2)
    await services.amatch_request_start(match_id=str(match.id))
    sockets = []
    for seat in (0, 1):
        ticket = ticket_issue(match_id=str(match.id), seat=seat)
        comm = WebsocketCommunicator(application, f"/ws/match/{match.id}/?ticket={ticket}", headers=ORIGIN)
        await comm.connect()
        sockets.append(comm)
    while msgpack.unpackb((await sockets[0].receive_output(5))["bytes"])["t"] != "snapshot":
        pass
    results = []
    for run in range(RUNS):
        frames = [
            msgpack.packb(
                {"t": "input", "seq": run * INPUTS + i + 1, "mx": 1, "my": 0, "aim": 5, "fire": False}
            )
            for i in range(INPUTS)
        ]
        started = time.process_time()
        for frame in frames:
            await sockets[0].send_to(bytes_data=frame)
        await sockets[0].send_to(bytes_data=msgpack.packb({"t": "ping", "id": 1}))
        while msgpack.unpackb((await sockets[0].receive_output(10))["bytes"])["t"] != "pong":
            pass
        results.append((time.process_time() - started) / INPUTS * 1e6)
    task.cancel()
    return results


def main() -> None:
    workdir = tempfile.mkdtemp(prefix="bench-ingress-")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="gameserver.settings",
        DATABASE_URL=f"sqlite:///{workdir}/bench.sqlite3",
        WS_RATE_PER_SEC="1000000",  # the limit would drop most of a burst this size
        WS_RATE_BURST="1000000",
        LOG_LEVEL="ERROR",
    )
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    results = asyncio.run(measure())
    runs = " ".join(f"{r:.1f}" for r in results)
    print(f"per input, process CPU: {runs} us; median {statistics.median(results):.1f} us")


if __name__ == "__main__":
    main()
