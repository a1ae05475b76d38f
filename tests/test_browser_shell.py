"""The page shell (web/static/web/client.js, net.js) in a real browser: headless Chromium tabs play
practice matches on the real server that `make run` starts, some through a real TCP proxy
(tests/proxy.py) the test cuts like a failing network or points at a restarted server.

What is checked: the results say Victory to the winner and Defeat to the loser of a match
played to its end, with the placings; the controls, the scoreboard above (not over) the
playfield, and the debug overlay (a key and a button); a cut connection shows the reconnect
banner across the arena, the seat resumes ("resumed") and play goes on; after the server
restarts (the match lost with it) the tab says the match is gone, offers no "Try again" and never
says "connected"; and the Victory / Defeat / Draw rules on table-driven results. Screenshots of
the lobby, a running match and the results go to ``ARTIFACTS_DIR`` (default: a temporary
directory); their paths are printed (``pytest -s`` shows them).

Every wait is bounded, with generous ceilings: nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import FloatRect, Page, expect

from tests.e2e import READY, Process, database_url, get_json, server_env
from tests.proxy import CuttableProxy
from tests.test_browser import Point, in_line_of_fire, position, route, walk
from tests.test_browser_lobby import browser  # noqa: F401  (the module's headless Chromium)
from tests.test_browser_resume import (
    LONG,
    HoldableProxy,
    ResumeTab,
    assert_clean,
    create_match,
    open_tab,  # noqa: F401  (tabs in fresh browser contexts, screenshots at the end)
    through,
    wait_running,
    walks_on,
)

# The first knock-out ends the match (a decisive result, whatever the spawn points); the clock
# never does while a test watches.
SCORE_LIMIT = 1
MATCH_SECONDS = 600
GRACE_SECONDS = 30
# The restart test's seat grace: longer than a server restart plus two "no tick worker" answers
# (~10 s each), so the tab is still within its reconnect window when it learns the match is gone.
RESTART_GRACE_SECONDS = 120


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots worth a look by a person go: ARTIFACTS_DIR, else a temporary dir."""
    given = os.environ.get("ARTIFACTS_DIR", "")
    folder = Path(given) if given else tmp_path_factory.mktemp("artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def artifact(page: Page, folder: Path, name: str) -> Path:
    path = folder / name
    page.screenshot(path=path)
    png = path.read_bytes()
    assert png.startswith(b"\x89PNG"), f"{path} is not a PNG"
    assert len(png) > 10_000, f"{path} is blank"
    print(f"screenshot: {path}")
    return path


def start_server(db_url: str, grace: int, **extra: str) -> Process:
    # ALLOWED_HOSTS: the proxy passes Host through unchanged and neither check compares ports.
    env = {
        "DATABASE_URL": db_url,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "MATCH_TIME_LIMIT": str(MATCH_SECONDS),
        "MATCH_SCORE_LIMIT": str(SCORE_LIMIT),
        "MATCH_RECONNECT_GRACE": str(grace),
        "AUTH_RATE_PER_MIN": "600",
    }
    return Process(["make", "-s", "run", "HOST=127.0.0.1", "PORT=0"], server_env(**{**env, **extra}))


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with database_url(tmp_path_factory.mktemp("shell-db")) as db_url:
        server = start_server(db_url, GRACE_SECONDS)
        try:
            yield server.wait_for(READY).group(1)
        finally:
            server.stop()


def box(page: Page, selector: str) -> FloatRect:
    found = page.locator(selector).bounding_box()
    assert found is not None, f"{selector} is not laid out"
    return found


def record(page: Page, name: str, selector: str, attribute: str | None = None) -> None:
    """Keep every value the element's text (or an attribute) takes from now on, in
    ``window.__seen[name]``: a state that shows only briefly is still seen by the test."""
    page.evaluate(
        """([name, selector, attribute]) => {
            window.__seen = window.__seen || {};
            const seen = (window.__seen[name] = []);
            const node = document.querySelector(selector);
            const read = () => (attribute ? node.getAttribute(attribute) : node.textContent);
            seen.push(read());
            new MutationObserver(() => { if (seen.at(-1) !== read()) seen.push(read()); })
                .observe(node, { attributes: true, childList: true, characterData: true, subtree: true });
        }""",
        [name, selector, attribute],
    )


def seen(page: Page, name: str) -> list[str | None]:
    values: list[str | None] = page.evaluate("(name) => window.__seen[name]", name)
    return values


def into_line_of_fire(shooter: ResumeTab, target: ResumeTab, shooter_seat: int, target_seat: int) -> Point:
    """Walk the target into the shooter's line of fire (round obstacles, into range), one
    planned route at a time; where it stopped, as the shooter sees it."""
    view = shooter.view()
    aim_from, moved = position(view, shooter_seat), position(view, target_seat)
    for _ in range(8):
        if in_line_of_fire(aim_from, moved, pad=12):
            return moved
        for leg in route(moved, aim_from):
            view = walk(target, shooter, target_seat, leg)
        moved = position(view, target_seat)
    raise AssertionError(f"seat {target_seat} at {moved} never got into the line of fire from {aim_from}")


@pytest.mark.timeout(240)
def test_the_winner_sees_victory_and_the_loser_defeat_with_controls_scoreboard_and_debug_overlay(
    base_url,
    open_tab,  # noqa: F811
    artifacts,
):
    base = base_url

    # The lobby, for its screenshot: every mode with what it needs.
    lou = open_tab()
    lou.page.goto(base + "/")
    lou.page.get_by_label("Guest name").fill("Lou")
    lou.page.get_by_role("button", name="Play as guest").click()
    lou.page.wait_for_function("() => window.lobbyDebug().welcomed", timeout=LONG * 1000)
    expect(lou.page.locator("#queue-buttons li[data-mode=ffa] .mode-hint")).to_have_text(
        re.compile(r"^8 players, starts with \d+ after \d+ s$")
    )
    expect(lou.page.locator("#queue-buttons li[data-mode=duel] .mode-hint")).to_have_text("2 players")
    artifact(lou.page, artifacts, "lobby.png")

    ann, bob = open_tab(), open_tab()
    match_id, [invite] = create_match(ann, base, 2)
    bob.page.goto(invite)
    wait_running(ann, bob)
    for tab in (ann, bob):
        expect(tab.page.locator("#hud-conn")).to_have_text("connected")
        # The game's controls, from its renderer (window.GameClients.arena.controls).
        controls = tab.page.locator("#controls")
        expect(controls.locator("kbd")).to_have_text(["WASD / arrows", "mouse", "click / space"])
        expect(controls).to_contain_text("move")
        expect(controls).to_contain_text("fire")
        # The scoreboard and the feed sit above the canvas: no spawn point, no part of the
        # playfield, is under them.
        expect(tab.page.locator("#scoreboard-body li")).to_have_count(2)
        canvas = box(tab.page, "#arena")
        for part in ("#scoreboard-body", "#kill-feed", "#match-bar"):
            assert box(tab.page, part)["y"] + box(tab.page, part)["height"] <= canvas["y"] + 0.5, part
        expect(tab.page.locator("#scoreboard-body li.me")).to_have_count(1)
    assert ann.view()["game"] == "arena"
    assert [m["game"] for m in ann.got("snapshot")] == ["arena"], "the snapshot names its game"

    # The debug overlay: a key (F3, or `) and a button, with the network and rendering figures.
    overlay = ann.page.locator("#debug-overlay")
    expect(overlay).to_be_hidden()
    ann.page.keyboard.press("F3")
    expect(overlay).to_be_visible()
    for figure in ("ping", "jitter", "buffer", "prediction error", "fps", "received", "frames lost"):
        expect(overlay.locator("dt", has_text=re.compile(f"^{figure}$"))).to_have_count(1)
    ann.wait("d.debugOverlay && d.fps > 0 && d.bytesPerSecond > 0 && d.rttMs !== null", what="live figures")
    expect(overlay.locator("dd").first).to_have_text(re.compile(r"^\d+ ms$"))  # the ping, measured
    ann.page.keyboard.press("Backquote")
    expect(overlay).to_be_hidden()
    ann.page.get_by_role("button", name="Debug").click()
    expect(overlay).to_be_visible()
    expect(ann.page.get_by_role("button", name="Debug")).to_have_attribute("aria-pressed", "true")

    # Bob walks into Ann's line of fire; she aims and fires: the first knock-out ends the match.
    target = into_line_of_fire(ann, bob, 0, 1)
    ann.page.mouse.move(*ann.client_point(*target))
    artifact(ann.page, artifacts, "match.png")
    ann.page.mouse.down()
    for tab in (ann, bob):
        expect(tab.page.locator("#results-overlay")).to_be_visible(timeout=LONG * 1000)
    ann.page.mouse.up()

    [end] = ann.got("end")
    result = end["result"]
    assert result["reason"] == "score"
    assert [(r["s"], r["rank"]) for r in result["ranking"]] == [(0, 1), (1, 2)], result
    for tab, title, kind, me in ((ann, "Victory", "victory", "Ann"), (bob, "Defeat", "defeat", "Player 2")):
        results = tab.page.locator("#results-overlay")
        expect(results.locator("#results-title")).to_have_text(title)
        expect(results).to_have_attribute("data-outcome", kind)
        expect(results.locator("#results-placing")).to_be_hidden()  # two sides: no "2nd of 2"
        expect(results.locator("#results-reason")).to_have_text("The score limit was reached.")
        rows = results.locator("#results-body tr")
        expect(rows).to_have_count(2)
        for row, (rank, name, numbers) in enumerate(
            (("1", "Ann", ["1", "1", "0"]), ("2", "Player 2", ["0", "0", "1"]))
        ):
            cells = rows.nth(row).locator("td")
            expect(cells).to_have_count(5)
            expect(cells.nth(0)).to_have_text(rank)
            expect(cells.nth(1)).to_contain_text(name)
            for n, number in enumerate(numbers, 2):
                expect(cells.nth(n)).to_have_text(number)
        expect(results.locator("#results-head th")).to_have_text(["#", "Name", "Score", "Kills", "Deaths"])
        expect(results.locator("tr.me td").nth(1)).to_have_text(f"{me} (you)")
        assert tab.view()["outcome"]["kind"] == kind
        expect(tab.page.locator("#hud-conn")).to_have_text("match over")
        expect(tab.page.locator("#fatal-overlay")).to_be_hidden()
        expect(tab.page.locator("#conn-banner")).to_be_hidden()
    artifact(ann.page, artifacts, "results-victory.png")
    artifact(bob.page, artifacts, "results-defeat.png")
    assert get_json(f"{base}/api/matches/{match_id}/")["result"] == result
    assert_clean(ann, bob, lou)


@pytest.mark.timeout(180)
def test_a_cut_connection_shows_the_banner_across_the_arena_then_the_seat_resumes_and_play_goes_on(
    base_url,
    open_tab,  # noqa: F811
    artifacts,
):
    base = base_url
    ann, bob = open_tab(), open_tab()
    with HoldableProxy(urlsplit(base).port or 80) as proxy:
        match_id, [invite] = create_match(ann, base, 2)
        bob.page.goto(through(proxy, invite))
        wait_running(ann, bob)
        bob.wait("d.ack > 0 && d.conn.credential", what="bob playing on his seat")
        record(bob.page, "banner", "#conn-banner", "data-kind")
        record(bob.page, "status", "#hud-conn")
        before = bob.view()

        # The network fails mid-match: the banner spans the arena, and says what is going on.
        assert proxy.hold() >= 1
        bob.wait("d.conn.reconnecting && d.conn.attempts >= 2", timeout=LONG, what="bob retrying")
        banner = bob.page.locator("#conn-banner")
        expect(banner).to_be_visible()
        expect(banner).to_have_attribute("data-kind", "reconnecting")
        expect(banner.locator("#conn-banner-title")).to_have_text("Connection lost \u2014 reconnecting\u2026")
        expect(banner.locator("#conn-banner-detail")).to_have_text(
            re.compile(r"^Attempt \d+, (next try in \d+ s|connecting now) \u00b7 \d+ s left to get back ")
        )
        canvas, across = box(bob.page, "#arena"), box(bob.page, "#conn-banner")
        assert abs(across["x"] - canvas["x"]) <= 1, (across, canvas)
        assert abs(across["width"] - canvas["width"]) <= 1, "the banner spans the arena"
        assert abs(across["y"] - canvas["y"]) <= 1, "the banner lies over the top of the arena"
        expect(bob.page.locator("#stage")).to_have_class(re.compile(r"\breconnecting\b"))
        assert not bob.view()["conn"]["live"]
        expect(bob.page.locator("#hud-conn")).not_to_have_text("connected")
        expect(bob.page.locator("#fatal-overlay")).to_be_hidden()
        artifact(bob.page, artifacts, "reconnecting.png")
        ann.wait("d.away.some((a) => a.seat === 1)", timeout=LONG, what="bob away, for ann")

        # The network is back: the seat resumes by itself, the banner says so, then goes.
        proxy.release()
        bob.wait("d.conn.live && d.conn.resumed === 1", timeout=LONG, what="bob resumed")
        view = bob.view()
        assert (view["match"], view["seat"], view["conn"]["via"]) == (match_id, 1, "resume")
        assert view["tick"] > before["tick"]
        expect(banner).to_be_hidden(timeout=LONG * 1000)
        kinds = [k for k in seen(bob.page, "banner") if k]
        assert kinds[:2] == ["reconnecting", "resumed"], kinds
        statuses = seen(bob.page, "status")
        assert statuses[-1] == "connected", statuses
        cut = statuses.index(next(s for s in statuses if s and s.startswith("reconnecting")))
        assert statuses[cut:].count("connected") == 1, f"'connected' only once the seat was back: {statuses}"

        # Play goes on: Bob's key walks Player 2, as Ann sees it, and the server takes his inputs.
        walks_on(bob, ann, 1)
        bob.wait("d.ack > arg", arg=before["ack"], timeout=LONG, what="bob's inputs taken again")
        assert get_json(f"{base}/api/matches/{match_id}/")["status"] == "running"
        assert_clean(ann, bob)


@pytest.mark.timeout(300)
def test_after_a_server_restart_the_tab_says_the_match_is_gone_and_offers_no_retry(
    tmp_path,
    open_tab,  # noqa: F811
    artifacts,
):
    with database_url(tmp_path) as db_url:
        first = start_server(db_url, RESTART_GRACE_SECONDS)
        second: Process | None = None
        try:
            direct = first.wait_for(READY).group(1)
            with CuttableProxy(urlsplit(direct).port or 80) as proxy:
                base = f"http://127.0.0.1:{proxy.port}"
                ann, bob = open_tab(), open_tab()
                match_id, [invite] = create_match(ann, base, 2)
                bob.page.goto(invite)
                wait_running(ann, bob)
                for tab in (ann, bob):
                    record(tab.page, "status", "#hud-conn")

                # The server dies (SIGKILL: no time to end its matches) and comes back on the same
                # database: the match is still "running" there, but nothing runs it any more.
                os.killpg(first.proc.pid, signal.SIGKILL)
                first.proc.wait(timeout=30)
                for tab in (ann, bob):
                    tab.wait("d.conn.reconnecting", timeout=LONG, what="reconnecting after the crash")
                    expect(tab.page.locator("#conn-banner")).to_have_attribute("data-kind", "reconnecting")
                second = start_server(db_url, RESTART_GRACE_SECONDS)
                proxy.upstream = ("127.0.0.1", urlsplit(second.wait_for(READY).group(1)).port or 80)
                assert get_json(f"{base}/api/matches/{match_id}/")["status"] == "running"

                for tab in (ann, bob):
                    tab.wait("d.conn.final !== null", timeout=90, what="the end state")
                    conn: dict[str, Any] = tab.conn()
                    assert (conn["final"], conn["fatal"], conn["live"]) == ("match_gone", True, False), conn
                    fatal = tab.page.locator("#fatal-overlay")
                    expect(fatal).to_be_visible()
                    expect(fatal.locator("#fatal-title")).to_have_text("Match gone")
                    expect(fatal.locator("#fatal-message")).to_contain_text("restarted")
                    expect(fatal.locator("#fatal-message")).to_contain_text("cannot be resumed")
                    expect(tab.page.locator("#retry-button")).to_be_hidden()  # it could not work
                    expect(fatal.locator(".new-match")).to_be_visible()  # the way back
                    expect(tab.page.locator("#conn-banner")).to_be_hidden()
                    statuses = seen(tab.page, "status")
                    assert statuses[0] == "connected", statuses
                    assert "connected" not in statuses[1:], f"'connected' over a dead match: {statuses}"
                    assert tab.resume_key(match_id) is None, "a credential that opens nothing is forgotten"
                    # It asked the restarted server, was let in, and was told twice: no tick worker.
                    assert tab.error_codes().count("unavailable") == 2, tab.error_codes()
                    assert len(tab.got("seat")) == 3
                    sockets = tab.conn()["sockets"]
                    tab.page.wait_for_timeout(1500)
                    assert tab.conn()["sockets"] == sockets, "no retries after the end state"
                artifact(bob.page, artifacts, "match-gone.png")
                assert_clean(ann, bob, allowed_errors=frozenset({"unavailable"}))
        finally:
            if second is not None:
                second.stop()
            first.stop()


@pytest.mark.timeout(180)
def test_a_second_game_plays_in_the_same_shell_from_its_renderer_to_its_results(
    tmp_path,
    open_tab,  # noqa: F811
    artifacts,
):
    """Light cycles (match.games.grid, web/static/web/games/grid.js): the practice form offers it,
    the snapshot names it, the shell draws it with its renderer, shows its controls and the
    verdict of its result; nothing in the shell is the arena's."""
    with database_url(tmp_path) as db_url:
        # A short clock, so the match ends by itself while the test watches (the cycles ride on
        # without input: rounds end on the walls, whoever wins them).
        server = start_server(
            db_url,
            GRACE_SECONDS,
            GAMES="match.games.arena,match.games.grid",
            MATCH_TIME_LIMIT="15",
            MATCH_SCORE_LIMIT="10",
        )
        try:
            base = server.wait_for(READY).group(1)
            ann, bob = open_tab(), open_tab()
            ann.page.goto(base + "/")
            expect(ann.page.locator("#game-select option")).to_have_text(["Arena", "Light cycles"])
            ann.page.locator("#game-select").select_option("grid")
            expect(ann.page.get_by_label("Players").locator("option")).to_have_text(["2", "3", "4"])
            ann.page.get_by_label("Your name").fill("Ann")
            ann.page.get_by_label("Players").select_option("2")
            ann.page.get_by_role("button", name="Create match").click()
            invite = ann.page.locator("#invite-list .invite-url")
            expect(invite).to_have_count(1)
            bob.page.goto(invite.input_value())
            wait_running(ann, bob)
            for tab in (ann, bob):
                assert tab.view()["game"] == "grid"
                assert [m["game"] for m in tab.got("snapshot")] == ["grid"]
                expect(tab.page.locator("#controls kbd")).to_have_text(["WASD / arrows"])
                expect(tab.page.locator("#controls")).to_contain_text("turn")
                expect(tab.page.locator("#scoreboard-body li")).to_have_count(2)
            artifact(ann.page, artifacts, "grid-match.png")

            for tab in (ann, bob):
                expect(tab.page.locator("#results-overlay")).to_be_visible(timeout=LONG * 1000)
            [end] = ann.got("end")
            ranks = {r["s"]: r["rank"] for r in end["result"]["ranking"]}
            draw = len(set(ranks.values())) == 1
            for tab, seat in ((ann, 0), (bob, 1)):
                title = "Draw" if draw else "Victory" if ranks[seat] == 1 else "Defeat"
                expect(tab.page.locator("#results-title")).to_have_text(title)
                expect(tab.page.locator("#results-body tr")).to_have_count(2)
                expect(tab.page.locator("#results-head th")).to_have_text(["#", "Name", "Score"])
            artifact(ann.page, artifacts, "grid-results.png")
            assert_clean(ann, bob)
        finally:
            server.stop()


OUTCOMES: list[tuple[str, dict[str, Any], int | None, tuple[str, str, str]]] = [
    (
        "a duel won",
        {"reason": "score", "ranking": [{"s": 1, "n": "B", "rank": 1}, {"s": 0, "n": "A", "rank": 2}]},
        1,
        ("victory", "Victory", ""),
    ),
    (
        "a duel lost",
        {"reason": "score", "ranking": [{"s": 1, "n": "B", "rank": 1}, {"s": 0, "n": "A", "rank": 2}]},
        0,
        ("defeat", "Defeat", ""),
    ),
    (
        "a 2-2 duel",
        {"reason": "time", "ranking": [{"s": 0, "n": "A", "rank": 1}, {"s": 1, "n": "B", "rank": 1}]},
        1,
        ("draw", "Draw", ""),
    ),
    (
        "second of six",
        {"reason": "time", "ranking": [{"s": s, "n": f"P{s}", "rank": s + 1} for s in range(6)]},
        1,
        ("place", "2nd place", "2nd of 6"),
    ),
    (
        "first of four, the others sharing second",
        {"reason": "time", "ranking": [{"s": s, "n": f"P{s}", "rank": min(s, 1) + 1} for s in range(4)]},
        0,
        ("victory", "Victory", "1st of 4"),
    ),
    (
        "sharing second of four",
        {"reason": "time", "ranking": [{"s": s, "n": f"P{s}", "rank": min(s, 1) + 1} for s in range(4)]},
        2,
        ("place", "2nd place", "shared 2nd of 4"),
    ),
    (
        "first shared in a free-for-all",
        {"reason": "time", "ranking": [{"s": s, "n": f"P{s}", "rank": 1 if s < 2 else s} for s in range(4)]},
        1,
        ("draw", "Draw", "shared 1st of 4"),
    ),
    (
        "the winning team",
        {
            "reason": "score",
            "ranking": [{"s": 0, "n": "A", "rank": 1, "tm": 1}, {"s": 1, "n": "B", "rank": 2, "tm": 0}],
            "teams": [{"tm": 1, "rank": 1, "sc": 3}, {"tm": 0, "rank": 2, "sc": 1}],
        },
        0,
        ("victory", "Victory", ""),
    ),
    (
        "a team draw",
        {
            "reason": "time",
            "ranking": [{"s": 0, "n": "A", "rank": 1, "tm": 0}, {"s": 1, "n": "B", "rank": 1, "tm": 1}],
            "teams": [{"tm": 0, "rank": 1, "sc": 2}, {"tm": 1, "rank": 1, "sc": 2}],
        },
        1,
        ("draw", "Draw", ""),
    ),
    (
        "a forfeited seat",
        {
            "reason": "forfeit",
            "ranking": [{"s": 0, "n": "A", "rank": 1}, {"s": 1, "n": "B", "rank": 2, "ff": True}],
        },
        1,
        ("defeat", "Defeat", "You forfeited"),
    ),
    ("an aborted match", {"reason": "aborted", "ranking": []}, 0, ("aborted", "Match aborted", "")),
    (
        "a watcher",
        {"reason": "score", "ranking": [{"s": 0, "n": "A", "rank": 1}, {"s": 1, "n": "B", "rank": 2}]},
        None,
        ("over", "Match over", "A wins"),
    ),
]


@pytest.mark.timeout(60)
def test_victory_defeat_draw_and_placings_follow_the_ranks(base_url, open_tab):  # noqa: F811
    tab: ResumeTab = open_tab()
    tab.page.goto(base_url + "/")

    def outcome(result: dict[str, Any], seat: int | None) -> dict[str, str]:
        found: dict[str, str] = tab.page.evaluate(
            "([result, seat]) => window.GameShell.outcomeOf(result, seat)", [result, seat]
        )
        return found

    got = {name: outcome(result, seat) for name, result, seat, _ in OUTCOMES}
    expected = {
        name: dict(zip(("kind", "title", "placing"), want, strict=True)) for name, _, _, want in OUTCOMES
    }
    assert got == expected
