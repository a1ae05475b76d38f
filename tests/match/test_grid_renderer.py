"""The grid renderer (web/static/web/games/grid.js) in headless Chromium, through the shell
contract only: a harness page plays the host, Python's ``GRID`` plays the server.

- The board a client rebuilds from one snapshot and every frame of a scripted 4-player match is
  the server's, tick for tick, and the canvas shows each trail cell in its seat's colour.
- A key turns my head at once (before any ack), the ack settles it, a refused turn falls back
  to the server's heading, and key repeats, reversals and a finished match behave.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, sync_playwright

from match.games.grid import GRID, GridInput, GridState
from match.games.grid.wire import unrle
from tests.match.test_grid_simulation import PLAYERS, SEED, SETTINGS, Run, record
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[2]
GRID_JS = ROOT / "web" / "static" / "web" / "games" / "grid.js"
COLOURS = ["#ff0000", "#00ff00", "#0000ff", "#ffff00"]
HARNESS = """<!DOCTYPE html><html><body style="margin:0">
<canvas id="board" style="display:block;width:960px;height:700px"></canvas></body></html>"""
HOST = """(seat) => {
  if (window.renderer) window.renderer.destroy();
  const colours = COLOURS;
  window.sent = [];
  window.lines = [];
  window.nextSeq = 0;
  window.offline = false;
  const host = {
    canvas: document.getElementById('board'),
    seat,
    tickHz: 20,
    sendInput(fields) {
      if (window.offline) return null;
      window.nextSeq += 1;
      window.sent.push({ seq: window.nextSeq, ...fields });
      return window.nextSeq;
    },
    playerName: (s) => `Player ${s + 1}`,
    seatColour: (s) => colours[s],
    teamColour: () => '#cccccc',
    feed: (text) => window.lines.push(text),
    net: () => ({ rttMs: 0, jitterMs: 0, live: true }),
  };
  window.renderer = window.GameClients.grid.create(host);
  return true;
}""".replace("COLOURS", json.dumps(COLOURS))


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page(viewport={"width": 960, "height": 700})
            tab.set_default_timeout(20_000)
            errors: list[str] = []
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
            tab.set_content(HARNESS)
            tab.add_script_tag(path=str(GRID_JS))
            assert tab.evaluate("window.GameClients.grid.title") == "Light cycles"
            yield tab
            assert errors == [], errors
        finally:
            browser.close()


def start(page: Page, state: GridState, seat: int | None = 0, phase: str = "running") -> None:
    page.evaluate(HOST, seat)
    message = {
        "t": "snapshot",
        "tick": state.tick,
        "seat": seat,
        "phase": phase,
        "state": GRID.snapshot(state),
        "acks": GRID.acks(state),
        "game": "grid",
    }
    page.evaluate("(m) => window.renderer.snapshot(m)", message)


def frame_message(
    prev: GridState, new: GridState, events: list[list[object]] | None = None
) -> dict[str, Any]:
    return {
        "t": "frame",
        "tick": new.tick,
        "d": GRID.delta(prev, new),
        "acks": GRID.acks(new),
        "ev": events or [],
    }


def debug(page: Page) -> dict[str, Any]:
    out: dict[str, Any] = page.evaluate("window.renderer.debug()")
    return out


def test_the_registration_follows_the_shell_contract(page: Page) -> None:
    entry = page.evaluate(
        "(() => { const g = window.GameClients.grid;"
        " return {controls: g.controls, create: typeof g.create}; })()"
    )
    assert entry == {"controls": [["WASD / arrows", "turn"]], "create": "function"}
    page.evaluate(HOST, 0)
    methods = page.evaluate("Object.keys(window.renderer).sort()")
    for name in [
        "snapshot",
        "frame",
        "phase",
        "end",
        "draw",
        "resize",
        "releaseControls",
        "debug",
        "destroy",
    ]:
        assert name in methods


@pytest.fixture(scope="module")
def run() -> Run:
    return record(PLAYERS, SETTINGS, SEED)


def test_snapshot_and_frames_rebuild_the_servers_board_and_players_every_tick(page: Page, run: Run) -> None:
    start(page, run.states[0])
    frames = [frame_message(a, b) for a, b in pairwise(run.states)]
    checks = {i: GRID.snapshot(s) for i, s in enumerate(run.states) if i % 7 == 0 or i == len(run.states) - 1}
    mismatches = page.evaluate(
        """([frames, checks]) => {
          const bad = [];
          const check = (tick) => {
            const want = checks[tick];
            if (!want) return;
            const got = window.renderer.boardRuns();
            if (JSON.stringify(got) !== JSON.stringify(want.g)) bad.push(['board', tick]);
            const players = window.renderer.debug().players;
            if (JSON.stringify(players) !== JSON.stringify(want.players)) bad.push(['players', tick]);
            const d = window.renderer.debug();
            if (d.round !== want.round || d.go !== want.go || d.next !== want.next) bad.push(['round', tick]);
          };
          check(0);
          frames.forEach((f) => { window.renderer.frame(f); check(f.tick); });
          return bad;
        }""",
        [frames, {str(k): v for k, v in checks.items()}],
    )
    assert mismatches == []
    final = debug(page)
    assert final["filled"] == sum(1 for v in run.states[-1].grid if v)
    assert final["gaps"] == 0


def rgb(page: Page, x: float, y: float) -> tuple[int, int, int]:
    r, g, b = page.evaluate(
        "([x, y]) => Array.from(document.getElementById('board').getContext('2d')"
        ".getImageData(x, y, 1, 1).data.slice(0, 3))",
        [x, y],
    )
    return r, g, b


def nearest_seat(colour: tuple[int, int, int]) -> int | None:
    """The seat whose colour the pixel is a blend of (over the dark floor), or None for floor."""
    if max(colour) < 90:
        return None
    targets = [tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in COLOURS]
    return min(
        range(len(targets)), key=lambda s: sum((a - b) ** 2 for a, b in zip(colour, targets[s], strict=True))
    )


def cell_colours(page: Page) -> list[tuple[int, int, int]]:
    """The pixel at the centre of every board cell, row-major."""
    flat: list[int] = page.evaluate(
        """() => {
          const { cell, x0, y0 } = window.renderer.layout();
          const data = document.getElementById('board').getContext('2d').getImageData(0, 0, 960, 700).data;
          const out = [];
          for (let y = 0; y < 32; y++) for (let x = 0; x < 48; x++) {
            const half = Math.floor(cell / 2);
            const at = ((y0 + y * cell + half) * 960 + x0 + x * cell + half) * 4;
            out.push(data[at], data[at + 1], data[at + 2]);
          }
          return out;
        }"""
    )
    return [(flat[i], flat[i + 1], flat[i + 2]) for i in range(0, len(flat), 3)]


def test_the_canvas_shows_every_trail_cell_in_its_seats_colour(page: Page, run: Run) -> None:
    tick = next(
        i
        for i, s in enumerate(run.states)
        if s.round == 2
        and s.next_tick == 0
        and s.tick > s.go_tick + 60
        and sum(p.alive for p in s.players) >= 2
    )
    state = run.states[tick]
    start(page, state)
    page.evaluate("window.renderer.draw(performance.now())")
    heads = [(p.x, p.y) for p in state.players]
    board = unrle(GRID.snapshot(state)["g"])  # type: ignore[arg-type]
    colours = cell_colours(page)
    checked = trails = 0
    for i, value in enumerate(board):
        x, y = i % 48, i // 48
        if any(abs(x - hx) <= 2 and abs(y - hy) <= 2 for hx, hy in heads):
            continue  # a head's border and pointer cover its neighbours
        assert nearest_seat(colours[i]) == (value - 1 if value else None), f"cell ({x}, {y}) holds {value}"
        checked += 1
        trails += bool(value)
    assert checked > 1000
    assert trails >= 50


def test_a_key_turns_my_head_at_once_and_the_ack_settles_it(page: Page) -> None:
    state = GRID.initial_state(players=PLAYERS[:2], settings={}, seed=4)
    mine = state.players[0]
    side, back = (mine.moved + 1) % 4, (mine.moved + 2) % 4
    keys = ["ArrowUp", "ArrowRight", "ArrowDown", "ArrowLeft"]
    start(page, state)
    page.keyboard.press(keys[side])
    assert page.evaluate("window.sent") == [{"seq": 1, "dir": side}]
    shown = debug(page)
    assert (shown["heading"], shown["serverHeading"], shown["pendingTurns"]) == (side, mine.dir, 1)

    page.keyboard.press(keys[side])
    page.evaluate(
        "(code) => window.dispatchEvent(new KeyboardEvent('keydown', {code, repeat: true}))", keys[mine.moved]
    )
    assert len(page.evaluate("window.sent")) == 1, "the same heading again and key repeats send nothing"

    new, events = GRID.step(state, {0: GridInput(seq=1, dir=side)})
    page.evaluate("(m) => window.renderer.frame(m)", frame_message(state, new, events))
    settled = debug(page)
    assert (settled["heading"], settled["serverHeading"], settled["pendingTurns"]) == (side, side, 0)
    assert settled["predictionMisses"] == 0

    # Back where it came from: the reversal of its last move is sent, but not drawn.
    page.keyboard.press(keys[back])
    assert page.evaluate("window.sent")[-1] == {"seq": 2, "dir": back}
    assert debug(page)["heading"] == side
    after, events = GRID.step(new, {0: GridInput(seq=2, dir=back)})
    assert after.players[0].dir == side, "the server ignores it too"
    page.evaluate("(m) => window.renderer.frame(m)", frame_message(new, after, events))
    assert (debug(page)["heading"], debug(page)["predictionMisses"]) == (side, 0)


def test_a_turn_the_server_did_not_take_falls_back_to_its_heading(page: Page) -> None:
    state = GRID.initial_state(players=PLAYERS[:2], settings={}, seed=4)
    mine = state.players[0]
    side = (mine.moved + 3) % 4
    start(page, state)
    page.keyboard.press(["ArrowUp", "ArrowRight", "ArrowDown", "ArrowLeft"][side])
    assert debug(page)["heading"] == side
    refused, _ = GRID.step(state, {0: GridInput(seq=1, dir=mine.dir)})  # as if another input won
    page.evaluate("(m) => window.renderer.frame(m)", frame_message(state, refused))
    shown = debug(page)
    assert (shown["heading"], shown["pendingTurns"], shown["predictionMisses"]) == (mine.dir, 0, 1)


def test_the_pointer_of_my_head_shows_the_new_heading_on_the_next_draw(page: Page) -> None:
    state = GRID.initial_state(players=PLAYERS[:2], settings={}, seed=4)
    mine = state.players[0]
    side = (mine.moved + 1) % 4
    start(page, state)
    geometry = page.evaluate("window.renderer.layout()")
    cell, x0, y0 = geometry["cell"], geometry["x0"], geometry["y0"]
    assert cell == 19, "960 x 700 px: min(960 / 49, 700 / 35) whole pixels a cell"
    dx, dy = [(0, -1), (1, 0), (0, 1), (-1, 0)][side]

    def ahead(direction_x: int, direction_y: int) -> tuple[int, int, int]:
        cx = x0 + (mine.x + 0.5 + direction_x * 1.3) * cell
        cy = y0 + (mine.y + 0.5 + direction_y * 1.3) * cell
        return rgb(page, cx, cy)

    page.evaluate("window.renderer.draw(performance.now())")
    assert min(ahead(dx, dy)) < 90, "no pointer that way yet"
    page.keyboard.press(["ArrowUp", "ArrowRight", "ArrowDown", "ArrowLeft"][side])
    page.evaluate("window.renderer.draw(performance.now())")
    assert min(ahead(dx, dy)) > 200, "the pointer (white) turned before any frame came back"


def test_keys_send_nothing_while_watching_waiting_offline_out_paused_over_or_destroyed(page: Page) -> None:
    state = GRID.initial_state(players=PLAYERS[:2], settings={}, seed=4)
    side = (state.players[0].moved + 1) % 4
    key = ["ArrowUp", "ArrowRight", "ArrowDown", "ArrowLeft"][side]
    start(page, state, seat=None)
    page.keyboard.press(key)
    start(page, state, phase="waiting")
    page.keyboard.press(key)
    assert page.evaluate("window.sent") == []
    start(page, state)
    page.evaluate("window.offline = true")
    page.keyboard.press(key)
    assert debug(page)["pendingTurns"] == 0, "an input the shell did not send is not predicted"
    out, _ = GRID.forfeit(state, 0)
    start(page, out)
    page.keyboard.press(key)
    paused = state.copy()  # as if seat 0 had just won a round: riding on, but the round is over
    paused.next_tick = paused.tick + 30
    start(page, paused)
    page.keyboard.press(key)
    start(page, state)
    page.evaluate("window.renderer.end({tick: 1, result: {reason: 'time', tick: 1, ranking: []}})")
    page.keyboard.press(key)
    start(page, state)
    page.evaluate("window.renderer.destroy(); window.renderer.releaseControls()")
    page.keyboard.press(key)
    assert page.evaluate("window.sent") == []


def test_crashes_rounds_and_gaps_are_told_and_counted(page: Page) -> None:
    state = GRID.initial_state(players=PLAYERS[:2], settings={"ready_ticks": 1}, seed=4)
    start(page, state)
    prev = state
    lines: list[str] = []
    while prev.round == 1:
        new, events = GRID.step(prev, {})
        page.evaluate("(m) => window.renderer.frame(m)", frame_message(prev, new, events))
        prev = new
    lines = page.evaluate("window.lines")
    assert lines[:3] == ["You hit the wall", "bot1 hit the wall", "Round 1: no winner"]
    skipped, _ = GRID.step(prev, {})
    after, _ = GRID.step(skipped, {})
    page.evaluate("(m) => window.renderer.frame(m)", frame_message(skipped, after))
    assert debug(page)["gaps"] == 1
    page.evaluate("(m) => window.renderer.frame(m)", frame_message(prev, skipped))
    assert debug(page)["gaps"] == 1, "an old frame is ignored"
