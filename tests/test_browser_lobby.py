"""The lobby in a real browser: two headless Chromium tabs, each in its own browser context (its
own cookies, so its own session), sign in as guests through the page and use the lobby of the
real server that `make run` starts: presence, chat, a party, the duel queue with its ready
check, a rated match played to its end, and the rating change; then rooms, and a team match
started from a room.

Besides the page itself the test reads what each tab's lobby believes (`window.lobbyDebug()`,
a read-only hook in lobby.js), what its game believes (`window.arenaDebug()`) and the WebSocket
frames it sent and received. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Error, Locator, WebSocketRoute, expect, sync_playwright

from tests.e2e import READY, Process, database_url, server_env
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, WAIT_MS, Tab, near, position

# Short matches, so a whole one fits in the test; a ready check that outlasts a slow machine.
MATCH_SECONDS = 8
READY_SECONDS = 30
TEAM_COLOURS = ["#3d8bff", "#ff8c1a"]  # client.js TEAM_COLOURS
# Screenshots worth a look by a person: set SCREENSHOT_DIR to keep them (failures always leave
# theirs in the test's tmp_path).
SHOTS = os.environ.get("SCREENSHOT_DIR", "")


def shot(page: Any, name: str) -> None:
    if SHOTS:
        page.screenshot(path=Path(SHOTS) / name)


class LobbyTab(Tab):
    """A tab with the lobby's view next to the game's."""

    def lobby(self) -> dict[str, Any]:
        view: dict[str, Any] = self.page.evaluate("window.lobbyDebug()")
        return view

    def await_lobby(self, condition: str, arg: Any = None, timeout: float = 5.0, what: str = "") -> None:
        """Wait (bounded) until a JS expression over `l` (the lobby's view) and `arg` holds."""
        script = f"(arg) => {{ const l = window.lobbyDebug(); return Boolean({condition}); }}"
        try:
            self.page.wait_for_function(script, arg=arg, timeout=timeout * 1000, polling=50)
        except Error as exc:
            raise AssertionError(
                f"{what or condition} not seen within {timeout}s; lobby: {self.lobby()}"
            ) from exc

    def got(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m["t"] == kind]

    def expect_http_error(self, status: int) -> None:
        """Take the one expected failed request (and only it) off the list of problems."""
        expected = [p for p in self.problems if p.startswith(f"HTTP {status}: ")]
        assert len(expected) == 1, self.problems
        self.problems.remove(expected[0])


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with database_url(tmp_path_factory.mktemp("lobby-db")) as db_url:
        server = Process(
            ["make", "-s", "run", "HOST=127.0.0.1", "PORT=0"],
            server_env(
                DATABASE_URL=db_url,
                MATCH_TIME_LIMIT=str(MATCH_SECONDS),
                READY_CHECK_TIMEOUT=str(READY_SECONDS),
                AUTH_RATE_PER_MIN="600",  # every sign-in of the module comes from one address
            ),
        )
        try:
            yield server.wait_for(READY).group(1)
        finally:
            server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def tabs(browser: Browser, tmp_path: Path) -> Iterator[list[LobbyTab]]:
    """Two tabs in two browser contexts; screenshots of both if the test fails."""
    contexts = [browser.new_context(viewport=VIEWPORT) for _ in range(2)]
    opened: list[LobbyTab] = []
    for context in contexts:
        context.set_default_timeout(WAIT_MS)
        opened.append(LobbyTab(context.new_page()))
    try:
        yield opened
    finally:
        for n, tab in enumerate(opened, 1):
            with contextlib.suppress(Error):
                tab.page.screenshot(path=tmp_path / f"end-tab{n}.png")
        for context in contexts:
            context.close()


def sign_in(tab: LobbyTab, base: str, name: str) -> None:
    tab.page.goto(base + "/")
    expect(tab.page.locator("#start-screen")).to_be_visible()
    tab.page.get_by_label("Guest name").fill(name)
    tab.page.get_by_role("button", name="Play as guest").click()
    expect(tab.page.locator("#lobby-screen")).to_be_visible()
    tab.await_lobby("l.welcomed && l.conn === 'online' && l.me.n === arg", arg=name, what=f"{name}'s welcome")


def signed(n: int) -> str:
    """A rating part as the page writes it: +32, \u221212, +0."""
    return f"+{n}" if n >= 0 else f"\u2212{-n}"


def modes_of(tab: LobbyTab) -> dict[str, dict[str, Any]]:
    """The modes the welcome listed, by name."""
    return {m["mode"]: m for m in tab.lobby()["modes"]}


def online_names(tab: LobbyTab) -> Locator:
    return tab.page.locator("#online-list li .person-name")


def assert_clean(*tabs: LobbyTab, allowed_errors: frozenset[str] = frozenset()) -> None:
    for tab in tabs:
        assert not [m for m in tab.received + tab.sent if m["t"].startswith("text")]
        errors = [m for m in tab.got("error") if m["code"] not in allowed_errors]
        assert not errors, f"the server refused something: {errors}"
        assert tab.problems == [], tab.problems


@pytest.mark.timeout(150)
def test_two_guests_meet_queue_play_a_duel_and_see_their_ratings_change(base_url, tabs, tmp_path):
    base = base_url
    ann, bob = tabs

    # --- sign-in: the server's own errors are shown -------------------------------------------
    ann.page.goto(base + "/")
    expect(ann.page.locator("#start-screen")).to_be_visible()
    expect(ann.page.get_by_role("button", name="Create match")).to_be_visible()  # practice stays
    shot(ann.page, "lobby-signin.png")
    ann.page.get_by_label("Guest name").fill("x!")
    ann.page.get_by_role("button", name="Play as guest").click()
    error = ann.page.locator("#guest-error")
    expect(error).to_be_visible()
    expect(error).to_have_attribute("data-code", "bad_name")
    expect(error).to_contain_text("Name not allowed")
    ann.expect_http_error(400)
    sign_in(ann, base, "Ann")
    expect(ann.page.locator("#guest-error")).to_be_hidden()

    bob.page.goto(base + "/")
    bob.page.get_by_label("Guest name").fill("ann")  # Ann is online: her name is hers
    bob.page.get_by_role("button", name="Play as guest").click()
    expect(bob.page.locator("#guest-error")).to_have_attribute("data-code", "name_taken")
    expect(bob.page.locator("#guest-error")).to_contain_text("Name taken")
    bob.expect_http_error(409)
    sign_in(bob, base, "Bob")

    # --- presence: each sees the other, live -----------------------------------------------------
    for tab, other in ((ann, "Bob"), (bob, "Ann")):
        tab.await_lobby("l.online === 2 && l.players.some((p) => p.n === arg)", arg=other, what="both online")
        expect(tab.page.locator("#online-count")).to_have_text("2")
        expect(online_names(tab)).to_have_count(2)
        expect(online_names(tab).filter(has_text=other)).to_have_count(1)
        for mode in ("duel", "team", "ffa"):
            expect(tab.page.locator(f"#ratings .rating[data-mode={mode}] .rating-value")).to_have_text("1000")
        # Each mode says what it needs (the welcome's modes): free-for-all may start smaller.
        hint = "#queue-buttons li[data-mode={}] .mode-hint".format
        expect(tab.page.locator(hint("duel"))).to_have_text("2 players")
        expect(tab.page.locator(hint("team"))).to_have_text("4 players (teams of 2)")
        expect(tab.page.locator(hint("ffa"))).to_have_text(
            re.compile(r"^8 players, starts with \d+ after \d+ s$")
        )
    expect(ann.page.locator("#lobby-me")).to_contain_text("Ann")
    expect(ann.page.get_by_role("link", name="Leaderboard")).to_have_attribute("href", "/leaderboard/")

    # --- chat: both ways, an error shown, history for a tab that comes back --------------------------
    ann.page.get_by_label("Chat message").fill("hello Bob")
    ann.page.get_by_role("button", name="Send").click()
    expect(bob.page.locator("#chat-log li")).to_contain_text(["hello Bob"])
    expect(ann.page.get_by_label("Chat message")).to_have_value("")
    bob.page.get_by_label("Chat message").fill("hi Ann, duel?")
    bob.page.keyboard.press("Enter")
    for tab in (ann, bob):
        expect(tab.page.locator("#chat-log li .chat-text")).to_have_text(["hello Bob", "hi Ann, duel?"])
    bob.page.get_by_label("Chat message").fill("\u200b")  # nothing left once cleaned: refused
    bob.page.get_by_role("button", name="Send").click()
    expect(bob.page.locator("#chat-error")).to_be_visible()
    expect(bob.page.locator("#chat-error")).to_contain_text("empty")
    chats = [m for m in bob.sent if m["t"] == "chat"]
    assert chats, "bob sent no chat"
    assert all(set(m) == {"t", "text"} for m in chats), chats
    bob.page.reload()  # still signed in: straight back to the lobby, with the chat history
    expect(bob.page.locator("#lobby-screen")).to_be_visible()
    bob.await_lobby("l.welcomed && l.chat.length === 2", what="chat history on join")
    expect(bob.page.locator("#chat-log li .chat-text")).to_have_text(["hello Bob", "hi Ann, duel?"])
    ann.await_lobby("l.online === 2 && l.players.some((p) => p.n === 'Bob')", what="Bob back online")

    # --- party: invite, accept, leader mark, kick ------------------------------------------------
    ann.page.get_by_role("button", name="Invite Bob").click()
    expect(ann.page.get_by_role("button", name="Invite Bob")).to_be_disabled()
    inbox = bob.page.locator("#invite-inbox li")
    expect(inbox).to_have_count(1)
    expect(inbox).to_contain_text("Ann invited you")
    inbox.get_by_role("button", name="Accept").click()
    for tab in (ann, bob):
        tab.await_lobby("l.party.id !== 0 && l.party.members.length === 2", what="a party of two")
        members = tab.page.locator("#party-members li")
        expect(members).to_have_count(2)
        expect(members.filter(has_text="Ann")).to_contain_text("leader")
        expect(members.filter(has_text="Bob")).not_to_contain_text("leader")
    expect(inbox).to_have_count(0)
    expect(bob.page.locator("#queue-duel")).to_be_disabled()  # only the leader queues a party
    expect(bob.page.get_by_role("button", name="Kick Ann")).to_have_count(0)
    ann.page.get_by_role("button", name="Kick Bob").click()
    for tab in (ann, bob):
        tab.await_lobby("l.party.id === 0", what="the party gone")
        expect(tab.page.locator("#party-members li")).to_have_count(0)

    # --- queue: a declined ready check, then an accepted one -------------------------------------
    ann.page.get_by_role("button", name="Queue free-for-all").click()
    ann.await_lobby("l.queue.mode === 'ffa'", what="Ann queued for free-for-all")
    expect(ann.page.locator("#queue-text")).to_contain_text("Searching Free-for-all")
    # The current wait: how many are queued of how many, and when a smaller match may start.
    ffa = modes_of(ann)["ffa"]
    expect(ann.page.locator("#queue-text")).to_contain_text(
        f"1 queued of 8, starts with {ffa['min']} after {ffa['wait']} s"
    )
    expect(ann.page.locator("#queue-buttons li[data-mode=ffa] .mode-hint")).to_contain_text("1 queued of 8")
    expect(ann.page.get_by_role("button", name="Queue duel")).to_be_disabled()
    ann.page.get_by_role("button", name="Leave queue").click()
    ann.await_lobby("l.queue.mode === ''", what="Ann out of the queue")
    expect(ann.page.locator("#queue-status")).to_be_hidden()
    ann.page.get_by_role("button", name="Queue duel").click()
    ann.await_lobby("l.queue.mode === 'duel'", what="Ann queued")
    expect(ann.page.locator("#queue-status")).to_be_visible()
    expect(ann.page.locator("#queue-text")).to_contain_text("Searching Duel")
    expect(ann.page.locator("#queue-text")).to_contain_text("rating 1000")
    ann.page.wait_for_timeout(1300)  # a status push a second later counts the wait
    ann.await_lobby("l.queue.waited >= 1", what="seconds waited going up")
    bob.page.get_by_role("button", name="Queue duel").click()
    for tab in (ann, bob):
        expect(tab.page.locator("#ready-dialog")).to_be_visible()
        expect(tab.page.locator("#ready-title")).to_have_text("Match found: Duel")
        expect(tab.page.locator("#ready-players li")).to_have_count(2)
        expect(tab.page.locator("#ready-countdown")).to_have_text(re.compile(r"^\d+ s$"))
    shot(ann.page, "lobby-ready-check.png")
    bob.page.get_by_role("button", name="Decline").click()
    expect(ann.page.locator("#ready-dialog")).to_be_hidden()
    expect(ann.page.locator("#lobby-notice")).to_contain_text("a player declined")
    expect(ann.page.locator("#lobby-notice")).to_contain_text("back in the queue")
    ann.await_lobby("l.lastCancel.requeued && l.queue.mode === 'duel'", what="Ann re-queued")
    expect(bob.page.locator("#lobby-notice")).to_contain_text("no longer queued")
    bob.await_lobby("!l.lastCancel.requeued && l.queue.mode === ''", what="Bob out of the queue")

    bob.page.get_by_role("button", name="Queue duel").click()
    for tab in (ann, bob):
        expect(tab.page.locator("#ready-dialog")).to_be_visible()
    ann.page.get_by_role("button", name="Accept").click()
    for tab in (ann, bob):  # who accepted shows in both dialogs
        expect(tab.page.locator("#ready-players li.accepted")).to_have_count(1)
        expect(tab.page.locator("#ready-players li.accepted")).to_contain_text("Ann")
    expect(ann.page.locator("#ready-accept")).to_be_disabled()
    bob.page.get_by_role("button", name="Accept").click()

    # --- the match: both tabs on the game screen, played to its end --------------------------------
    for tab in (ann, bob):
        expect(tab.page.locator("#game-screen")).to_be_visible()
        expect(tab.page.locator("#ready-dialog")).to_be_hidden()
        tab.wait("d.lobbyMatch && d.mode === 'duel' && d.phase === 'running'", timeout=15, what="running")
        ready = [m["accepted"] for m in tab.got("ready_update")]
        assert ready, "no ready_update"
        assert len(ready[-1]) == 2, ready
        assert len(tab.got("match_ready")) == 1
    match_id = ann.view()["match"]
    assert bob.view()["match"] == match_id
    assert ann.lobby()["conn"] == "online", "the lobby socket stays open during the match"
    ready_ann = [m for m in ann.sent if m["t"] == "ready"]
    assert [set(m) for m in ready_ann] == [{"t", "check", "accept"}]
    assert ready_ann[0]["accept"] is True
    assert isinstance(ready_ann[0]["check"], int)
    # Ann aims at Bob and holds the trigger: a decisive result if nothing stands between them.
    seat_ann, seat_bob = ann.view()["seat"], bob.view()["seat"]
    ann.page.mouse.move(*ann.client_point(*position(ann.view(), seat_bob)))
    ann.page.mouse.down()
    for tab in (ann, bob):
        expect(tab.page.locator("#results-overlay")).to_be_visible(timeout=(MATCH_SECONDS + 15) * 1000)
    ann.page.mouse.up()

    # --- ratings: a push each, shown on the results and (back in the lobby) in the panel -----------
    changes = {}
    for tab in (ann, bob):
        tab.await_lobby("l.ratingChanges.length === 1", timeout=10, what="the rating push")
        pushes = tab.got("rating")
        assert len(pushes) == 1, pushes
        change = pushes[0]
        assert (change["mode"], change["match"], change["before"]) == ("duel", match_id, 1000)
        assert change["after"] != change["before"], change
        changes[tab is ann] = change
        expect(tab.page.locator("#results-rating")).to_contain_text(
            f"Duel rating 1000 \u2192 {change['after']}"
        )
    shot(ann.page, "lobby-results.png")
    end = next(m for m in ann.received if m["t"] == "end")["result"]
    ranks = {e["s"]: e["rank"] for e in end["ranking"]}
    # The verdict and the rating change explained: the result's part and the certainty's part.
    draw = len(set(ranks.values())) == 1
    for tab, seat in ((ann, seat_ann), (bob, seat_bob)):
        title = "Draw" if draw else "Victory" if ranks[seat] == 1 else "Defeat"
        expect(tab.page.locator("#results-title")).to_have_text(title)
        change = changes[tab is ann]
        assert change["outcome"] == ("draw" if draw else "win" if ranks[seat] == 1 else "loss"), change
        assert change["skill"] + change["certainty"] == change["after"] - change["before"], change
        outcome = {"draw": "Draw", "win": "Win", "loss": "Loss"}[change["outcome"]]
        skill, certainty = signed(change["skill"]), signed(change["certainty"])
        why = f"{outcome}: {skill} for the result, {certainty} as the rating"
        expect(tab.page.locator("#results-rating .rating-why")).to_contain_text(why)
    assert changes[True]["rank"] == ranks[seat_ann]
    assert changes[False]["rank"] == ranks[seat_bob]
    winners = [c for c in changes.values() if c["rank"] == 1]
    losers = [c for c in changes.values() if c["rank"] > 1]
    assert all(c["after"] > 1000 for c in winners), changes  # a draw ranks both first
    assert any(c["after"] > 1000 for c in winners) or any(c["after"] < 1000 for c in losers), changes

    for tab in (ann, bob):
        tab.page.get_by_role("button", name="Back to lobby").click()
        expect(tab.page.locator("#lobby-screen")).to_be_visible()
        expect(tab.page.locator("#game-screen")).to_be_hidden()
        after = changes[tab is ann]["after"]
        duel = tab.page.locator("#ratings .rating[data-mode=duel]")
        expect(duel.locator(".rating-value")).to_have_text(str(after))
        sign = "+" if after > 1000 else "\u2212"
        expect(duel.locator(".rating-delta")).to_have_text(f"{sign}{abs(after - 1000)}")
        tab.await_lobby("l.screen === 'lobby' && l.conn === 'online' && l.queue.mode === ''", what="lobby")
        assert tab.page.url == base + "/"
    shot(ann.page, "lobby-after-match.png")

    # --- sign out: back to the sign-in screen, gone from the other's list ---------------------------
    bob.page.get_by_role("button", name="Sign out").click()
    expect(bob.page.locator("#start-screen")).to_be_visible()
    bob.await_lobby("!l.signedIn && l.conn === 'offline'", what="signed out")
    ann.await_lobby("l.online === 1", what="Bob gone")
    expect(online_names(ann)).to_have_count(1)

    assert_clean(ann, bob, allowed_errors=frozenset({"bad_shape"}))  # the empty chat line
    assert [m["code"] for m in bob.got("error")] == ["bad_shape"]


@pytest.mark.timeout(120)
def test_rooms_listed_joined_by_code_and_by_click_and_a_team_match_from_a_room(base_url, tabs, tmp_path):
    base = base_url
    cleo, dan = tabs
    sign_in(cleo, base, "Cleo")
    sign_in(dan, base, "Dan")
    for tab in (cleo, dan):
        tab.await_lobby("l.online >= 2", what="both online")

    # A private room with a password: not listed, joined by code once the password is right.
    cleo.page.locator("#room-create-box summary").click()
    cleo.page.get_by_label("Mode").select_option("duel")
    cleo.page.get_by_label("Public").uncheck()
    cleo.page.get_by_label("Room password").fill("sesame")
    cleo.page.get_by_role("button", name="Create room").click()
    cleo.await_lobby("l.room && l.room.code.length === 6", what="Cleo's room")
    code = cleo.lobby()["room"]["code"]
    expect(cleo.page.locator("#room-panel")).to_be_visible()
    expect(cleo.page.locator("#room-code")).to_have_text(code)
    expect(cleo.page.get_by_role("button", name="Start match")).to_be_visible()
    dan.page.wait_for_timeout(300)
    assert dan.lobby()["rooms"] == [], "a private room is never listed"
    expect(dan.page.locator("#rooms-empty")).to_be_visible()
    dan.page.get_by_label("Room code").fill(code.lower())
    dan.page.get_by_label("Code password").fill("wrong")
    dan.page.get_by_role("button", name="Join room").click()
    expect(dan.page.locator("#room-error")).to_contain_text("Wrong password")
    dan.page.get_by_label("Code password").fill("sesame")
    dan.page.get_by_role("button", name="Join room").click()
    for tab in (cleo, dan):
        tab.await_lobby("l.room && l.room.count === 2", what="two in the room")
        expect(tab.page.locator("#room-members li")).to_have_count(2)
        expect(tab.page.locator("#room-members li").filter(has_text="Cleo")).to_contain_text("host")
    expect(dan.page.get_by_role("button", name="Start match")).to_be_hidden()
    shot(cleo.page, "lobby-room.png")
    cleo.page.get_by_role("button", name="Leave room").click()
    dan.await_lobby("l.room && l.room.host.n === 'Dan' && l.room.count === 1", what="Dan the new host")
    expect(dan.page.get_by_role("button", name="Start match")).to_be_visible()
    dan.page.get_by_role("button", name="Leave room").click()
    for tab in (cleo, dan):
        tab.await_lobby("l.room === null", what="out of the room")
        expect(tab.page.locator("#room-panel")).to_be_hidden()

    # A public team room: listed live in the other tab, joined by clicking it.
    cleo.page.get_by_label("Mode").select_option("team")
    cleo.page.get_by_label("Room size").select_option("2")
    cleo.page.get_by_label("Public").check()
    cleo.page.get_by_role("button", name="Create room").click()
    cleo.await_lobby("l.room && l.room.mode === 'team' && l.room.public", what="the team room")
    code = cleo.lobby()["room"]["code"]
    assert cleo.lobby()["room"]["game"] == "arena", "the room plays the mode's game"
    expect(cleo.page.locator("#room-info")).to_contain_text("Arena \u00b7 Team 2v2 \u00b7 1/2 players")
    listed = dan.page.locator("#room-list li")
    expect(listed).to_have_count(1)
    expect(listed).to_contain_text("Cleo's room")
    expect(listed).to_contain_text("1/2")
    expect(dan.page.locator("#rooms-count")).to_have_text("1")
    shot(dan.page, "lobby-rooms.png")
    listed.get_by_role("button").click()
    for tab in (cleo, dan):
        tab.await_lobby("l.room && l.room.count === 2 && l.rooms.length === 0", what="room joined and full")
        expect(tab.page.locator("#room-list li")).to_have_count(0)
    joins = [m for m in dan.sent if m["t"] == "room_join"]
    assert joins[-1] == {"t": "room_join", "code": code}, joins
    create = [m for m in cleo.sent if m["t"] == "room_create"]
    assert create[-1] == {"t": "room_create", "mode": "team", "max": 2, "public": True}, create

    # The host starts it: a team match (1 v 1), players drawn in their team's colour.
    cleo.page.get_by_role("button", name="Start match").click()
    for tab in (cleo, dan):
        expect(tab.page.locator("#game-screen")).to_be_visible()
        tab.wait("d.phase === 'running' && d.players.length === 2", timeout=15, what="the team match running")
        tab.wait("d.players.every((p) => p.tm === 0 || p.tm === 1)", what="team fields")
        expect(tab.page.locator("#team-scores")).to_be_visible()
    view = cleo.view()
    assert view["mode"] == "team"
    assert sorted(p["tm"] for p in view["players"]) == [0, 1]
    points = [(p["x"], p["y"]) for p in view["players"]]
    colours = cleo.pixels(points)
    shot(cleo.page, "lobby-team-match.png")
    expected = [TEAM_COLOURS[p["tm"]] for p in view["players"]]
    assert all(near(c, e, 10) for c, e in zip(colours, expected, strict=True)), (colours, expected)

    for tab in (cleo, dan):
        expect(tab.page.locator("#results-overlay")).to_be_visible(timeout=(MATCH_SECONDS + 15) * 1000)
        expect(tab.page.locator("#results-teams")).to_be_visible()
    end = next(m for m in cleo.received if m["t"] == "end")["result"]
    assert [t["tm"] for t in end["teams"]] in ([0, 1], [1, 0])
    for tab in (cleo, dan):
        tab.page.get_by_role("button", name="Back to lobby").click()
        expect(tab.page.locator("#lobby-screen")).to_be_visible()
    cleo.page.wait_for_timeout(500)
    for tab in (cleo, dan):  # matches from rooms are never rated
        assert tab.got("rating") == []
        assert tab.lobby()["ratingChanges"] == []
        expect(tab.page.locator("#ratings .rating[data-mode=team] .rating-value")).to_have_text("1000")

    assert_clean(cleo)
    assert_clean(dan, allowed_errors=frozenset({"wrong_password"}))
    assert [m["code"] for m in dan.got("error")] == ["wrong_password"]


@pytest.mark.timeout(90)
def test_lobby_socket_reconnects_a_signed_out_session_goes_back_to_sign_in_and_practice_stays(base_url, tabs):
    base = base_url
    eve = tabs[0]
    # The lobby socket goes through a route the test can cut, as a network failure would.
    routes: list[WebSocketRoute] = []

    def through(route: WebSocketRoute) -> None:
        route.connect_to_server()
        routes.append(route)

    eve.page.route_web_socket(re.compile(r"/ws/lobby/$"), through)
    sign_in(eve, base, "Eve")
    assert len(routes) == 1

    # An unexpected close: the client reconnects by itself and is welcomed again.
    routes[0].close(code=1011, reason="test: connection lost")
    eve.await_lobby("l.conn === 'reconnecting'", what="reconnecting")
    expect(eve.page.locator("#lobby-conn")).to_have_text("reconnecting\u2026")
    eve.await_lobby("l.conn === 'online' && l.me.n === 'Eve'", timeout=10, what="back online")
    assert len(routes) == 2
    expect(eve.page.locator("#lobby-screen")).to_be_visible()

    # 4429 (flood): the client does not come back by itself; a person can.
    routes[-1].close(code=4429, reason="test: flood")
    expect(eve.page.get_by_role("button", name="Reconnect")).to_be_visible()
    expect(eve.page.locator("#lobby-error")).to_contain_text("4429")
    eve.page.wait_for_timeout(1500)
    assert len(routes) == 2, "reconnected by itself after 4429"
    eve.page.get_by_role("button", name="Reconnect").click()
    eve.await_lobby("l.conn === 'online'", timeout=10, what="online again")
    expect(eve.page.get_by_role("button", name="Reconnect")).to_be_hidden()
    assert len(routes) == 3

    # A practice match still works when signed in, and leads back to the lobby.
    eve.page.locator("#practice-box summary").click()
    expect(eve.page.get_by_label("Your name")).to_have_value("Eve")
    eve.page.get_by_role("button", name="Create match").click()
    expect(eve.page.locator("#game-screen")).to_be_visible()
    expect(eve.page.locator("#invite-list li")).to_have_count(1)
    eve.wait("d.phase === 'waiting' && !d.lobbyMatch", what="the practice match waiting")
    eve.page.get_by_role("button", name="Back to lobby").click()
    expect(eve.page.locator("#lobby-screen")).to_be_visible()
    assert eve.page.url == base + "/"
    assert eve.view()["match"] is None

    # 4401 (the session is gone): no reconnect, back to sign-in with a word why.
    routes[-1].close(code=4401, reason="test: unauthenticated")
    expect(eve.page.locator("#start-screen")).to_be_visible()
    expect(eve.page.locator("#signin-notice")).to_contain_text("sign in again")
    eve.page.wait_for_timeout(1500)
    assert len(routes) == 3, "reconnected after 4401"
    assert eve.lobby()["conn"] == "offline"

    # Accounts: register, sign out, a wrong password, log in.
    eve.page.locator("#account-box summary").click()
    eve.page.get_by_label("Username", exact=True).fill("Frank")
    eve.page.get_by_label("Password", exact=True).fill("short")
    eve.page.get_by_role("button", name="Register").click()
    expect(eve.page.locator("#account-error")).to_have_attribute("data-code", "weak_password")
    eve.expect_http_error(400)
    eve.page.get_by_label("Password", exact=True).fill("correct-horse-42")
    eve.page.get_by_role("button", name="Register").click()
    expect(eve.page.locator("#lobby-screen")).to_be_visible()
    eve.await_lobby("l.conn === 'online' && l.me.n === 'Frank' && !l.me.guest", what="Frank's welcome")
    expect(eve.page.locator("#lobby-me")).not_to_contain_text("guest")
    eve.page.get_by_role("button", name="Sign out").click()
    expect(eve.page.locator("#start-screen")).to_be_visible()
    eve.page.get_by_label("Username", exact=True).fill("Frank")
    eve.page.get_by_label("Password", exact=True).fill("wrong-horse-42")
    eve.page.get_by_role("button", name="Log in").click()
    expect(eve.page.locator("#account-error")).to_have_attribute("data-code", "bad_credentials")
    eve.expect_http_error(400)
    eve.page.get_by_label("Password", exact=True).fill("correct-horse-42")
    eve.page.get_by_role("button", name="Log in").click()
    eve.await_lobby("l.conn === 'online' && l.me.n === 'Frank'", what="Frank back")
    eve.page.reload()  # the session holds across a reload
    eve.await_lobby("l.screen === 'lobby' && l.conn === 'online' && l.me.n === 'Frank'", what="reloaded")

    assert_clean(eve)
