"""Micro-benchmark of the arena simulation and its wire sizes.

Run ``python -m load_tests.bench_step`` from the repo root.  It prints the
mean cost of one ``step`` with 8 busy players (the tick worker's CPU budget
per match) and the msgpack sizes of a snapshot and of typical deltas, which
set the bandwidth per client.  It asserts nothing: numbers go to
docs/benchmarks.md.
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

import msgpack

from gameserver import protocol
from match.games.arena import ARENA
from match.rules import PlayerSpec

TICKS = 2000
SETTINGS = {"time_limit_ticks": 10**6, "score_limit": 10**6}


def packed_size(msg: object) -> int:
    """Bytes on the wire for one message, encoded the way the server encodes frames."""
    data: bytes = msgpack.packb(msg, use_bin_type=True)
    return len(data)


def busy_inputs(rnd: random.Random, seats: int, tick: int) -> dict[int, Any]:
    """Every seat sends a fresh input every tick: random movement and aim, mostly firing."""
    return {
        seat: ARENA.decode_input(
            {
                "t": "input",
                "seq": tick + 1,
                "mx": rnd.randint(-1, 1),
                "my": rnd.randint(-1, 1),
                "aim": rnd.randrange(4096),
                "fire": rnd.random() < 0.9,
            }
        )
        for seat in range(seats)
    }


def simulate(seats: int, ticks: int) -> tuple[list[float], list[int], int, list[int], int]:
    """Return (seconds per step, delta sizes, final snapshot size, frame message sizes,
    snapshot message size) for one busy match; the *message* sizes are what goes on the wire."""
    players: list[PlayerSpec] = [{"seat": i, "name": f"player{i}"} for i in range(seats)]
    state = ARENA.initial_state(players=players, settings=SETTINGS, seed=1)
    rnd = random.Random(seats)
    times: list[float] = []
    sizes: list[int] = []
    frames: list[int] = []
    for tick in range(ticks):
        inputs = busy_inputs(rnd, seats, tick)
        start = time.perf_counter()
        new, events = ARENA.step(state, inputs)
        times.append(time.perf_counter() - start)
        delta = ARENA.delta(state, new)
        sizes.append(packed_size(delta))
        frame = protocol.frame_message(tick=ARENA.tick(new), delta=delta, acks=ARENA.acks(new), events=events)
        frames.append(len(protocol.encode(frame)))
        state = new
    snapshot = protocol.snapshot_message(
        tick=ARENA.tick(state),
        seat=0,
        phase=protocol.PHASE_RUNNING,
        state=ARENA.snapshot(state),
        acks=ARENA.acks(state),
        game=ARENA.name,
    )
    return times, sizes, packed_size(ARENA.snapshot(state)), frames, len(protocol.encode(snapshot))


def main() -> None:
    """Print the numbers; ``main`` rather than module code so importing is side-effect free."""
    times, _, _, _, _ = simulate(8, TICKS)
    mean_us = statistics.fmean(times) * 1e6
    p99_us = sorted(times)[int(len(times) * 0.99)] * 1e6
    print(f"step, 8 players, {TICKS} ticks: mean {mean_us:.1f} us, p99 {p99_us:.1f} us")
    for seats in (2, 8):
        _, sizes, snap, frames, snap_msg = simulate(seats, 400)
        warm, warm_frames = sizes[40:], frames[40:]
        print(
            f"{seats} players: snapshot {snap} B, delta mean {statistics.fmean(warm):.1f} B"
            f" (median {statistics.median(warm):.0f} B, max {max(warm)} B)"
        )
        print(
            f"{seats} players on the wire: snapshot message {snap_msg} B, frame message mean"
            f" {statistics.fmean(warm_frames):.1f} B (median {statistics.median(warm_frames):.0f} B,"
            f" max {max(warm_frames)} B)"
        )


if __name__ == "__main__":
    main()
