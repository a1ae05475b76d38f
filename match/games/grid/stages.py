"""One tick of the grid game as an ordered tuple of named stages (the Battlesnake way).

Each stage takes the fresh copy of the state, the seat -> input mapping and the event list,
and mutates the copy in place.

Order and why:
  controls  - a seat's newest input turns its cycle at once (a reversal is ignored), so a
              turn pressed between two moves takes effect on the next move
  layout    - once a decided round's pause is over, the next round is laid out
  move      - every riding cycle moves one cell at the same time (several sub-steps per tick
              at low tick rates); a wall, a trail or another head knocks it out
  judge     - a round with at most one cycle riding is decided; the last one wins it
  end       - the score limit (round wins) wins over a forfeit, which wins over the clock
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from match.games.rng import below

from . import constants as c
from .state import GridInput, GridState, moves_due

Events = list[list[object]]
Stage = Callable[[GridState, Mapping[int, GridInput], Events], None]


def reverse(direction: int) -> int:
    return (direction + 2) % 4


def apply_controls(state: GridState, inputs: Mapping[int, GridInput], events: Events) -> None:
    """Turn riding cycles; stale or duplicate seqs are ignored, a reversal is acked but ignored.

    The reversal is judged against the last move (not the current heading), so two quick
    turns between two moves cannot fold a cycle back onto its own trail.
    """
    players = state.players
    for seat, inp in inputs.items():
        if not 0 <= seat < len(players):
            raise ValueError(f"input for unknown seat {seat!r}")
        p = players[seat]
        if inp.seq <= p.seq or p.forfeit:
            continue
        p.seq = inp.seq
        if p.alive and state.next_tick == 0 and inp.dir != reverse(p.moved):
            p.dir = inp.dir


def lay_out_round(state: GridState) -> None:
    """Clear the board and put every seat still in the match on a start cell (seeded shuffle)."""
    players = state.players
    slots = list(c.SLOTS[: len(players)])
    rng = state.rng
    for i in range(len(slots) - 1, 0, -1):
        j, rng = below(rng, i + 1)
        slots[i], slots[j] = slots[j], slots[i]
    state.rng = rng
    grid = bytearray(c.WIDTH * c.HEIGHT)
    for p, (x, y, direction) in zip(players, slots, strict=True):
        if p.forfeit:
            continue
        p.x, p.y, p.dir, p.moved, p.alive = x, y, direction, direction, True
        grid[y * c.WIDTH + x] = p.seat + 1
    state.grid = grid
    state.round += 1
    state.go_tick = state.tick + state.config.ready_ticks
    state.next_tick = 0


def layout(state: GridState, inputs: Mapping[int, GridInput], events: Events) -> None:
    """Start the next round when the pause after the last one is over."""
    if state.next_tick and state.tick >= state.next_tick:
        lay_out_round(state)
        events.append(["start", state.round])


def ride(state: GridState, events: Events) -> None:
    """One simultaneous move of every riding cycle.

    Targets are judged against the board before anyone moves: a cell taken by any trail or head
    (a head is the newest trail cell, so two cycles swapping cells both crash) or off the board
    knocks the cycle out; two cycles entering the same empty cell both crash (a head-on).
    """
    grid = state.grid
    width = c.WIDTH
    riders = [p for p in state.players if p.alive]
    targets: list[tuple[int, int, int]] = []
    claims: dict[int, list[int]] = {}
    for p in riders:
        x = p.x + c.DX[p.dir]
        y = p.y + c.DY[p.dir]
        cell = y * width + x if 0 <= x < width and 0 <= y < c.HEIGHT else -1
        targets.append((x, y, cell))
        if cell >= 0:
            claims.setdefault(cell, []).append(p.seat)
    for p, (x, y, cell) in zip(riders, targets, strict=True):
        if cell < 0:
            by = c.WALL
        elif grid[cell]:
            by = grid[cell] - 1
        elif len(claims[cell]) > 1:
            by = next(seat for seat in claims[cell] if seat != p.seat)
        else:
            p.x, p.y, p.moved = x, y, p.dir
            grid[cell] = p.seat + 1
            continue
        p.alive = False
        events.append(["crash", p.seat, by])


def riding(state: GridState) -> int:
    return sum(1 for p in state.players if p.alive)


def move(state: GridState, inputs: Mapping[int, GridInput], events: Events) -> None:
    """Move the cycles as many cells as this tick is due, stopping once the round is decided."""
    if state.next_tick or state.tick < state.go_tick:
        return
    for _ in range(moves_due(state.config, state.tick, state.go_tick)):
        ride(state, events)
        if riding(state) < 2:
            break


def judge(state: GridState, inputs: Mapping[int, GridInput], events: Events) -> None:
    """A round with at most one cycle riding is over: the survivor (if any) wins it, and the
    next round is laid out after the pause. A round where the last ones crash together has no
    winner (``-1``)."""
    if state.next_tick:
        return
    alive = [p for p in state.players if p.alive]
    if len(alive) > 1:
        return
    winner = -1
    if alive:
        alive[0].wins += 1
        winner = alive[0].seat
    state.next_tick = state.tick + state.config.pause_ticks
    events.append(["round", state.round, winner])


def forfeit(state: GridState, seat: int, events: Events) -> None:
    """The seat is out for good: its cycle stops (its trail stays this round) and never rides again."""
    p = state.players[seat]
    if p.forfeit:
        return
    p.forfeit = True
    p.alive = False
    events.append(["forfeit", seat])


def end(state: GridState, inputs: Mapping[int, GridInput], events: Events) -> None:
    """End on the score limit first (a last-tick round win beats the clock), then when fewer
    than two seats have not forfeited, then on time."""
    cfg = state.config
    if any(p.wins >= cfg.score_limit for p in state.players):
        state.reason = "score"
    elif sum(1 for p in state.players if not p.forfeit) < 2:
        state.reason = "forfeit"
    elif state.tick >= cfg.end_tick:
        state.reason = "time"
    else:
        return
    state.over = True
    events.append(["end", state.reason])


STAGES: tuple[tuple[str, Stage], ...] = (
    ("controls", apply_controls),
    ("layout", layout),
    ("move", move),
    ("judge", judge),
    ("end", end),
)
