"""The arena renderer's prediction in a real browser: web/static/web/games/arena.js runs in
headless Chromium and is compared with the server's rules in Python.

- Movement: a few hundred positions (open floor, along walls, in corners, against obstacles) and
  controls from a seeded RNG; one tick in the browser must give the integer position the
  server's ``step`` gives, at several tick rates, from the numbers the snapshot carries.
- Reconciliation: a client sends inputs at random moments, the server (``ARENA.step``) applies
  each from the tick it arrives at, frames come back later; replaying the unacknowledged local
  ticks over each acked server state must give the server's later state.
- The renderer through its contract: a key moves my avatar on the next animation frame, before
  any ack; once the server (Python, stepping on the inputs the page sent) catches up, the
  predicted and the server positions agree; others are drawn from the interpolation buffer.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, sync_playwright

from gameserver import protocol
from match.games.arena import ARENA, ArenaInput, ArenaState
from match.games.arena import constants as c
from match.games.arena.stages import circle_blocked
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parent.parent
ARENA_JS = ROOT / "web" / "static" / "web" / "games" / "arena.js"
HARNESS = """<!DOCTYPE html><html><body style="margin:0">
<canvas id="arena" style="display:block;width:800px;height:450px"></canvas></body></html>"""
TICK_RATES = [1, 7, 10, 20, 30, 60, 120]

Case = tuple[int, int, int, int]  # x, y, mx, my


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page()
            tab.set_default_timeout(20_000)
            errors: list[str] = []
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
            tab.set_content(HARNESS)
            tab.add_script_tag(path=str(ARENA_JS))
            assert tab.evaluate("Boolean(window.GameClients.arena.movement)")
            yield tab
            assert errors == [], errors
        finally:
            browser.close()


def match_state(hz: int = 20) -> ArenaState:
    state: ArenaState = ARENA.initial_state(
        players=[{"seat": 0, "name": "Ann"}, {"seat": 1, "name": "Bob"}], settings={"tick_hz": hz}, seed=3
    )
    return state


def server_step(state: ArenaState, seat: int, seq: int, mx: int, my: int) -> ArenaState:
    """One server tick with the seat's controls (a new seq each time, so they apply)."""
    new, _ = ARENA.step(state, {seat: ArenaInput(seq=seq, mx=mx, my=my, aim=0, fire=False)})
    return new


def valid(x: int, y: int) -> bool:
    r = c.PLAYER_RADIUS
    return r <= x <= c.WIDTH - r and r <= y <= c.HEIGHT - r and not circle_blocked(x, y)


def positions(rnd: random.Random, n: int, reach: int = 30) -> list[tuple[int, int, int, int]]:
    """Places a player can stand, most of them within ``reach`` of a wall or an obstacle, each with
    the direction (-1..1 per axis) towards it: ``(x, y, towards_x, towards_y)``."""
    r = c.PLAYER_RADIUS
    m = reach
    out: list[tuple[int, int, int, int]] = []
    while len(out) < n:
        kind = rnd.choice(["open", "wall", "corner", "obstacle", "obstacle", "obstacle"])
        if kind == "open":
            x, y = rnd.randint(r, c.WIDTH - r), rnd.randint(r, c.HEIGHT - r)
            tx, ty = rnd.randint(-1, 1), rnd.randint(-1, 1)
        elif kind == "wall":
            x, y = rnd.randint(r, c.WIDTH - r), rnd.randint(r, c.HEIGHT - r)
            tx, ty = rnd.choice([-1, 1]), rnd.choice([-1, 1])
            if rnd.random() < 0.5:
                x, ty = (
                    r + rnd.randint(0, m) if tx < 0 else c.WIDTH - r - rnd.randint(0, m),
                    rnd.randint(-1, 1),
                )
            else:
                y, tx = (
                    r + rnd.randint(0, m) if ty < 0 else c.HEIGHT - r - rnd.randint(0, m),
                    rnd.randint(-1, 1),
                )
        elif kind == "corner":
            tx, ty = rnd.choice([-1, 1]), rnd.choice([-1, 1])
            x = r + rnd.randint(0, m) if tx < 0 else c.WIDTH - r - rnd.randint(0, m)
            y = r + rnd.randint(0, m) if ty < 0 else c.HEIGHT - r - rnd.randint(0, m)
        else:
            # Off one side of an obstacle (its corners included), facing it.
            ox, oy, ow, oh = rnd.choice(c.OBSTACLES)
            gap = rnd.randint(0, m)
            tx, ty = rnd.randint(-1, 1), rnd.randint(-1, 1)
            if rnd.random() < 0.5:
                ty = rnd.choice([-1, 1])
                x, y = rnd.randint(ox - r, ox + ow + r), oy - r - gap if ty > 0 else oy + oh + r + gap
            else:
                tx = rnd.choice([-1, 1])
                x, y = ox - r - gap if tx > 0 else ox + ow + r + gap, rnd.randint(oy - r, oy + oh + r)
        if valid(x, y):
            out.append((x, y, tx, ty))
    return out


def controls_for(rnd: random.Random, towards: int) -> int:
    """Mostly towards the nearby wall or obstacle, sometimes anywhere."""
    return towards if rnd.random() < 0.7 else rnd.randint(-1, 1)


def js_steps(page: Page, snap: dict[str, Any], cases: list[Case]) -> list[list[int]]:
    result: list[list[int]] = page.evaluate(
        """([snap, cases]) => {
            const m = window.GameClients.arena.movement;
            const rules = m.makeRules(snap);
            return cases.map(([x, y, mx, my]) => {
                const p = m.step(rules, {x, y}, mx, my);
                return [p.x, p.y];
            });
        }""",
        [snap, cases],
    )
    return result


@pytest.mark.timeout(120)
@pytest.mark.parametrize("hz", TICK_RATES)
def test_one_tick_of_movement_in_the_browser_lands_where_the_server_puts_it(page: Page, hz: int) -> None:
    rnd = random.Random(hz)
    state = match_state(hz)
    r, reach = c.PLAYER_RADIUS, state.config.move_speed + 1
    cases: list[Case] = [
        (x, y, controls_for(rnd, tx), controls_for(rnd, ty)) for x, y, tx, ty in positions(rnd, 150, reach)
    ]
    expected: list[list[int]] = []
    walls = obstacles = 0
    for x, y, mx, my in cases:
        start = state.copy()
        start.players[0].x, start.players[0].y = x, y
        me = server_step(start, 0, 1, mx, my).players[0]
        expected.append([me.x, me.y])
        speed = state.config.diag_speed if mx and my else state.config.move_speed
        clamped = (min(max(x + mx * speed, r), c.WIDTH - r), min(max(y + my * speed, r), c.HEIGHT - r))
        walls += clamped != (x + mx * speed, y + my * speed)
        obstacles += (me.x, me.y) != clamped
    assert js_steps(page, ARENA.snapshot(state), cases) == expected
    assert walls >= 15, f"only {walls} of {len(cases)} moves met a wall"
    assert obstacles >= 15, f"only {obstacles} of {len(cases)} moves met an obstacle"


@pytest.mark.timeout(120)
def test_walks_of_many_ticks_in_the_browser_follow_the_server_tick_for_tick(page: Page) -> None:
    rnd = random.Random(11)
    for walk in range(40):
        hz = rnd.choice(TICK_RATES[1:])
        state = match_state(hz)
        ((x, y, _, _),) = positions(rnd, 1)
        state.players[0].x, state.players[0].y = x, y
        controls = [(rnd.randint(-1, 1), rnd.randint(-1, 1)) for _ in range(30)]
        trail: list[list[int]] = []
        for seq, (mx, my) in enumerate(controls, 1):
            state = server_step(state, 0, seq, mx, my)
            trail.append([state.players[0].x, state.players[0].y])
        got = page.evaluate(
            """([snap, start, controls]) => {
                const m = window.GameClients.arena.movement;
                const rules = m.makeRules(snap);
                let p = start;
                return controls.map(([mx, my]) => { p = m.step(rules, p, mx, my); return [p.x, p.y]; });
            }""",
            [ARENA.snapshot(state), {"x": x, "y": y}, controls],
        )
        assert got == trail, f"walk {walk} at {hz} Hz from {(x, y)} with {controls}"


def client_ticks(rnd: random.Random, n: int) -> list[tuple[int, int, int]]:
    """Per local tick, the input in force: (seq, mx, my). Between two ticks the client sends no
    input, one, or two (the first of two is never applied: the server keeps the newest)."""
    seq = mx = my = 0
    out: list[tuple[int, int, int]] = []
    for _ in range(n):
        for _ in range(rnd.choices([0, 1, 2], [0.55, 0.35, 0.1])[0]):
            seq += 1
            mx, my = rnd.randint(-1, 1), rnd.randint(-1, 1)
        out.append((seq, mx, my))
    return out


def serve(ticks: list[tuple[int, int, int]], arrive: list[int], until: int) -> list[ArenaState]:
    """The server's states 0..until: tick j applies the newest input arrived by then
    (``arrive[k]``: the server tick at which local tick k's input is there)."""
    state = match_state()
    state.players[0].x, state.players[0].y = 800, 300
    states = [state]
    k = -1
    for j in range(1, until + 1):
        while k + 1 < len(ticks) and arrive[k + 1] <= j:
            k += 1
        inputs = {}
        if k >= 0 and ticks[k][0] > 0:
            seq, mx, my = ticks[k]
            inputs = {0: ArenaInput(seq=seq, mx=mx, my=my, aim=0, fire=False)}
        state, _ = ARENA.step(state, inputs)
        states.append(state)
    return states


def replay_in_browser(page: Page, script: list[list[Any]]) -> list[dict[str, Any]]:
    """Run the browser's Prediction over local ticks ('tick', seq, mx, my) and frames
    ('frame', tick, x, y, ack); returns after each frame the predicted position, the error
    (null when no local tick matched the frame's) and the local ticks still unacknowledged."""
    out: list[dict[str, Any]] = page.evaluate(
        """([snap, script]) => {
            const m = window.GameClients.arena.movement;
            const model = new m.Prediction(m.makeRules(snap), snap.hz);
            model.reset({x: 800, y: 300}, 0);
            const out = [];
            for (const [kind, ...a] of script) {
                if (kind === 'tick') model.record(a[0], a[1], a[2]);
                else out.push({error: model.reconcile({x: a[1], y: a[2]}, a[0], a[3]),
                               at: [model.base.x, model.base.y], pending: model.entries.length});
            }
            return out;
        }""",
        [ARENA.snapshot(match_state()), script],
    )
    return out


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("up", "down"), [(1, 0), (1, 1), (2, 2), (3, 4), (1, 7)])
def test_replaying_unacked_ticks_over_an_acked_state_gives_the_servers_later_state(
    page: Page, up: int, down: int
) -> None:
    """Server tick j happens at local tick j; local tick k's input arrives for tick k + up and
    frame j arrives just after local tick j + down. After that frame the client has recorded
    local ticks up to j + down, which the server will have applied all of by tick j + down + up."""
    rnd = random.Random(100 * up + down)
    n = 240
    ticks = client_ticks(rnd, n)
    states = serve(ticks, [k + up for k in range(n)], n + up)
    script: list[list[Any]] = []
    expected: list[list[int]] = []
    for k, (seq, mx, my) in enumerate(ticks):
        script.append(["tick", seq, mx, my])
        j = k - down
        if j >= 1 and k + up <= n + up:
            me = states[j].players[0]
            script.append(["frame", j, me.x, me.y, ARENA.acks(states[j])[0]])
            later = states[k + up].players[0]
            expected.append([later.x, later.y])
    got = replay_in_browser(page, script)
    assert [g["at"] for g in got] == expected
    # Every tick the server ran had been predicted, and exactly: the error is measured and 0.
    measured = [g["error"] for g in got if g["error"] is not None]
    assert len(measured) >= len(got) - 30, f"only {len(measured)} of {len(got)} frames matched a local tick"
    assert set(measured) == {0}
    assert max(g["pending"] for g in got) == up + down
    assert len({tuple(e) for e in expected}) > 50, "the player hardly moved"


@pytest.mark.timeout(120)
def test_with_a_varying_latency_mispredictions_stay_small_and_vanish_once_the_player_stops(
    page: Page,
) -> None:
    rnd = random.Random(5)
    n, down = 200, 2
    ticks = client_ticks(rnd, n) + [(10_000, 0, 0)] * 30  # then one last input: stand still
    arrive: list[int] = []
    for k in range(len(ticks)):
        arrive.append(max(arrive[-1] if arrive else 0, k + rnd.choice([1, 1, 2, 3])))
    states = serve(ticks, arrive, len(ticks) + 3)
    script: list[list[Any]] = []
    for k, (seq, mx, my) in enumerate(ticks):
        script.append(["tick", seq, mx, my])
        j = k - down
        if j >= 1:
            me = states[j].players[0]
            script.append(["frame", j, me.x, me.y, ARENA.acks(states[j])[0]])
    got = replay_in_browser(page, script)
    errors = [g["error"] for g in got if g["error"] is not None]
    one_tick = 2 * math.hypot(12, 12)
    assert any(e > 0 for e in errors), "a varying latency should mispredict sometimes"
    assert max(errors) <= 3 * one_tick, max(errors)
    final = states[-1].players[0]
    assert got[-1]["at"] == [final.x, final.y]
    assert got[-1]["error"] == 0


# ----------------------------------------------------- the renderer through its contract

HOST = """() => {
    const canvas = document.getElementById('arena');
    window.test = { sent: [], feed: [], frames: 0, moved: null, keyAt: null };
    const t = window.test;
    const host = {
        canvas, seat: 0, tickHz: 20,
        sendInput(fields) { t.sent.push({ seq: t.sent.length + 1, ...fields }); return t.sent.length; },
        playerName: (s) => `Player ${s + 1}`,
        seatColour: (s) => ['#e6194b', '#3cb44b'][s],
        teamColour: (tm) => ['#3d8bff', '#ff8c1a'][tm],
        feed: (text) => t.feed.push(text),
        net: () => ({ rttMs: 0, jitterMs: 0, live: true }),
    };
    t.renderer = window.GameClients.arena.create(host);
    window.addEventListener('keydown', () => { if (t.keyAt === null) t.keyAt = t.frames; });
    const loop = (now) => {
        t.renderer.draw(now);
        t.frames += 1;
        const d = t.renderer.debug();
        if (t.keyAt !== null && t.moved === null && d.predicted && d.predicted.x > d.server.x) {
            t.moved = { frame: t.frames, predicted: d.predicted, server: d.server, acked: t.acked || 0 };
        }
        t.raf = requestAnimationFrame(loop);
    };
    t.raf = requestAnimationFrame(loop);
}"""


class Server:
    """The match as the server runs it, ticked by the test: the page's inputs go in, frames
    come out ``lag`` ticks later (the latency of a slow link, counted in ticks, not time)."""

    def __init__(self, page: Page, lag: int) -> None:
        self.page = page
        self.lag = lag
        self.state = match_state()
        self.state.players[0].x, self.state.players[0].y = 400, 300
        self.state.players[1].x, self.state.players[1].y = 1200, 600
        self.taken = 0
        self.outbox: list[dict[str, Any]] = []
        self.bob = 0

    def start(self) -> None:
        snap = protocol.snapshot_message(
            tick=0,
            seat=0,
            phase="running",
            state=ARENA.snapshot(self.state),
            acks=ARENA.acks(self.state),
            game="arena",
        )
        self.page.evaluate("(m) => window.test.renderer.snapshot(m)", {**snap, "game": "arena"})

    def tick(self, bob_moves: bool = True) -> None:
        sent: list[dict[str, Any]] = self.page.evaluate("(n) => window.test.sent.slice(n)", self.taken)
        self.taken += len(sent)
        inputs = (
            {0: ArenaInput(**{k: sent[-1][k] for k in ("seq", "mx", "my", "aim", "fire")})} if sent else {}
        )
        if bob_moves:
            self.bob += 1
            inputs[1] = ArenaInput(seq=self.bob, mx=-1 if self.bob % 40 < 20 else 1, my=0, aim=0, fire=False)
        new, events = ARENA.step(self.state, inputs)
        frame = protocol.frame_message(
            tick=new.tick, delta=ARENA.delta(self.state, new), acks=ARENA.acks(new), events=events
        )
        self.state = new
        self.outbox.append(frame)
        if len(self.outbox) > self.lag:
            out = self.outbox.pop(0)
            self.page.evaluate(
                "(m) => { window.test.acked = m.acks[0]; window.test.renderer.frame(m); }", out
            )
        self.page.wait_for_timeout(50)

    def flush(self) -> None:
        for out in self.outbox:
            self.page.evaluate("(m) => window.test.renderer.frame(m)", out)
        self.outbox = []


@pytest.mark.timeout(120)
def test_a_key_moves_my_avatar_on_the_next_animation_frame_and_prediction_meets_the_server(
    page: Page,
) -> None:
    page.set_content(HARNESS)
    page.add_script_tag(path=str(ARENA_JS))
    page.evaluate(HOST)
    server = Server(page, lag=3)
    server.start()
    for _ in range(10):
        server.tick()
    page.keyboard.down("d")
    page.wait_for_function("window.test.moved !== null")
    moved = page.evaluate("window.test.moved")
    key_at = page.evaluate("window.test.keyAt")
    assert moved["frame"] - key_at <= 2, (key_at, moved)
    held = [i for i in page.evaluate("window.test.sent") if i["mx"] == 1]
    assert held, "the key was not sent"
    assert moved["acked"] < held[0]["seq"], "the avatar moved only once the server acknowledged the key"

    for _ in range(12):
        server.tick()
    page.keyboard.up("d")
    for _ in range(12):
        server.tick(bob_moves=False)
    server.flush()
    page.wait_for_function(
        "(s) => { const p = window.test.renderer.debug().predicted; return p && p.x === s.x && p.y === s.y }",
        arg={"x": server.state.players[0].x, "y": server.state.players[0].y},
    )
    view = page.evaluate("window.test.renderer.debug()")
    me = server.state.players[0]
    assert me.x >= 400 + 10 * server.state.config.move_speed, "the server walked Ann right"
    assert view["server"] == {"x": me.x, "y": me.y}
    assert view["predicted"] == {"x": me.x, "y": me.y}, view
    assert view["predictionErrorPx"] is not None
    assert view["predictionErrorLastPx"] is not None
    assert 50 <= view["bufferMs"] <= 300
    assert view["jitterMs"] >= 0
    assert [(p["s"], p["x"], p["y"], p["hp"]) for p in view["players"]] == [
        (p.seat, p.x, p.y, p.hp) for p in server.state.players
    ]
    assert view["shots"] == 0
    # Bob is drawn from the buffer: behind the newest tick, and never past it by much.
    assert server.state.tick - 3 <= view["renderTick"] <= server.state.tick + 2
    page.evaluate("window.test.renderer.destroy(); cancelAnimationFrame(window.test.raf)")


def interpolate_in_browser(page: Page, arrivals: Sequence[float], probes: Sequence[float]) -> dict[str, Any]:
    """Feed the browser's Interpolation (20 Hz) a player walking 12 units a tick, frame t at
    ``arrivals[t]`` (ms); ``probes`` are times (ms, after the last arrival) at which to draw."""
    result: dict[str, Any] = page.evaluate(
        """([arrivals, probes]) => {
            const buffer = new window.GameClients.arena.movement.Interpolation(20);
            const pos = (t) => new Map([[1, {x: 100 + 12 * t, y: 300, al: true}]]);
            buffer.reset(0, arrivals[0], pos(0));
            for (let t = 1; t < arrivals.length; t++) buffer.push(t, arrivals[t], pos(t));
            const last = arrivals[arrivals.length - 1];
            const drawn = probes.map((dt) => {
                const r = buffer.renderTickAt(last + dt);
                return {r, x: buffer.sample(1, r).x};
            });
            return {drawn, delay: buffer.delay, jitter: buffer.jitter};
        }""",
        [arrivals, probes],
    )
    return result


@pytest.mark.timeout(60)
def test_the_interpolation_delay_follows_the_measured_jitter(page: Page) -> None:
    rnd = random.Random(9)
    steady = interpolate_in_browser(page, [1000 + 50 * t + rnd.uniform(-3, 3) for t in range(60)], [0])
    jittery = interpolate_in_browser(page, [1000 + 50 * t + rnd.uniform(0, 60) for t in range(60)], [0])
    assert 0 < steady["jitter"] < 5
    assert 50 <= steady["delay"] <= 65
    assert jittery["jitter"] > 10
    assert jittery["delay"] >= 50 + 1.5 * jittery["jitter"]
    assert jittery["delay"] > steady["delay"] + 20
    # Drawn behind the newest state (tick 59), by about the delay.
    for view in (steady, jittery):
        (drawn,) = view["drawn"]
        assert 59 - (view["delay"] + 40) / 50 <= drawn["r"] <= 59


@pytest.mark.timeout(60)
def test_a_late_frame_does_not_freeze_the_others_it_extrapolates_a_little_then_holds(page: Page) -> None:
    """Frames on time until tick 40, then nothing for 300 ms: the walker keeps moving smoothly
    until the buffer runs dry, goes on at its last speed for at most two ticks, then stops."""
    arrivals = [1000 + 50 * t for t in range(41)]
    probes = list(range(0, 300, 10))
    view = interpolate_in_browser(page, arrivals, probes)
    xs = [d["x"] for d in view["drawn"]]
    newest = 100 + 12 * 40
    moving = [b > a for a, b in pairwise(xs)]
    # On time the render tick is one delay (one tick here) behind: 50 ms of interpolation, then up
    # to 100 ms of extrapolation; no standstill before that.
    assert all(moving[:14]), xs
    assert max(xs) <= newest + 2 * 12
    assert max(xs) > newest, "no extrapolation past the newest state"
    assert xs[-1] == xs[-5] == max(xs), "it should hold once the extrapolation limit is reached"
