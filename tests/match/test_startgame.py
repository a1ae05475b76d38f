"""``manage.py startgame``: the game it writes runs and passes its own tests as generated.

The game goes into a copy of the tree in a temporary directory (removed however the tests
end), so nothing lands in this checkout and a test run beside this one never collects a
half-written game. The generated tests run there with pytest; ruff and mypy judge the
generated code (for a short and the longest name); headless Chromium loads the generated
renderer with a stand-in for the page shell, feeds it the game's real snapshot and frame and
reads back pixels and inputs; and the copy's own server, registered with the settings lines the
command printed, plays a match of the game in two tabs of the real page.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from playwright.sync_api import Page, sync_playwright

from tests.e2e import READY, Process, create_match, server_env

ROOT = Path(__file__).resolve().parents[2]
GAME = "hopper"
LONG_GAME = "a_game_name_of_thirty_two_chars_"  # the longest name Match.game holds
COPY_IGNORED = shutil.ignore_patterns(
    ".git",
    ".venv",
    "node_modules",
    "__pycache__",
    "*.pyc",
    "db.sqlite3",
    "staticfiles",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "loadtest-results",
    ".dev-secret-key*",
)
SUBPROCESS_TIMEOUT = 600  # a cold pytest or mypy start on a busy machine; never a pass/fail timing
# Debian's chromium, as tests/test_browser.py drives it (`make test` installs it when missing).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
SEAT_COLOURS = ["#ff0000", "#0000ff"]  # what the stand-in shell gives seats 0 and 1


@dataclass
class Generated:
    tree: Path
    output: str
    long_output: str

    def files(self, game: str) -> list[Path]:
        return [
            *sorted((self.tree / "match" / "games" / game).glob("*.py")),
            self.tree / "tests" / "match" / f"test_{game}.py",
        ]


def run(tree: Path, *command: str, **env: str) -> subprocess.CompletedProcess[str]:
    """A command in the copied tree, with this virtualenv's Python, SQLite and no Redis."""
    return subprocess.run(
        [sys.executable, *command],
        cwd=tree,
        env=server_env(**env),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )


def startgame(tree: Path, *args: str) -> str:
    out = StringIO()
    call_command("startgame", *args, "--root", str(tree), stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def generated() -> Iterator[Generated]:
    with tempfile.TemporaryDirectory(prefix="startgame-") as tmp:
        tree = Path(tmp) / "tree"
        shutil.copytree(ROOT, tree, ignore=COPY_IGNORED)
        output = startgame(tree, GAME)
        long_output = startgame(tree, LONG_GAME, "--no-golden")
        yield Generated(tree=tree, output=output, long_output=long_output)


def test_the_command_writes_the_game_its_tests_golden_file_and_renderer(generated):
    expected = [
        f"match/games/{GAME}/__init__.py",
        f"match/games/{GAME}/game.py",
        f"match/games/{GAME}/stages.py",
        f"match/games/{GAME}/wire.py",
        f"tests/match/test_{GAME}.py",
        f"tests/match/golden/{GAME}_seed42_3p.txt",
        f"web/static/web/games/{GAME}.js",
    ]
    for path in expected:
        assert (generated.tree / path).is_file(), path
        assert f"  {path}\n" in generated.output, f"{path} is not in the command's output"
    golden = (generated.tree / f"tests/match/golden/{GAME}_seed42_3p.txt").read_text().split()
    assert len(golden) == 401, "one hash per tick of the 400-tick scripted match, and tick 0"
    assert all(re.fullmatch(r"[0-9a-f]{16}", line) for line in golden)
    assert "{{" not in (generated.tree / f"match/games/{GAME}/game.py").read_text(), "a placeholder is left"


def printed_settings(output: str) -> tuple[str, str, dict[str, Any]]:
    """The module, mode name and mode of the GAMES and GAME_MODES lines the command printed."""
    games = re.search(r'^  GAMES = \[\.\.\., "([\w.]+)"\]$', output, re.MULTILINE)
    modes = re.search(r'^  GAME_MODES = \{\.\.\., "([\w-]+)": (\{.*\})\}$', output, re.MULTILINE)
    assert games, output
    assert modes, output
    return games.group(1), modes.group(1), json.loads(modes.group(2))


def test_the_command_prints_the_two_settings_lines_that_register_the_game(generated):
    assert printed_settings(generated.output) == (f"match.games.{GAME}", GAME, {"game": GAME, "players": 2})
    module, mode, spec = printed_settings(generated.long_output)
    assert (module, mode, spec) == (
        f"match.games.{LONG_GAME}",
        "a_game_name_duel",
        {"game": LONG_GAME, "players": 2},
    )


def test_the_generated_tests_pass_as_generated(generated):
    done = run(generated.tree, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"tests/match/test_{GAME}.py")
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    passed = re.search(r"(\d+) passed", summary)
    assert passed, summary
    assert int(passed.group(1)) >= 40
    assert not re.search(r"skipped|failed|error|deselected", summary), summary


def test_ruff_accepts_the_generated_code_and_its_format_for_short_and_long_names(generated):
    files = [str(p.relative_to(generated.tree)) for g in (GAME, LONG_GAME) for p in generated.files(g)]
    assert len(files) == 14
    lint = run(generated.tree, "-m", "ruff", "check", *files)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    form = run(generated.tree, "-m", "ruff", "format", "--check", *files)
    assert form.returncode == 0, form.stdout + form.stderr


def test_mypy_accepts_the_generated_code(generated, tmp_path):
    files = [str(p.relative_to(generated.tree)) for g in (GAME, LONG_GAME) for p in generated.files(g)]
    # Only the generated files are judged: errors in the modules they import are not theirs.
    check = run(generated.tree, "-m", "mypy", "--follow-imports=silent", "--cache-dir", str(tmp_path), *files)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Success: no issues found in 14 source files" in check.stdout


SCRIPT = """
import json
from match.games.{game} import RULES, Move
players = [{{"seat": 0, "name": "Ann"}}, {{"seat": 1, "name": "Bob"}}]
state = RULES.initial_state(players=players, settings={{}}, seed=3)
toward_middle = 1 if state.players[0].x < 8 else -1
new, events = RULES.step(state, {{0: Move(seq=1, dx=toward_middle, dy=0)}})
print(json.dumps({{
    "snapshot": RULES.snapshot(state), "delta": RULES.delta(state, new),
    "acks": RULES.acks(new), "events": events, "moved": RULES.snapshot(new),
}}))
"""

HOST = """([game, colours]) => {
  window.sent = [];
  window.feed = [];
  const host = {
    canvas: document.getElementById('c'),
    seat: 0,
    tickHz: 20,
    sendInput(fields) { window.sent.push(fields); return window.sent.length; },
    playerName: (seat) => ['Ann', 'Bob'][seat],
    seatColour: (seat) => colours[seat],
    teamColour: () => '#ffffff',
    feed: (text) => window.feed.push(text),
    net: () => ({ rttMs: 0, jitterMs: 0, live: true }),
  };
  const client = window.GameClients[game];
  window.renderer = client.create(host);
  return { title: client.title, controls: client.controls };
}"""

PIXEL = """([x, y]) => {
  const canvas = document.getElementById('c');
  const [r, g, b] = canvas.getContext('2d').getImageData(x, y, 1, 1).data;
  return '#' + [r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('');
}"""


def test_the_generated_renderer_draws_the_state_and_sends_inputs_in_chromium(generated):
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
    made = run(generated.tree, "-c", SCRIPT.format(game=GAME))
    assert made.returncode == 0, made.stderr
    data: dict[str, Any] = json.loads(made.stdout)
    snap, moved = data["snapshot"], data["moved"]
    ann = snap["players"][0]
    after = moved["players"][0]
    assert abs(after["x"] - ann["x"]) == 1
    script = (generated.tree / f"web/static/web/games/{GAME}.js").read_text()
    cell = 40  # a 640x360 canvas holds the 16x9 board in 40-pixel cells

    def centre(x: int, y: int) -> list[int]:
        return [x * cell + cell // 2, y * cell + cell // 2]

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 800, "height": 600})
            watch(page, problems)
            page.set_content(
                "<body style='margin:0'><canvas id='c' style='width:640px;height:360px'></canvas></body>"
            )
            page.add_script_tag(content=script)
            assert problems == [], problems
            client = page.evaluate(HOST, [GAME, SEAT_COLOURS])
            assert client["title"] == GAME.capitalize()
            assert client["controls"], "the page shows the game's controls"
            message = {"t": "snapshot", "tick": 0, "seat": 0, "phase": "running", "state": snap}
            page.evaluate("(m) => renderer.snapshot(m)", {**message, "acks": [0, 0], "game": GAME})
            page.evaluate("() => renderer.draw(performance.now())")
            assert page.evaluate(PIXEL, centre(ann["x"], ann["y"])) == SEAT_COLOURS[0]
            bob = snap["players"][1]
            assert page.evaluate(PIXEL, centre(bob["x"], bob["y"])) == SEAT_COLOURS[1]

            page.keyboard.down("d")
            assert page.evaluate("window.sent") == [{"dx": 1, "dy": 0}]
            page.keyboard.down("s")
            page.keyboard.up("d")
            assert page.evaluate("window.sent")[1:] == [{"dx": 1, "dy": 1}, {"dx": 0, "dy": 1}]
            page.evaluate("() => renderer.releaseControls()")
            assert page.evaluate("window.sent")[-1] == {"dx": 0, "dy": 0}

            frame = {"t": "frame", "tick": 1, "d": data["delta"], "acks": data["acks"], "ev": data["events"]}
            page.evaluate("(f) => { renderer.frame(f); renderer.draw(performance.now() + 60000); }", frame)
            assert page.evaluate(PIXEL, centre(after["x"], after["y"])) == SEAT_COLOURS[0]
            view = page.evaluate("() => renderer.debug()")
            assert view["players"][0]["x"] == after["x"]
            assert view["shots"] == 0
            page.evaluate("() => renderer.destroy()")
            page.keyboard.down("a")
            assert page.evaluate("window.sent")[-1] == {"dx": 0, "dy": 0}, "no input after destroy"
        finally:
            browser.close()
    assert problems == [], problems


def watch(page: Page, problems: list[str]) -> None:
    """Uncaught errors, console errors and failed loads (as tests/test_browser.py judges them)."""
    page.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on(
        "response",
        lambda r: (
            problems.append(f"HTTP {r.status}: {r.url}")
            if r.status >= 400 and urlsplit(r.url).path != "/favicon.ico"
            else None
        ),
    )


def test_the_generated_game_plays_in_the_real_page_against_a_real_server(generated, tmp_path):
    """Registered with the settings lines the command printed (through the environment), the
    game runs in ``manage.py serve`` of the copied tree, which starts only if the lobby accepts
    every mode (it calls the game's ``initial_state`` for each): two tabs open a practice match
    of it, and a key held in one moves its player in both."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
    games, modes = list(settings.GAMES), dict(settings.GAME_MODES)
    for output in (generated.output, generated.long_output):
        module, mode, spec = printed_settings(output)
        games.append(module)
        modes[mode] = spec
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'e2e.sqlite3'}",
        "GAMES": ",".join(games),
        "GAME_MODES": json.dumps(modes),
    }
    migrated = run(generated.tree, "manage.py", "migrate", "--noinput", "-v", "0", **env)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    tree_manage = str(generated.tree / "manage.py")  # its directory leads sys.path: the copy runs
    server = Process(
        [sys.executable, tree_manage, "serve", "--host", "127.0.0.1", "--port", "0"], server_env(**env)
    )
    problems: list[str] = []
    try:
        base = server.wait_for(READY).group(1)
        created = create_match(base, game=GAME, players=2, names=["Ann", "Bob"])
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                context.set_default_timeout(30_000)
                tabs = [context.new_page(), context.new_page()]
                for tab, ticket in zip(tabs, created["tickets"], strict=True):
                    watch(tab, problems)
                    tab.goto(base + ticket["url"])
                for tab in tabs:
                    tab.wait_for_function(
                        "() => window.arenaDebug && window.arenaDebug().phase === 'running'"
                    )
                one, two = tabs
                start = one.evaluate("() => window.arenaDebug().players.find((p) => p.s === 0)")
                assert one.evaluate("() => window.arenaDebug().game") == GAME
                key, step = ("d", 1) if start["x"] < 8 else ("a", -1)
                one.keyboard.down(key)
                moved = "([x, step]) => { const p = window.arenaDebug().players.find((q) => q.s === 0);"
                moved += " return (p.x - x) * step >= 2; }"
                one.wait_for_function(moved, arg=[start["x"], step])
                two.wait_for_function(moved, arg=[start["x"], step])
                one.keyboard.up(key)
                assert one.evaluate("() => window.arenaDebug().ack") >= 1, "the server acknowledged the input"
            finally:
                browser.close()
    finally:
        server.stop()
    assert problems == [], problems


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("Hopper", "not a valid game name"),
        ("hop-per", "not a valid game name"),
        ("2hop", "not a valid game name"),
        ("class", "not a valid game name"),
        ("a" * 33, "too long"),
        ("arena", "registered already"),
        (GAME, "exists already"),
    ],
    ids=["capital", "dash", "digit-first", "keyword", "too-long", "registered", "exists"],
)
def test_a_bad_or_taken_name_is_refused_clearly_and_nothing_is_written(generated, name, error):
    before = sorted(generated.tree.rglob("*"))
    with pytest.raises(CommandError, match=error):
        startgame(generated.tree, name, "--no-golden")
    assert sorted(generated.tree.rglob("*")) == before


def test_a_root_that_is_no_project_tree_is_refused(tmp_path):
    with pytest.raises(CommandError, match="not a project tree"):
        startgame(tmp_path, "hopper")
    assert list(tmp_path.iterdir()) == []
