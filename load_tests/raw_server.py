"""A minimal raw ``websockets`` match server: the floor the edge benchmark measures the product against.

Run ``python -m load_tests.raw_server --port N``. It speaks just enough of the match protocol for
``load_tests.bench_edge``'s clients: a connection to ``/ws/match/<id>/?...`` joins group ``<id>``
(the ticket is ignored; ``players=<n>`` in the query overrides ``--clients-per-match`` for that
group), gets a ``snapshot`` (seat = join order), and once the group is full a drift-corrected loop
broadcasts one frame-sized message per tick, encoded once and written to every member. Inputs are
decoded and the newest seq per seat goes out as ``acks``, so input-to-state latency is measurable.
No Django, no channel layer, no rate limits: what is left is the cost of the sockets themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import signal
import sys
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgpack
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

from gameserver import protocol

PATH = re.compile(r"^/ws/match/(?P<id>[^/]+)/?$")
MAX_LAG_SECONDS = 1.0  # like match.runner: re-base the clock instead of bursting frames


@dataclass
class Options:
    clients_per_match: int
    hz: int
    broadcast: bool


@dataclass
class Group:
    """One match: its members by seat, the newest input seq per seat, and its tick loop."""

    match_id: str
    size: int
    members: dict[int, ServerConnection] = field(default_factory=dict)
    acks: list[int] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)  # the acks of the last frame
    joined: int = 0
    tick: int = 0
    task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.acks = [0] * self.size
        self.sent = [0] * self.size

    @property
    def phase(self) -> str:
        return protocol.PHASE_RUNNING if self.task is not None else protocol.PHASE_WAITING


def player_fields(seat: int, tick: int) -> dict[str, Any]:
    """Moving-player deltas like the arena's (seat, x, y, aim): what a busy match sends per tick."""
    return {
        "s": seat,
        "x": (seat * 197 + tick * 7) % 1600,
        "y": (seat * 89 + tick * 5) % 900,
        "a": tick % 4096,
    }


def frame_bytes(group: Group) -> bytes:
    """Like the arena's delta, only seats that sent input since the last tick "moved", so an idle
    (egress) match sends the same ~45 bytes as the product and a busy one its ~180."""
    tick = group.tick
    delta: dict[str, Any] = {"tick": tick}
    moved = [player_fields(seat, tick) for seat in range(group.size) if group.acks[seat] != group.sent[seat]]
    if moved:
        delta["p"] = moved
    group.sent = list(group.acks)
    return protocol.encode(protocol.frame_message(tick=tick, delta=delta, acks=group.sent, events=[]))


async def run_ticks(group: Group, options: Options) -> None:
    """Tick n is due at start + n/hz (sleep jitter never accumulates), as in the product runner."""
    loop = asyncio.get_running_loop()
    period = 1.0 / options.hz
    start = loop.time()
    ticks = 0
    while True:
        ticks += 1
        delay = start + ticks * period - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif -delay > MAX_LAG_SECONDS:
            start -= delay
        group.tick += 1
        if options.broadcast:
            broadcast(group.members.values(), frame_bytes(group))


class RawServer:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.groups: dict[str, Group] = {}

    async def handle(self, conn: ServerConnection) -> None:
        assert conn.request is not None
        url = urlsplit(conn.request.path)
        found = PATH.match(url.path)
        if found is None:
            await conn.close(int(protocol.CloseCode.NOT_FOUND), "no such route")
            return
        match_id = found.group("id")
        group = self.groups.get(match_id)
        if group is None:
            wanted = parse_qs(url.query).get("players", [""])[0]
            size = int(wanted) if wanted.isdigit() and int(wanted) > 0 else self.options.clients_per_match
            group = self.groups[match_id] = Group(match_id=match_id, size=size)
        seat = group.joined
        if seat >= group.size:
            await conn.close(int(protocol.CloseCode.FORBIDDEN), "match is full")
            return
        group.joined += 1
        group.members[seat] = conn
        try:
            await self.join(group, seat, conn)
            await self.receive(group, seat, conn)
        except ConnectionClosed:
            pass
        finally:
            del group.members[seat]
            if not group.members:
                if group.task is not None:
                    group.task.cancel()
                self.groups.pop(match_id, None)

    async def join(self, group: Group, seat: int, conn: ServerConnection) -> None:
        state = {"players": [player_fields(s, group.tick) for s in range(group.size)], "shots": []}
        snapshot = protocol.snapshot_message(
            tick=group.tick, seat=seat, phase=group.phase, state=state, acks=list(group.acks), game="arena"
        )
        await conn.send(protocol.encode(snapshot))
        if group.task is None and len(group.members) == group.size:
            group.task = asyncio.ensure_future(run_ticks(group, self.options))
        phase = protocol.phase_message(phase=group.phase, present=sorted(group.members))
        broadcast(group.members.values(), protocol.encode(phase))

    async def receive(self, group: Group, seat: int, conn: ServerConnection) -> None:
        async for data in conn:
            if isinstance(data, str):
                continue
            try:
                message = msgpack.unpackb(data, raw=False)
            except Exception:  # a raw floor: bad bytes are simply ignored
                continue
            if isinstance(message, dict) and message.get("t") == protocol.INPUT:
                seq = message.get("seq")
                if type(seq) is int and seq > group.acks[seat]:
                    group.acks[seat] = seq


async def main_async(host: str, port: int, options: Options, loop_name: str) -> None:
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    raw = RawServer(options)
    async with serve(
        raw.handle, host, port, compression=None, ping_interval=None, max_size=64 * 1024, max_queue=64
    ) as server:
        bound = next(iter(server.sockets)).getsockname()[1]
        mode = "broadcast" if options.broadcast else "no broadcast"
        print(
            f"Game server running at http://{host}:{bound}/ (raw websockets reference, "
            f"{options.clients_per_match} per match, {options.hz} Hz, {mode}, {loop_name})",
            flush=True,
        )
        await stop


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--clients-per-match", type=int, default=8)
    parser.add_argument("--hz", type=int, default=20)
    parser.add_argument("--no-broadcast", action="store_true", help="ingress only: send no frames")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args(argv)
    options = Options(clients_per_match=args.clients_per_match, hz=args.hz, broadcast=not args.no_broadcast)
    coro = main_async(args.host, args.port, options, args.loop)
    with contextlib.suppress(KeyboardInterrupt):
        if args.loop == "uvloop":
            import uvloop

            uvloop.run(coro)
        else:
            asyncio.run(coro)
    sys.exit(0)


if __name__ == "__main__":
    main()
