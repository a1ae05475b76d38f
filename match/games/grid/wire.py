"""Grid state <-> wire dicts (msgpack-safe, string keys only), checkpoint bytes and hashing.

A snapshot carries the board run-length encoded; a delta carries only the cells filled since
the other state (``c``), the player fields that changed, and ``clr`` when a new round cleared
the board, so a frame is a few dozen bytes however long the trails grow.
"""

from __future__ import annotations

import hashlib
from typing import cast

import msgpack

from . import constants as c
from .state import Config, Cycle, GridState

STATE_FORMAT = 1
"""Version of ``state_bytes``; bump it when a state field is added, so an old checkpoint is
refused rather than misread."""

Wire = dict[str, object]

_CELLS = c.WIDTH * c.HEIGHT
_ROUND_KEYS = (("round", "round"), ("go", "go_tick"), ("next", "next_tick"))
"""Wire key -> state attribute of the round clock, sent in a delta only when it changed."""


def player_wire(p: Cycle) -> Wire:
    """The public part of a cycle. ``d`` is the heading of the next move, ``m`` that of the last
    (a client predicting a turn needs both); ``ff`` only for a seat that forfeited."""
    out: Wire = {
        "s": p.seat,
        "n": p.name,
        "x": p.x,
        "y": p.y,
        "d": p.dir,
        "m": p.moved,
        "al": p.alive,
        "sc": p.wins,
    }
    if p.forfeit:
        out["ff"] = True
    return out


def rle(grid: bytes | bytearray) -> list[int]:
    """``[value, run, value, run, ...]`` over the row-major board (0 empty, seat + 1 a trail)."""
    out: list[int] = []
    run_value = grid[0]
    run = 0
    for value in grid:
        if value == run_value:
            run += 1
        else:
            out += (run_value, run)
            run_value, run = value, 1
    out += (run_value, run)
    return out


def unrle(runs: list[int]) -> bytearray:
    """The inverse of ``rle``."""
    grid = bytearray()
    for i in range(0, len(runs), 2):
        grid += bytes((runs[i],)) * runs[i + 1]
    return grid


def snapshot(state: GridState) -> Wire:
    """Everything a client needs to draw the match from scratch."""
    cfg = state.config
    return {
        "tick": state.tick,
        "w": c.WIDTH,
        "h": c.HEIGHT,
        "hz": cfg.tick_hz,
        "cps": cfg.cells_per_s,
        "score_limit": cfg.score_limit,
        "end_tick": cfg.end_tick,
        "round": state.round,
        "go": state.go_tick,
        "next": state.next_tick,
        "players": [player_wire(p) for p in state.players],
        "g": rle(state.grid),
    }


def _new_cells(prev: bytearray, grid: bytearray) -> list[int]:
    """Flat ``[cell, value, ...]`` of the cells where ``grid`` differs from ``prev``, in cell order.

    Between two ticks only the heads' new cells differ: the boards are XORed as two big ints (in
    C) and the differing bytes picked off lowest first, a few steps instead of a Python loop over
    all 1,536 cells.
    """
    out: list[int] = []
    if prev == grid:
        return out
    diff = int.from_bytes(prev, "little") ^ int.from_bytes(grid, "little")
    while diff:
        i = ((diff & -diff).bit_length() - 1) >> 3
        out += (i, grid[i])
        diff ^= ((diff >> (i * 8)) & 0xFF) << (i * 8)
    return out


def _all_cells(grid: bytearray) -> list[int]:
    """Flat ``[cell, value, ...]`` of every filled cell (a new round's board)."""
    out: list[int] = []
    for i, value in enumerate(grid):
        if value:
            out += (i, value)
    return out


def delta(prev: GridState, state: GridState) -> Wire:
    """What changed; works for any two states of one match, not only consecutive ones, so the
    runner may diff against the last state it sent.

    Between rounds the board was cleared: ``clr`` says so and ``c`` lists every cell of the new
    board (the start cells, unless several ticks of riding were skipped).
    """
    out: Wire = {"tick": state.tick}
    for key, attr in _ROUND_KEYS:
        value = getattr(state, attr)
        if value != getattr(prev, attr):
            out[key] = value
    changed: list[Wire] = []
    for old_p, new_p in zip(prev.players, state.players, strict=True):
        if old_p == new_p:
            continue
        old = player_wire(old_p)
        diff: Wire = {k: v for k, v in player_wire(new_p).items() if old.get(k) != v}
        if diff:
            changed.append({"s": new_p.seat, **diff})
    if changed:
        out["p"] = changed
    if prev.round != state.round:
        out["clr"] = True
        cells = _all_cells(state.grid)
    else:
        cells = _new_cells(prev.grid, state.grid)
    if cells:
        out["c"] = cells
    return out


def apply_delta(snap: Wire, d: Wire) -> Wire:
    """Reference client reconstruction; returns a new snapshot and leaves ``snap`` intact."""
    out = dict(snap)
    out["tick"] = d["tick"]
    for key, _attr in _ROUND_KEYS:
        if key in d:
            out[key] = d[key]
    players = [dict(cast(Wire, p)) for p in cast(list[object], snap["players"])]
    by_seat = {cast(int, p["s"]): p for p in players}
    for change in cast(list[Wire], d.get("p", [])):
        by_seat[cast(int, change["s"])].update(change)
    out["players"] = players
    grid = bytearray(_CELLS) if d.get("clr") else unrle(cast(list[int], snap["g"]))
    cells = cast(list[int], d.get("c", []))
    for i in range(0, len(cells), 2):
        grid[cells[i]] = cells[i + 1]
    out["g"] = rle(grid)
    return out


def _shared_ranks(keys: list[tuple[int, ...]]) -> list[int]:
    """Ranks from 1 for keys already sorted best first; equal keys share a rank (1, 1, 3)."""
    ranks: list[int] = []
    for i, key in enumerate(keys):
        ranks.append(ranks[-1] if i and key == keys[i - 1] else i + 1)
    return ranks


def result(state: GridState) -> Wire:
    """Ranking by round wins, seats that forfeited (``ff``) after all others; equal (forfeit,
    wins) share a rank, so a time limit with level wins is a draw."""
    if not state.over:
        raise ValueError(f"match is not over at tick {state.tick!r}")
    order = sorted(state.players, key=lambda p: (p.forfeit, -p.wins, p.seat))
    ranks = _shared_ranks([(int(p.forfeit), -p.wins) for p in order])
    ranking: list[Wire] = []
    for p, rank in zip(order, ranks, strict=True):
        entry: Wire = {"s": p.seat, "n": p.name, "rank": rank, "sc": p.wins}
        if p.forfeit:
            entry["ff"] = True
        ranking.append(entry)
    return {"reason": state.reason, "tick": state.tick, "rounds": state.round, "ranking": ranking}


def state_bytes(state: GridState) -> bytes:
    """The whole state, internal fields included, for checkpoints: ``state_from_bytes`` gives
    back an equal state, from which ``step`` goes on identically."""
    cfg = state.config
    parts = [
        [cfg.tick_hz, cfg.score_limit, cfg.end_tick, cfg.pause_ticks, cfg.ready_ticks, cfg.cells_per_s],
        state.tick,
        state.rng,
        state.round,
        state.go_tick,
        state.next_tick,
        bytes(state.grid),
        [
            [p.seat, p.name, p.x, p.y, p.dir, p.moved, p.alive, p.wins, p.seq, p.forfeit]
            for p in state.players
        ],
        state.over,
        state.reason,
    ]
    return msgpack.packb([STATE_FORMAT, parts], use_bin_type=True)


def state_from_bytes(data: bytes) -> GridState:
    """The inverse of ``state_bytes``; raises ``ValueError`` for anything else."""
    try:
        version, parts = msgpack.unpackb(data, raw=False, use_list=True)
        if version != STATE_FORMAT:
            raise ValueError(f"unknown grid state format {version!r}")
        config, tick, rng, round_, go_tick, next_tick, grid, players, over, reason = parts
        if type(grid) is not bytes or len(grid) != _CELLS:
            raise ValueError(f"a board of {_CELLS} cells, got {grid!r:.40}")
        return GridState(
            config=Config(*config),
            tick=tick,
            rng=rng,
            round=round_,
            go_tick=go_tick,
            next_tick=next_tick,
            grid=bytearray(grid),
            players=[Cycle(*p) for p in players],
            over=over,
            reason=reason,
        )
    except (TypeError, ValueError, msgpack.UnpackException) as exc:
        raise ValueError(f"not a grid state: {exc}") from None


def state_hash(state: GridState) -> str:
    """sha256 of ``state_bytes``, which holds every field (the rng, seqs and headings
    included), so hidden divergence shows long before it reaches the wire."""
    return hashlib.sha256(state_bytes(state)).hexdigest()
