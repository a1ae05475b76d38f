"""One tick of the arena as an ordered tuple of named stages (the Battlesnake way).

Each stage takes the fresh copy of the state, the seat -> input mapping and
the event list, and mutates the copy in place.  Keeping them separate makes
the order of effects explicit and lets tests drive a single stage.

Order and why:
  controls   - newest non-stale input replaces a seat's persistent controls
  respawn    - timers expire before movement so a respawned player acts at once
  move       - per-axis movement with bounds/obstacle collision
  fire       - shots leave the muzzle at the player's post-move position
  shots      - every shot sweeps its path for this tick; the first thing it
               touches (a living enemy, else an obstacle) ends it; hits deal damage;
               in a team match it passes through the shooter's teammates
  knockouts  - hp <= 0 becomes a KO, credited to the last hitter
  end        - score limit (checked after hits) wins over the time limit; in a
               team match the limit applies to the team score (sum of members)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from math import isqrt

from match.games.rng import below

from . import constants as c
from .state import ArenaInput, ArenaState, Player, Shot, is_team_match, team_scores

Events = list[list[object]]
Stage = Callable[[ArenaState, Mapping[int, ArenaInput], Events], None]

_PLAYER_R2 = c.PLAYER_RADIUS * c.PLAYER_RADIUS
_HIT_R = c.PLAYER_RADIUS + c.SHOT_RADIUS
_HIT_R2 = _HIT_R * _HIT_R

_OBSTACLE_BOXES: tuple[tuple[int, int, int, int], ...] = tuple(
    (x, y, x + w, y + h) for x, y, w, h in c.OBSTACLES
)
"""Obstacles as ``(x0, y0, x1, y1)`` for the player circle test."""

_SHOT_BOXES: tuple[tuple[int, int, int, int], ...] = tuple(
    (x - c.SHOT_RADIUS, y - c.SHOT_RADIUS, x + w + c.SHOT_RADIUS, y + h + c.SHOT_RADIUS)
    for x, y, w, h in c.OBSTACLES
)
"""Obstacles grown by the shot radius, so a shot is a point against them."""


_NEAR_BOXES: tuple[tuple[int, int, int, int, int, int, int, int], ...] = tuple(
    (x0 - c.PLAYER_RADIUS, y0 - c.PLAYER_RADIUS, x1 + c.PLAYER_RADIUS, y1 + c.PLAYER_RADIUS, x0, y0, x1, y1)
    for x0, y0, x1, y1 in _OBSTACLE_BOXES
)
"""Each obstacle with its box grown by the player radius: a circle whose centre is outside
the grown box cannot overlap the obstacle, so most tests end at a few comparisons."""


def circle_blocked(x: int, y: int) -> bool:
    """Whether a player circle at (x, y) overlaps an obstacle (touching is allowed)."""
    return _blocked_by(x, y, _NEAR_BOXES)


def _blocked_by(x: int, y: int, boxes: tuple[tuple[int, int, int, int, int, int, int, int], ...]) -> bool:
    for gx0, gy0, gx1, gy1, x0, y0, x1, y1 in boxes:
        if gx0 < x < gx1 and gy0 < y < gy1:
            dx = x - (x0 if x < x0 else x1 if x > x1 else x)
            dy = y - (y0 if y < y0 else y1 if y > y1 else y)
            if dx * dx + dy * dy < _PLAYER_R2:
                return True
    return False


def _slide(start: int, target: int, at: Callable[[int], bool]) -> int:
    """Back off from ``target`` towards ``start`` one unit at a time until not blocked.

    Moves are at most a few dozen units, so this stays cheap and lets players
    end flush against walls instead of stopping short.
    """
    step = 1 if target < start else -1
    pos = target
    while pos != start and at(pos):
        pos += step
    return pos


def move_player(p: Player, vx: int, vy: int) -> None:
    """Move x then y, each clamped to the arena and backed off out of obstacles.

    Only the obstacles the circle can reach on that axis's line are tested: usually none.
    """
    r = c.PLAYER_RADIUS
    if vx:
        y = p.y
        tx = min(max(p.x + vx, r), c.WIDTH - r)
        lo, hi = (p.x, tx) if p.x < tx else (tx, p.x)
        near = tuple(b for b in _NEAR_BOXES if b[1] < y < b[3] and b[0] < hi and lo < b[2])
        p.x = _slide(p.x, tx, lambda xx: _blocked_by(xx, y, near)) if near else tx
    if vy:
        x = p.x
        ty = min(max(p.y + vy, r), c.HEIGHT - r)
        lo, hi = (p.y, ty) if p.y < ty else (ty, p.y)
        near = tuple(b for b in _NEAR_BOXES if b[0] < x < b[2] and b[1] < hi and lo < b[3])
        p.y = _slide(p.y, ty, lambda yy: _blocked_by(x, yy, near)) if near else ty


def segment_box_entry(
    ax: int, ay: int, dx: int, dy: int, dd: int, box: tuple[int, int, int, int]
) -> int | None:
    """Entry point of segment a + t*d (t in [0, 1]) into a closed box, as t*dd, or None.

    Scaling by ``dd = |d|^2`` keeps the key comparable with ``segment_circle_entry``
    using only integers; a zero-length segment is a point-in-box test (key 0).
    """
    lo, hi = 0, dd
    for p, dp, b0, b1 in ((ax, dx, box[0], box[2]), (ay, dy, box[1], box[3])):
        if dp == 0:
            if p < b0 or p > b1:
                return None
            continue
        t_a = (b0 - p) * dd // dp
        t_b = (b1 - p) * dd // dp
        if t_a > t_b:
            t_a, t_b = t_b, t_a
        lo = max(lo, t_a)
        hi = min(hi, t_b)
        if lo > hi:
            return None
    return lo


def segment_circle_entry(
    ax: int, ay: int, dx: int, dy: int, dd: int, cx: int, cy: int, r2: int
) -> int | None:
    """Where segment a + t*d first touches the circle (c, sqrt r2), as t*dd, or None."""
    fx = cx - ax
    fy = cy - ay
    ff = fx * fx + fy * fy
    if ff <= r2:
        return 0
    if dd == 0:
        return None
    proj = fx * dx + fy * dy
    if proj <= 0:
        return None
    disc = proj * proj - dd * (ff - r2)
    if disc < 0:
        return None
    key = proj - isqrt(disc)
    return key if key <= dd else None


def apply_controls(state: ArenaState, inputs: Mapping[int, ArenaInput], events: Events) -> None:
    """Replace a seat's controls with its newest input; stale or duplicate seqs are ignored."""
    players = state.players
    for seat, inp in inputs.items():
        if not 0 <= seat < len(players):
            raise ValueError(f"input for unknown seat {seat!r}")
        p = players[seat]
        if inp.seq <= p.seq or p.forfeit:
            continue
        p.seq = inp.seq
        p.mx = inp.mx
        p.my = inp.my
        p.aim = inp.aim
        p.fire = inp.fire


def pick_spawn(state: ArenaState, seat: int) -> tuple[int, int]:
    """Random spawn among the half of the points farthest from living enemies.

    Mixing distance with the seeded PRNG avoids spawn-kills without making
    respawn positions predictable.  In a team match the candidates are the
    points in the team's home half (``HOME_SPAWNS``) and teammates are not enemies.
    """
    me = state.players[seat]
    points = c.SPAWN_POINTS if me.team == c.NO_TEAM else c.HOME_SPAWNS[me.team]
    enemies = [(p.x, p.y) for p in state.players if p.alive and me.is_enemy_of(p)]
    ranked: list[tuple[int, int]] = []
    for i, (sx, sy) in enumerate(points):
        nearest = min(((sx - ex) ** 2 + (sy - ey) ** 2 for ex, ey in enemies), default=0)
        ranked.append((-nearest, i))
    ranked.sort()
    pool = ranked[: max(1, len(ranked) // 2)] if enemies else ranked
    k, state.rng = below(state.rng, len(pool))
    return points[pool[k][1]]


def respawn(state: ArenaState, inputs: Mapping[int, ArenaInput], events: Events) -> None:
    """Bring back knocked-out players whose delay has elapsed, at full hp."""
    for p in state.players:
        if not p.alive and not p.forfeit and state.tick >= p.respawn_tick:
            p.x, p.y = pick_spawn(state, p.seat)
            p.alive = True
            p.hp = c.MAX_HP
            p.respawn_tick = 0
            p.last_hitter = -1
            events.append(["respawn", p.seat])


def move(state: ArenaState, inputs: Mapping[int, ArenaInput], events: Events) -> None:
    """Move living players by their controls; diagonals are normalised."""
    cfg = state.config
    for p in state.players:
        if not p.alive or not (p.mx or p.my):
            continue
        speed = cfg.diag_speed if p.mx and p.my else cfg.move_speed
        move_player(p, p.mx * speed, p.my * speed)


def fire(state: ArenaState, inputs: Mapping[int, ArenaInput], events: Events) -> None:
    """Spawn a shot at the muzzle for each living player holding fire off cooldown."""
    cfg = state.config
    tick = state.tick
    for p in state.players:
        if not (p.alive and p.fire and tick >= p.next_fire_tick):
            continue
        cos = c.COS[p.aim]
        sin = c.SIN[p.aim]
        shot = Shot(
            id=state.next_shot_id,
            owner=p.seat,
            x0=p.x + cos * c.PLAYER_RADIUS // c.TRIG_ONE,
            y0=p.y + sin * c.PLAYER_RADIUS // c.TRIG_ONE,
            vx=cos * cfg.shot_speed // c.TRIG_ONE,
            vy=sin * cfg.shot_speed // c.TRIG_ONE,
            t0=tick,
        )
        state.next_shot_id += 1
        state.shots.append(shot)
        p.next_fire_tick = tick + cfg.fire_cooldown
        events.append(["fire", p.seat, shot.id])


def _first_target(
    shot: Shot,
    ax: int,
    ay: int,
    dx: int,
    dy: int,
    dd: int,
    targets: list[Player],
    wall: int | None,
) -> Player | None:
    """The enemy the shot's path touches first, strictly before any obstacle.

    ``targets`` holds the living players minus the shooter's teammates, so
    a shot passes through its own team.
    """
    best: Player | None = None
    best_key = 0
    bx = ax + dx
    by = ay + dy
    lo_x = (ax if ax < bx else bx) - _HIT_R
    hi_x = (bx if ax < bx else ax) + _HIT_R
    lo_y = (ay if ay < by else by) - _HIT_R
    hi_y = (by if ay < by else ay) + _HIT_R
    owner = shot.owner
    for p in targets:
        if p.seat == owner or not lo_x <= p.x <= hi_x or not lo_y <= p.y <= hi_y:
            continue
        key = segment_circle_entry(ax, ay, dx, dy, dd, p.x, p.y, _HIT_R2)
        if key is None or (wall is not None and key >= wall):
            continue
        if best is None or key < best_key:
            best, best_key = p, key
    return best


def shots(state: ArenaState, inputs: Mapping[int, ArenaInput], events: Events) -> None:
    """Sweep each shot from its last position to this tick's; remove or hit.

    A swept test (not a point test) keeps fast shots from tunnelling through
    players or thin walls at low tick rates.  A shot spawned this tick is
    only tested at its muzzle.  Players already at 0 hp this tick are not
    targets, so one KO is credited to exactly one shooter.
    """
    cfg = state.config
    tick = state.tick
    targets = [p for p in state.players if p.alive]
    teams = is_team_match(state)
    kept: list[Shot] = []
    for shot in state.shots:
        age = tick - shot.t0
        if age > cfg.shot_life:
            continue
        bx = shot.x0 + shot.vx * age
        by = shot.y0 + shot.vy * age
        if age:
            dx, dy = shot.vx, shot.vy
        else:
            dx = dy = 0
        ax = bx - dx
        ay = by - dy
        dd = dx * dx + dy * dy
        wall: int | None = None
        lo_x, hi_x = (ax, bx) if ax < bx else (bx, ax)
        lo_y, hi_y = (ay, by) if ay < by else (by, ay)
        for box in _SHOT_BOXES:
            x0, y0, x1, y1 = box
            if hi_x < x0 or lo_x > x1 or hi_y < y0 or lo_y > y1:
                continue
            key = segment_box_entry(ax, ay, dx, dy, dd, box)
            if key is not None and (wall is None or key < wall):
                wall = key
        if teams:
            team = state.players[shot.owner].team
            enemies = [p for p in targets if p.team != team]
        else:
            enemies = targets
        victim = _first_target(shot, ax, ay, dx, dy, dd, enemies, wall)
        if victim is not None:
            victim.hp -= c.SHOT_DAMAGE
            victim.last_hitter = shot.owner
            events.append(["hit", victim.seat, shot.owner, c.SHOT_DAMAGE])
            if victim.hp <= 0:
                targets.remove(victim)
            continue
        if wall is not None or not (0 <= bx <= c.WIDTH and 0 <= by <= c.HEIGHT):
            continue
        kept.append(shot)
    state.shots = kept


def knockouts(state: ArenaState, inputs: Mapping[int, ArenaInput], events: Events) -> None:
    """Turn hp <= 0 into a KO: credit the last hitter and start the respawn timer."""
    players = state.players
    for p in players:
        if not p.alive or p.hp > 0:
            continue
        p.alive = False
        p.hp = 0
        p.deaths += 1
        p.respawn_tick = state.tick + state.config.respawn_ticks
        killer = p.last_hitter
        if 0 <= killer < len(players) and killer != p.seat:
            players[killer].kills += 1
            players[killer].score += 1
        events.append(["ko", p.seat, killer])


def sides_left(state: ArenaState) -> int:
    """Players (free-for-all) or teams with a member who has not forfeited."""
    if is_team_match(state):
        return len({p.team for p in state.players if not p.forfeit})
    return sum(1 for p in state.players if not p.forfeit)


def forfeit(state: ArenaState, seat: int, events: Events) -> None:
    """The seat is out for good: off the field, no respawn, its controls released."""
    p = state.players[seat]
    if p.forfeit:
        return
    p.forfeit = True
    p.alive = False
    p.hp = 0
    p.mx = p.my = 0
    p.fire = False
    p.respawn_tick = 0
    events.append(["forfeit", seat])


def end(state: ArenaState, inputs: Mapping[int, ArenaInput], events: Events) -> None:
    """End on the score limit first (a last-tick winner beats the clock), then when only one
    side has not forfeited, then on time.

    In a team match the limit applies to each team's summed score.
    """
    cfg = state.config
    scores = team_scores(state) if is_team_match(state) else [p.score for p in state.players]
    if any(score >= cfg.score_limit for score in scores):
        state.reason = "score"
    elif sides_left(state) < 2:
        state.reason = "forfeit"
    elif state.tick >= cfg.end_tick:
        state.reason = "time"
    else:
        return
    state.over = True
    events.append(["end", state.reason])


STAGES: tuple[tuple[str, Stage], ...] = (
    ("controls", apply_controls),
    ("respawn", respawn),
    ("move", move),
    ("fire", fire),
    ("shots", shots),
    ("knockouts", knockouts),
    ("end", end),
)
