"""Arena state <-> wire dicts (msgpack-safe, string keys only) and hashing.

Short keys keep the 20 Hz deltas small; shots are sent once as a line
(origin, velocity, start tick) that clients extrapolate exactly, so only
their appearance and removal ever travel.

Team fields (``tm``, ``teams``) appear only in team matches, so free-for-all
messages and hashes are byte-identical to those from before teams existed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields, is_dataclass
from typing import Any, cast

import msgpack

from . import constants as c
from .state import ArenaState, Config, Player, Shot, is_team_match

STATE_FORMAT = 1
"""Version of ``state_bytes``; bump it when a state field is added, so an old checkpoint is
refused rather than misread."""

_HASH_OMITTED_DEFAULTS: dict[str, object] = {"team": c.NO_TEAM, "forfeit": False}
"""Fields added after the golden file: left out of the hash while at this value
(free-for-all), so old hashes stay valid while team matches hash their teams."""

Wire = dict[str, object]


def player_wire(p: Player) -> Wire:
    """The public part of a player; internal controls and timers stay server-side.

    ``tm`` is appended only in team matches; it never changes, so deltas never carry it.
    ``ff`` is sent only for a seat that forfeited (a delta carries it once, when it happens).
    """
    out: Wire = {
        "s": p.seat,
        "n": p.name,
        "x": p.x,
        "y": p.y,
        "a": p.aim,
        "hp": p.hp,
        "sc": p.score,
        "k": p.kills,
        "d": p.deaths,
        "al": p.alive,
    }
    if p.team != c.NO_TEAM:
        out["tm"] = p.team
    if p.forfeit:
        out["ff"] = True
    return out


def shot_wire(s: Shot) -> list[object]:
    """``[id, owner_seat, x0, y0, vx, vy, t0]``."""
    return [s.id, s.owner, s.x0, s.y0, s.vx, s.vy, s.t0]


def snapshot(state: ArenaState) -> Wire:
    """Everything a client needs to draw the match from scratch.

    It also carries the movement rules' numbers (``radius``, the per-tick ``speed`` and
    ``diag_speed``, with ``w``, ``h`` and ``obs``) so the browser predicts its own moves with
    exactly the server's integers instead of a copy of the constants that could drift.
    """
    cfg = state.config
    return {
        "tick": state.tick,
        "w": c.WIDTH,
        "h": c.HEIGHT,
        "obs": [list(o) for o in c.OBSTACLES],
        "score_limit": cfg.score_limit,
        "end_tick": cfg.end_tick,
        "hz": cfg.tick_hz,
        "radius": c.PLAYER_RADIUS,
        "speed": cfg.move_speed,
        "diag_speed": cfg.diag_speed,
        "shot_radius": c.SHOT_RADIUS,
        "max_hp": c.MAX_HP,
        "respawn_ticks": cfg.respawn_ticks,
        "players": [player_wire(p) for p in state.players],
        "shots": [shot_wire(s) for s in state.shots],
    }


def delta(prev: ArenaState, state: ArenaState) -> Wire:
    """Changed player fields, new shots and removed shot ids; empty parts are omitted.

    Works for any two states of the same match, not only consecutive ones,
    so the runner may skip sending a tick and diff against the last one sent.
    """
    out: Wire = {"tick": state.tick}
    changed: list[Wire] = []
    for old_p, new_p in zip(prev.players, state.players, strict=True):
        if old_p == new_p:  # the common case (an idle or absent player): no wire maps to build
            continue
        old = player_wire(old_p)
        diff: Wire = {k: v for k, v in player_wire(new_p).items() if old.get(k) != v}
        if diff:
            changed.append({"s": new_p.seat, **diff})
    if changed:
        out["p"] = changed
    old_ids = {s.id for s in prev.shots}
    new_ids = {s.id for s in state.shots}
    added = [shot_wire(s) for s in state.shots if s.id not in old_ids]
    if added:
        out["sa"] = added
    removed = [s.id for s in prev.shots if s.id not in new_ids]
    if removed:
        out["sr"] = removed
    return out


def apply_delta(snap: Wire, d: Wire) -> Wire:
    """Reference client reconstruction; returns a new snapshot and leaves ``snap`` intact."""
    players = [dict(cast(Wire, p)) for p in cast(list[object], snap["players"])]
    by_seat = {cast(int, p["s"]): p for p in players}
    for change in cast(list[Wire], d.get("p", [])):
        by_seat[cast(int, change["s"])].update(change)
    removed = set(cast(list[int], d.get("sr", [])))
    shot_list = [list(s) for s in cast(list[list[object]], snap["shots"]) if cast(int, s[0]) not in removed]
    shot_list.extend(list(s) for s in cast(list[list[object]], d.get("sa", [])))
    shot_list.sort(key=lambda s: cast(int, s[0]))
    out = dict(snap)
    out["tick"] = d["tick"]
    out["players"] = players
    out["shots"] = shot_list
    out["obs"] = [list(o) for o in cast(list[list[int]], snap["obs"])]
    return out


def _canonical(obj: object) -> object:
    """Dataclasses become lists of all their fields, so a newly added field is hashed too.

    Only a field in ``_HASH_OMITTED_DEFAULTS`` holding that value is left out.
    """
    if is_dataclass(obj) and not isinstance(obj, type):
        out: list[object] = []
        for f in fields(obj):
            value = getattr(obj, f.name)
            if f.name in _HASH_OMITTED_DEFAULTS and value == _HASH_OMITTED_DEFAULTS[f.name]:
                continue
            out.append(_canonical(value))
        return out
    if isinstance(obj, list):
        return [_canonical(v) for v in obj]
    if type(obj) in (int, str, bool):
        return obj
    raise TypeError(f"cannot hash state value {obj!r}")


def state_hash(state: ArenaState) -> str:
    """sha256 of a canonical JSON of every field, internal ones included.

    Comparing this per tick catches divergence in hidden state (rng,
    cooldowns, controls) long before it becomes visible on the wire.
    """
    doc = _canonical(state)
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _shared_ranks(keys: list[tuple[int, ...]]) -> list[int]:
    """Ranks from 1 for keys already sorted best first; equal keys share a rank (1, 1, 3)."""
    ranks: list[int] = []
    for i, key in enumerate(keys):
        ranks.append(ranks[-1] if i and key == keys[i - 1] else i + 1)
    return ranks


def _team_out(state: ArenaState, team: int) -> bool:
    """Every member of the team forfeited."""
    return all(p.forfeit for p in state.players if p.team == team)


def _team_standings(state: ArenaState) -> list[Wire]:
    """Teams best first: a team that forfeited last, then team score desc, team deaths asc,
    team id asc; ties share a rank."""
    totals = {team: [0, 0] for team in c.TEAMS}
    for p in state.players:
        totals[p.team][0] += p.score
        totals[p.team][1] += p.deaths
    out = {team: int(_team_out(state, team)) for team in c.TEAMS}
    order = sorted(c.TEAMS, key=lambda t: (out[t], -totals[t][0], totals[t][1], t))
    ranks = _shared_ranks([(out[t], -totals[t][0], totals[t][1]) for t in order])
    standings: list[Wire] = []
    for t, r in zip(order, ranks, strict=True):
        entry: Wire = {"tm": t, "sc": totals[t][0], "rank": r}
        if out[t]:
            entry["ff"] = True
        standings.append(entry)
    return standings


def result(state: ArenaState) -> Wire:
    """Ranking by score desc, deaths asc, seat asc, seats that forfeited (``ff``) after all
    others; equal (forfeit, score, deaths) share a rank.

    A team match adds ``tm`` to each ranking entry and the ``teams`` standings.
    """
    if not state.over:
        raise ValueError(f"match is not over at tick {state.tick!r}")
    order = sorted(state.players, key=lambda p: (p.forfeit, -p.score, p.deaths, p.seat))
    ranks = _shared_ranks([(int(p.forfeit), -p.score, p.deaths) for p in order])
    ranking: list[Wire] = []
    for p, rank in zip(order, ranks, strict=True):
        entry: Wire = {"s": p.seat, "n": p.name, "sc": p.score, "k": p.kills, "d": p.deaths, "rank": rank}
        if p.team != c.NO_TEAM:
            entry["tm"] = p.team
        if p.forfeit:
            entry["ff"] = True
        ranking.append(entry)
    out: Wire = {"reason": state.reason, "tick": state.tick, "ranking": ranking}
    if is_team_match(state):
        out["teams"] = _team_standings(state)
    return out


def _fields_of(obj: object) -> list[object]:
    """Every field of a dataclass in order, nested ones as lists (nothing omitted)."""
    out: list[object] = []
    for f in fields(cast(Any, obj)):
        value = getattr(obj, f.name)
        if is_dataclass(value):
            out.append(_fields_of(value))
        elif isinstance(value, list):
            out.append([_fields_of(v) if is_dataclass(v) else v for v in value])
        else:
            out.append(value)
    return out


def state_bytes(state: ArenaState) -> bytes:
    """The whole state, internal fields included, for checkpoints: ``state_from_bytes`` gives
    back a state with the same ``state_hash``, from which ``step`` goes on identically."""
    return msgpack.packb([STATE_FORMAT, _fields_of(state)], use_bin_type=True)


def state_from_bytes(data: bytes) -> ArenaState:
    """The inverse of ``state_bytes``; raises ``ValueError`` for anything else."""
    try:
        version, parts = msgpack.unpackb(data, raw=False, use_list=True)
        if version != STATE_FORMAT:
            raise ValueError(f"unknown arena state format {version!r}")
        config, tick, rng, next_shot_id, players, shots, over, reason = parts
        return ArenaState(
            config=Config(*config),
            tick=tick,
            rng=rng,
            next_shot_id=next_shot_id,
            players=[Player(*p) for p in players],
            shots=[Shot(*s) for s in shots],
            over=over,
            reason=reason,
        )
    except (TypeError, ValueError, msgpack.UnpackException) as exc:
        raise ValueError(f"not an arena state: {exc}") from None
