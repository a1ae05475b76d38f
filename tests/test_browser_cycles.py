"""The second game from the lobby, in a real browser: two headless Chromium tabs, each in its own
browser context, sign in as guests on the lobby of the real server that `make run` starts, queue
for `cycles` (light cycles, match.games.grid: a match of 4, or of 2 once the first queued player
has waited MM_FFA_WAIT seconds), accept the ready check and play the grid match to its end with
the arrow keys; both then see the verdict of the server's result and their rating change.

The steering is a small bot per tab: it follows the board from the frames the tab received
(match.games.grid.wire.apply_delta, the reference reconstruction) and turns, with a key press,
away from a wall or trail a few cells ahead. Who wins is not up to the test (the machine is busy
and the bot is simple); that every page shows what the server decided is. Every wait is bounded,
with generous ceilings. Screenshots of the lobby, the running match and the results go to
``ARTIFACTS_DIR`` (default: a temporary directory).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, cast

import pytest
from playwright.sync_api import expect

from match.games.grid import constants as grid
from match.games.grid import wire
from tests.e2e import READY, Process, database_url, get_json
from tests.test_browser_lobby import (
    LobbyTab,
    assert_clean,
    browser,  # noqa: F401  (the module's headless Chromium)
    modes_of,
    signed,
    tabs,  # noqa: F401  (two tabs in two browser contexts, screenshots at the end)
)
from tests.test_browser_shell import artifact, artifacts, start_server  # noqa: F401  (artifacts: a fixture)

# A match of two may start once the first queued player has waited this long (cycles' `wait`).
WAIT_SECONDS = 2
# The clock ends the match if nobody takes the score limit (3 rounds) first.
MATCH_SECONDS = 40
READY_SECONDS = 30
GRACE_SECONDS = 30
LONG = 30.0  # seconds: the ceiling of a wait for what should take a second or two
UI_MS = 15_000  # the ceiling of a page update that follows a message
# The bot turns when its way ahead is free for this many cells or fewer (a cycle rides 10 a
# second, so a poll of the page has a few hundred milliseconds to see it and press).
TURN_AT = 4
KEY_OF = {grid.UP: "ArrowUp", grid.RIGHT: "ArrowRight", grid.DOWN: "ArrowDown", grid.LEFT: "ArrowLeft"}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The default settings (they register the grid game and the `cycles` mode), with short waits."""
    with database_url(tmp_path_factory.mktemp("cycles-db")) as db_url:
        server: Process = start_server(
            db_url,
            GRACE_SECONDS,
            MATCH_TIME_LIMIT=str(MATCH_SECONDS),
            MM_FFA_WAIT=str(WAIT_SECONDS),
            READY_CHECK_TIMEOUT=str(READY_SECONDS),
        )
        try:
            yield server.wait_for(READY).group(1)
        finally:
            server.stop()


class Follower:
    """One tab's match as its frames tell it: the snapshot, then every frame's delta applied."""

    def __init__(self, tab: LobbyTab) -> None:
        self.tab = tab
        self.read = 0
        self.state: dict[str, Any] | None = None
        self.board = bytearray()

    def update(self) -> dict[str, Any] | None:
        received = self.tab.received
        for message in received[self.read :]:
            if message["t"] == "snapshot":
                self.state = message["state"]
            elif message["t"] == "frame" and self.state is not None and message["tick"] > self.state["tick"]:
                self.state = wire.apply_delta(self.state, message["d"])
        self.read = len(received)
        if self.state is not None:
            self.board = wire.unrle(cast(list[int], self.state["g"]))
        return self.state

    def free(self, x: int, y: int, direction: int, limit: int = 12) -> int:
        """Empty cells ahead of (x, y) going ``direction`` (up to ``limit``)."""
        run = 0
        while run < limit:
            x, y = x + grid.DX[direction], y + grid.DY[direction]
            if not (0 <= x < grid.WIDTH and 0 <= y < grid.HEIGHT) or self.board[y * grid.WIDTH + x]:
                break
            run += 1
        return run


def steer(tab: LobbyTab, view: dict[str, Any], follower: Follower, seat: int) -> int | None:
    """Turn (a key press) if the way ahead is nearly blocked: to the side with more room. The
    direction pressed, or None. The head and the board come from the same frame (the page's own
    view may be a tick behind the frames read so far); the heading is the page's, with the turns
    it has sent and the server not yet applied."""
    state = follower.update()
    heading = view["heading"]
    if view["phase"] != "running" or state is None or state["next"] or heading is None:
        return None
    me = next(p for p in state["players"] if p["s"] == seat)
    x, y = me["x"], me["y"]
    if not me["al"] or follower.free(x, y, heading) > TURN_AT:
        return None
    best = max(((heading + 1) % 4, (heading + 3) % 4), key=lambda d: follower.free(x, y, d, limit=64))
    if follower.free(x, y, best) == 0:
        return None  # boxed in: nothing saves it
    tab.page.keyboard.press(KEY_OF[best])
    return best


def sign_in(tab: LobbyTab, base: str, name: str) -> None:
    tab.page.goto(base + "/")
    expect(tab.page.locator("#start-screen")).to_be_visible(timeout=UI_MS)
    tab.page.get_by_label("Guest name").fill(name)
    tab.page.get_by_role("button", name="Play as guest").click()
    expect(tab.page.locator("#lobby-screen")).to_be_visible(timeout=UI_MS)
    tab.await_lobby(
        "l.welcomed && l.conn === 'online' && l.me.n === arg", arg=name, timeout=LONG, what="welcome"
    )


def turns_taken(tab: LobbyTab, seat: int) -> list[tuple[int, int]]:
    """(seq, dir) of this tab's inputs that the server applied as a turn: a frame acknowledges
    the seq and shows the seat's heading changed to the pressed direction."""
    inputs = [(m["seq"], m["dir"]) for m in tab.sent if m["t"] == "input"]
    frames = [m for m in tab.received if m["t"] == "frame"]
    taken = []
    for seq, direction in inputs:
        # The tick that applied the input (unless that frame was skipped for a slow reader).
        applied = next((f for f in frames if f["acks"][seat] >= seq), None)
        if applied is not None and any(
            p["s"] == seat and p.get("d") == direction for p in applied["d"].get("p", [])
        ):
            taken.append((seq, direction))
    return taken


@pytest.mark.timeout(300)
def test_two_guests_queue_for_cycles_steer_their_cycles_to_the_end_and_see_result_and_rating(
    base_url,
    tabs,  # noqa: F811
    artifacts,  # noqa: F811
):
    base = base_url
    ann, bob = tabs
    sign_in(ann, base, "Ann")
    sign_in(bob, base, "Bob")

    # --- the lobby: the cycles mode plays the grid game and says what it needs ------------------
    cycles = modes_of(ann)["cycles"]
    assert (cycles["game"], cycles["players"], cycles["min"], cycles["wait"]) == ("grid", 4, 2, WAIT_SECONDS)
    assert cycles["rated"] is True
    hint = "#queue-buttons li[data-mode=cycles] .mode-hint"
    for tab in (ann, bob):
        tab.await_lobby("l.online === 2", timeout=LONG, what="both online")
        expect(tab.page.locator(hint)).to_have_text(f"4 players, starts with 2 after {WAIT_SECONDS} s")
        expect(tab.page.locator("#ratings .rating[data-mode=cycles] .rating-value")).to_have_text("1000")
    ann.page.locator("#queue-cycles").click()
    ann.await_lobby("l.queue.mode === 'cycles'", timeout=LONG, what="Ann queued for cycles")
    # Once she has waited the mode's wait, two are enough: one more is needed.
    ann.await_lobby("l.queue.need === 2", timeout=LONG, what="a match of two allowed")
    expect(ann.page.locator(hint)).to_have_text(
        f"1 queued of 4, starts with 2 after {WAIT_SECONDS} s \u00b7 1 more needed", timeout=UI_MS
    )
    expect(ann.page.locator("#queue-text")).to_contain_text("1 more needed")
    artifact(ann.page, artifacts, "cycles-lobby.png")

    # --- the ready check: both accept --------------------------------------------------------
    bob.page.locator("#queue-cycles").click()
    for tab in (ann, bob):
        expect(tab.page.locator("#ready-dialog")).to_be_visible(timeout=LONG * 1000)
        expect(tab.page.locator("#ready-players li")).to_have_count(2)
    for tab in (ann, bob):
        tab.page.get_by_role("button", name="Accept").click()

    # --- the grid match, from the lobby ----------------------------------------------------------
    for tab in (ann, bob):
        expect(tab.page.locator("#game-screen")).to_be_visible(timeout=LONG * 1000)
        tab.wait(
            "d.lobbyMatch && d.game === 'grid' && d.mode === 'cycles' && d.phase === 'running'",
            timeout=LONG,
            what="the grid match running",
        )
        [ready] = tab.got("match_ready")
        assert ready["mode"] == "cycles", ready
        snapshots = tab.got("snapshot")  # more than one if the tab had to resynchronise
        assert {m["game"] for m in snapshots} == {"grid"}, snapshots
        expect(tab.page.locator("#controls kbd")).to_have_text(["WASD / arrows"])
        expect(tab.page.locator("#scoreboard-body li")).to_have_count(2, timeout=UI_MS)
    match_id = ann.view()["match"]
    assert bob.view()["match"] == match_id
    seats = {ann.view()["seat"], bob.view()["seat"]}
    assert seats == {0, 1}, seats
    seat_of = {id(ann): ann.view()["seat"], id(bob): bob.view()["seat"]}

    # --- steering: each bot turns away from what is ahead, with the arrow keys -------------------
    followers = {id(tab): Follower(tab) for tab in (ann, bob)}
    pressed: dict[int, list[int]] = {id(ann): [], id(bob): []}
    shot_taken = False
    deadline = time.monotonic() + MATCH_SECONDS + 2 * LONG
    while time.monotonic() < deadline:
        views = {id(tab): tab.view() for tab in (ann, bob)}
        if all(view["phase"] == "over" for view in views.values()):
            break
        for tab in (ann, bob):
            turned = steer(tab, views[id(tab)], followers[id(tab)], seat_of[id(tab)])
            if turned is not None:
                pressed[id(tab)].append(turned)
        if (
            not shot_taken
            and all(len(p) >= 3 for p in pressed.values())
            and views[id(ann)]["phase"] == "running"
        ):
            artifact(ann.page, artifacts, "cycles-match.png")  # trails on the board by now
            shot_taken = True
        ann.page.wait_for_timeout(30)
    for tab in (ann, bob):
        expect(tab.page.locator("#results-overlay")).to_be_visible(timeout=LONG * 1000)
    assert shot_taken, f"the bots hardly turned: {pressed}"
    taken = {id(tab): turns_taken(tab, seat_of[id(tab)]) for tab in (ann, bob)}

    # What was sent: turns only, numbered in order, and the server took them.
    for tab in (ann, bob):
        inputs = [m for m in tab.sent if m["t"] == "input"]
        assert inputs, "no turn sent"
        assert all(set(m) == {"t", "seq", "dir"} and m["dir"] in range(4) for m in inputs), inputs
        seqs = [m["seq"] for m in inputs]
        assert seqs == sorted(set(seqs)), seqs
        assert len(inputs) <= len(pressed[id(tab)]), "an input without a key press"
        assert taken[id(tab)], f"the server turned none of {inputs}"
        assert tab.view()["ack"] > 0

    # --- the end: every page shows the server's result ------------------------------------------
    [end] = ann.got("end")
    assert bob.got("end") == [end]
    result = end["result"]
    assert get_json(f"{base}/api/matches/{match_id}/")["result"] == result
    ranking = result["ranking"]
    assert sorted(r["s"] for r in ranking) == [0, 1], result
    wins = {r["s"]: r["sc"] for r in ranking}
    limit = ann.got("snapshot")[0]["state"]["score_limit"]
    assert result["reason"] == ("score" if max(wins.values()) >= limit else "time"), result
    for tab in (ann, bob):
        # The frames told the same round wins as the result.
        final = followers[id(tab)].update()
        assert final is not None
        assert {p["s"]: p["sc"] for p in final["players"]} == wins, (final["players"], result)
    print(
        f"cycles: {result['reason']} after {result['rounds']} rounds, wins {wins};"
        f" keys pressed {[len(p) for p in pressed.values()]}, turns taken {[len(t) for t in taken.values()]}"
    )
    ranks = {r["s"]: r["rank"] for r in ranking}
    draw = len(set(ranks.values())) == 1
    changes = {}
    for tab in (ann, bob):
        seat = seat_of[id(tab)]
        title, kind = (
            ("Draw", "draw") if draw else ("Victory", "victory") if ranks[seat] == 1 else ("Defeat", "defeat")
        )
        results = tab.page.locator("#results-overlay")
        expect(results.locator("#results-title")).to_have_text(title)
        expect(results).to_have_attribute("data-outcome", kind)
        expect(results.locator("#results-head th")).to_have_text(["#", "Name", "Score"])
        rows = results.locator("#results-body tr")
        expect(rows).to_have_count(2)
        for row, entry in enumerate(ranking):
            cells = rows.nth(row).locator("td")
            expect(cells.nth(0)).to_have_text(f"{'=' if draw else ''}{entry['rank']}")
            expect(cells.nth(2)).to_have_text(str(entry["sc"]))
        expect(results.locator("tr.me")).to_have_attribute("data-seat", str(seat))
        assert tab.view()["outcome"]["kind"] == kind

        # The lobby's rating push, shown on the results.
        tab.await_lobby("l.ratingChanges.length === 1", timeout=LONG, what="the rating push")
        [change] = tab.got("rating")
        assert (change["mode"], change["match"], change["before"]) == ("cycles", match_id, 1000), change
        assert change["rank"] == ranks[seat], change
        assert change["outcome"] == ("draw" if draw else "win" if ranks[seat] == 1 else "loss"), change
        assert change["skill"] + change["certainty"] == change["after"] - change["before"], change
        rating = tab.page.locator("#results-rating")
        expect(rating).to_be_visible(timeout=UI_MS)
        expect(rating.locator(".rating-line")).to_contain_text(f"rating 1000 \u2192 {change['after']}")
        outcome = {"draw": "Draw", "win": "Win", "loss": "Loss"}[change["outcome"]]
        skill, certainty = signed(change["skill"]), signed(change["certainty"])
        why = f"{outcome}: {skill} for the result, {certainty} as the rating"
        expect(rating.locator(".rating-why")).to_contain_text(why)
        changes[id(tab)] = change
    artifact(ann.page, artifacts, "cycles-results-ann.png")
    artifact(bob.page, artifacts, "cycles-results-bob.png")
    if not draw:
        winner, loser = sorted(changes.values(), key=lambda c: c["rank"])
        assert winner["after"] > loser["after"], changes

    # Back in the lobby: the new rating in the panel.
    for tab in (ann, bob):
        tab.page.get_by_role("button", name="Back to lobby").click()
        expect(tab.page.locator("#lobby-screen")).to_be_visible(timeout=UI_MS)
        value = tab.page.locator("#ratings .rating[data-mode=cycles] .rating-value")
        expect(value).to_have_text(str(changes[id(tab)]["after"]))
    assert_clean(ann, bob)
