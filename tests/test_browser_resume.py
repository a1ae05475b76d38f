"""Seat reconnection in a real browser: headless Chromium tabs play practice matches on the real
server that `make run` starts, some of them through a real TCP proxy (tests/proxy.py) whose
connections the test cuts like a failing network.

What is checked: a cut tab reconnects by itself with its seat's resume credential and gets the
same seat back in the same match (the others see it away meanwhile, then back); a reload of the
tab resumes the seat through session storage; an invite link opened again elsewhere while its
seat is held is refused (seat taken) and leaves the holder alone; a tab holding a copy of the
credential (a duplicated tab) takes the seat over and the old one is told, without the two
fighting; a seat away longer than the grace period is forfeited, shown so, and ends the match
when one side is left. Every wait is bounded, with generous ceilings: nothing here depends on
how fast the machine is.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Error, WebSocket, expect

from tests.e2e import READY, Process, database_url, get_json, server_env
from tests.proxy import CuttableProxy
from tests.test_browser import KEYS, VIEWPORT, WAIT_MS, Tab, position, room
from tests.test_browser_lobby import (
    browser,  # noqa: F401  (the module's headless Chromium)
    shot,
)

# The seat is kept this long after a drop in the tests that resume; the matches last longer than
# any of them, so none ends while a test watches (the forfeit test has its own server).
GRACE_SECONDS = 30
MATCH_SECONDS = 600
# Short enough to wait out in the forfeit test.
SHORT_GRACE_SECONDS = 3
LONG = 30.0  # seconds: the ceiling of a wait for something that should happen within a second or two


class ResumeTab(Tab):
    """A tab that also keeps the address of every WebSocket it opened."""

    def __post_init__(self) -> None:
        self.socket_urls: list[str] = []
        super().__post_init__()

    def _on_websocket(self, ws: WebSocket) -> None:
        self.socket_urls.append(ws.url)
        super()._on_websocket(ws)

    def wait(self, condition: str, arg: Any = None, timeout: float = LONG, what: str = "") -> None:
        """``Tab.wait`` with a generous ceiling by default."""
        super().wait(condition, arg=arg, timeout=timeout, what=what)

    def conn(self) -> dict[str, Any]:
        view = self.view()
        conn: dict[str, Any] = view["conn"]
        return conn

    def got(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m["t"] == kind]

    def error_codes(self) -> list[str]:
        return [m["code"] for m in self.got("error")]

    def resume_key(self, match_id: str) -> str | None:
        stored: str | None = self.page.evaluate(
            "(id) => sessionStorage.getItem(`arena:resume:${id}`)", match_id
        )
        return stored


class HoldableProxy(CuttableProxy):
    """``hold()`` cuts every connection and, until ``release()``, lets no new one through: each is
    closed as soon as it comes (the upstream is swapped for a port nobody listens on), so the
    browser's reconnect attempts fail the way they do while a network is down."""

    def __init__(self, upstream_port: int) -> None:
        super().__init__(upstream_port)
        self.live_upstream = self.upstream
        self.nowhere = socket.socket()
        self.nowhere.bind(("127.0.0.1", 0))  # bound and never listening: connections are refused

    def __enter__(self) -> HoldableProxy:
        super().__enter__()
        return self

    def hold(self) -> int:
        self.upstream = self.nowhere.getsockname()
        return self.cut()

    def release(self) -> None:
        self.upstream = self.live_upstream

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        super().__exit__(kind, exc, tb)
        self.nowhere.close()


def start_server(db_url: str, grace: int) -> Process:
    # ALLOWED_HOSTS is what both the page's CSRF check (Origin against Host, which the proxy
    # passes through unchanged) and the WebSocket origin check (AllowedHostsOriginValidator)
    # accept; neither compares ports, so the proxy's own port on 127.0.0.1 is accepted too.
    return Process(
        ["make", "-s", "run", "HOST=127.0.0.1", "PORT=0"],
        server_env(
            DATABASE_URL=db_url,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            MATCH_TIME_LIMIT=str(MATCH_SECONDS),
            MATCH_RECONNECT_GRACE=str(grace),
        ),
    )


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with database_url(tmp_path_factory.mktemp("resume-db")) as db_url:
        server = start_server(db_url, GRACE_SECONDS)
        try:
            yield server.wait_for(READY).group(1)
        finally:
            server.stop()


@pytest.fixture
def short_grace_url(tmp_path: Path) -> Iterator[str]:
    with database_url(tmp_path) as db_url:
        server = start_server(db_url, SHORT_GRACE_SECONDS)
        try:
            yield server.wait_for(READY).group(1)
        finally:
            server.stop()


@pytest.fixture
def open_tab(browser: Browser, tmp_path: Path) -> Iterator[Callable[..., ResumeTab]]:  # noqa: F811
    """``open_tab()``: a tab in a fresh browser context (its own cookies and storage, like another
    device); ``open_tab(next_to=tab)``: another tab in that tab's context. Screenshots of every
    tab at the end, failed or not."""
    contexts = []
    opened: list[ResumeTab] = []

    def open_one(next_to: ResumeTab | None = None) -> ResumeTab:
        if next_to is None:
            context = browser.new_context(viewport=VIEWPORT)
            context.set_default_timeout(WAIT_MS)
            contexts.append(context)
        else:
            context = next_to.page.context
        tab = ResumeTab(context.new_page())
        opened.append(tab)
        return tab

    try:
        yield open_one
    finally:
        for n, tab in enumerate(opened, 1):
            with contextlib.suppress(Error):
                tab.page.screenshot(path=tmp_path / f"end-tab{n}.png")
        for context in contexts:
            context.close()


def create_match(tab: ResumeTab, base: str, players: int) -> tuple[str, list[str]]:
    """Create a practice match on the start page as "Ann": its id and the other seats' links."""
    tab.page.goto(base + "/")
    expect(tab.page.locator("#start-screen")).to_be_visible()
    tab.page.get_by_label("Your name").fill("Ann")
    tab.page.get_by_label("Players").select_option(str(players))
    tab.page.get_by_role("button", name="Create match").click()
    expect(tab.page.locator("#game-screen")).to_be_visible()
    match_id = parse_qs(urlsplit(tab.page.url).query)["match"][0]
    urls = tab.page.locator("#invite-list .invite-url")
    expect(urls).to_have_count(players - 1)
    return match_id, [urls.nth(i).input_value() for i in range(players - 1)]


def through(proxy: CuttableProxy, url: str) -> str:
    """The same address, through the proxy."""
    return urlsplit(url)._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()


def wait_running(*tabs: ResumeTab) -> None:
    for tab in tabs:
        tab.wait("d.phase === 'running' && d.conn.live", timeout=LONG, what="the running match")


def scoreboard_row(tab: ResumeTab, seat: int) -> Any:
    return tab.page.locator(f"#scoreboard-body li[data-seat='{seat}']")


def frame_ticks(tab: ResumeTab) -> list[int]:
    return [m["tick"] for m in tab.got("frame")]


def assert_clean(*tabs: ResumeTab, allowed_errors: frozenset[str] = frozenset()) -> None:
    """No text frames, no refusals but the expected ones, no page errors. A reconnect attempt
    while the network is down makes Chromium log the failed WebSocket; that one is expected."""
    for tab in tabs:
        assert not [m for m in tab.received + tab.sent if m["t"].startswith("text")]
        errors = [code for code in tab.error_codes() if code not in allowed_errors]
        assert not errors, f"the server refused something: {errors}"
        problems = [p for p in tab.problems if not re.search(r"WebSocket connection to 'ws://\S+' failed", p)]
        assert problems == [], problems


@pytest.mark.timeout(180)
def walks_on(walker: Tab, watcher: Tab, seat: int) -> None:
    """Holding a key in the walker's tab walks its seat 60 units, as the watcher's tab sees it
    (the direction with the most room from where the seat stands)."""
    start = position(watcher.view(), seat)
    key = next(k for k in KEYS if room(start, k) >= 100)
    axis, sign = ("x", KEYS[key][0]) if KEYS[key][0] else ("y", KEYS[key][1])
    goal = start[0 if axis == "x" else 1] + sign * 60
    walker.page.keyboard.down(key)
    try:
        watcher.wait(
            f"seat({seat}).{axis} * arg[1] >= arg[0] * arg[1]",
            arg=[goal, sign],
            timeout=LONG,
            what=f"seat {seat} walking after the resume",
        )
    finally:
        walker.page.keyboard.up(key)


def test_a_cut_connection_reconnects_and_resumes_the_same_seat(base_url, open_tab):
    base = base_url
    ann, bob = open_tab(), open_tab()
    with HoldableProxy(urlsplit(base).port or 80) as proxy:
        match_id, [invite] = create_match(ann, base, 2)
        bob.page.goto(through(proxy, invite))
        wait_running(ann, bob)
        bob.wait("d.seat === 1 && d.conn.via === 'ticket' && d.conn.credential", what="bob on seat 1")
        assert bob.resume_key(match_id), "the seat's credential is kept for a reload"
        [seat] = bob.got("seat")
        assert (seat["seat"], seat["grace"]) == (1, GRACE_SECONDS)
        expect(bob.page.locator("#conn-banner")).to_be_hidden()
        bob.wait("d.tick > 0 && d.ack > 0", what="bob's inputs taken")
        before = bob.view()

        # The network fails: every connection through the proxy is reset, and reconnecting
        # fails until it is back.
        assert proxy.hold() >= 1
        bob.wait("d.conn.reconnecting && d.conn.attempts >= 2", timeout=LONG, what="bob retrying")
        banner = bob.page.locator("#conn-banner")
        expect(banner).to_be_visible()
        expect(banner).to_have_attribute("data-kind", "reconnecting")
        expect(banner).to_contain_text("reconnecting")
        expect(banner).to_contain_text(re.compile(r"Attempt \d+, .*\d+ s left to get back before your seat"))
        shot(bob.page, "resume-reconnecting.png")
        expect(bob.page.locator("#fatal-overlay")).to_be_hidden()

        # Ann sees Player 2 away, with the time left before the seat forfeits; her match goes on.
        ann.wait("d.away.some((a) => a.seat === 1) && !d.present.includes(1)", timeout=LONG, what="bob away")
        expect(scoreboard_row(ann, 1)).to_contain_text(
            re.compile(r"disconnected \u2014 back within \d+s or forfeits")
        )
        expect(scoreboard_row(ann, 1)).to_have_class(re.compile(r"\baway\b"))
        expect(ann.page.locator("#kill-feed")).to_contain_text("Player 2 disconnected")
        shot(ann.page, "resume-other-away.png")
        [away] = ann.view()["away"]
        assert 0 < away["seconds"] <= GRACE_SECONDS, away
        ann.wait("d.tick > arg", arg=ann.view()["tick"] + 10, what="ann's match going on")

        # The network is back: bob's tab gets in again by itself, on the same seat of the same match.
        proxy.release()
        bob.wait("d.conn.live && d.conn.resumed === 1", timeout=LONG, what="bob resumed")
        after = bob.view()
        assert (after["match"], after["seat"]) == (match_id, 1)
        assert after["conn"]["via"] == "resume"
        assert after["tick"] > before["tick"], "a match that restarted would count from 0 again"
        seats = bob.got("seat")
        assert [s["seat"] for s in seats] == [1, 1]
        assert seats[1]["resume"] == seats[0]["resume"]
        queries = [parse_qs(urlsplit(url).query) for url in bob.socket_urls]
        assert set(queries[0]) == {"ticket"}, "the first connection claims the seat with the ticket"
        assert all(q == {"resume": [seats[0]["resume"]]} for q in queries[1:]), bob.socket_urls
        assert len(queries) >= 3, "at least one attempt failed while the network was down"
        expect(bob.page.locator("#hud-conn")).to_have_text("connected")
        expect(bob.page.locator("#hud-seat")).to_have_text("2 (Player 2)")
        expect(banner).not_to_have_attribute("data-kind", "reconnecting")
        expect(banner).to_be_hidden(timeout=LONG * 1000)  # the "resumed" notice is short

        # Its frames advance again and the server takes its input on seat 1 again.
        ann.wait("d.present.includes(1) && d.away.length === 0", timeout=LONG, what="bob back, for ann")
        expect(ann.page.locator("#kill-feed")).to_contain_text("Player 2 is back")
        expect(scoreboard_row(ann, 1)).not_to_contain_text("disconnected")
        bob.wait("d.tick > arg", arg=after["tick"] + 20, timeout=LONG, what="bob's frames advancing")
        bob.wait("d.ack > arg", arg=before["ack"], timeout=LONG, what="bob's inputs taken again")

        # And it plays: holding a key in bob's tab walks Player 2, as ann sees it.
        walks_on(bob, ann, 1)

        # One match all along: ann's frames never went back, and it is still running.
        ticks = frame_ticks(ann)
        assert ticks == sorted(ticks)
        assert len(set(ticks)) == len(ticks)
        assert get_json(f"{base}/api/matches/{match_id}/")["status"] == "running"
        assert_clean(ann, bob)


@pytest.mark.timeout(120)
def test_a_reload_resumes_the_seat_from_session_storage(base_url, open_tab):
    base = base_url
    ann, bob = open_tab(), open_tab()
    match_id, [invite] = create_match(ann, base, 2)
    bob.page.goto(invite)
    wait_running(ann, bob)
    bob.wait("d.seat === 1 && d.conn.credential", what="bob's credential")
    credential = json.loads(bob.resume_key(match_id) or "{}")
    assert credential["seat"] == 1
    assert credential["resume"]
    tick = bob.view()["tick"]

    bob.page.reload()
    bob.wait("d.phase === 'running' && d.conn.live", timeout=LONG, what="bob back after the reload")
    view = bob.view()
    assert (view["match"], view["seat"], view["conn"]["via"], view["conn"]["resumed"]) == (
        match_id,
        1,
        "resume",
        1,
    )
    assert view["tick"] > tick, "the same match, further on"
    assert "?resume=" in bob.socket_urls[-1]
    expect(bob.page.locator("#hud-seat")).to_have_text("2 (Player 2)")
    expect(bob.page.locator("#fatal-overlay")).to_be_hidden()
    bob.wait("d.tick > arg", arg=view["tick"] + 20, timeout=LONG, what="bob's frames advancing")
    ann.wait("d.present.includes(1) && d.away.length === 0", timeout=LONG, what="bob present for ann")

    # The creator's tab too: its seat, and its invite list, survive a reload.
    ann.page.reload()
    ann.wait("d.phase === 'running' && d.conn.live && d.conn.resumed === 1", timeout=LONG, what="ann back")
    assert (ann.view()["seat"], ann.conn()["via"]) == (0, "resume")
    expect(ann.page.locator("#invite-list li")).to_have_count(1)
    assert "seat_taken" not in bob.error_codes() + ann.error_codes()
    assert_clean(ann, bob)


@pytest.mark.timeout(120)
def test_an_invite_opened_elsewhere_is_refused_and_a_duplicated_tab_takes_over_without_a_fight(
    base_url, open_tab
):
    base = base_url
    ann, bob = open_tab(), open_tab()
    match_id, [invite] = create_match(ann, base, 2)
    bob.page.goto(invite)
    wait_running(ann, bob)
    bob.wait("d.seat === 1", what="bob on seat 1")

    # The same invite link on another device (a fresh browser context): the seat is taken.
    eve = open_tab()
    eve.page.goto(invite)
    expect(eve.page.locator("#fatal-overlay")).to_be_visible(timeout=LONG * 1000)
    expect(eve.page.locator("#fatal-title")).to_have_text("Seat taken")
    shot(eve.page, "resume-seat-taken.png")
    expect(eve.page.locator("#fatal-message")).to_contain_text("open in another tab or on another device")
    expect(eve.page.locator("#retry-button")).to_be_hidden()
    expect(eve.page.locator("#fatal-overlay .new-match")).to_be_visible()  # the way back
    assert eve.conn()["final"] == "seat_taken"
    # One socket, or two when a slow first handshake (a fresh browser context under load) met
    # the client's 10 s connect watchdog, which rightly tried again: either way only seat_taken.
    assert set(eve.error_codes()) == {"seat_taken"}
    final_sockets = eve.conn()["sockets"]
    assert 1 <= len(eve.error_codes()) <= final_sockets <= 2
    assert not eve.got("seat")
    assert not eve.got("snapshot")

    # The holder is not disturbed: the same socket, its frames going on, still present for ann.
    tick = bob.view()["tick"]
    bob.wait("d.tick > arg", arg=tick + 40, timeout=LONG, what="bob's frames going on")
    assert bob.conn()["sockets"] == 1
    assert bob.conn()["live"]
    assert ann.view()["present"] == [0, 1]
    assert ann.view()["away"] == []
    assert eve.conn()["sockets"] == final_sockets, "a taken seat is final: no retries after it"

    # A duplicated tab (one that has a copy of bob's session storage) takes the seat over; bob's
    # tab is told and does not take it back by itself.
    stored = bob.resume_key(match_id)
    carol = open_tab(next_to=bob)
    carol.page.goto(base + "/")
    carol.page.evaluate(
        "([key, value]) => sessionStorage.setItem(key, value)", [f"arena:resume:{match_id}", stored]
    )
    carol.page.goto(invite)
    wait_running(carol)
    assert (carol.view()["seat"], carol.conn()["via"]) == (1, "resume")
    expect(bob.page.locator("#fatal-overlay")).to_be_visible(timeout=LONG * 1000)
    expect(bob.page.locator("#fatal-title")).to_have_text("Playing in another tab")
    shot(bob.page, "resume-replaced.png")
    assert bob.conn()["final"] == "replaced"
    retry = bob.page.get_by_role("button", name="Play here instead")
    expect(retry).to_be_visible()
    tick = carol.view()["tick"]
    carol.wait("d.tick > arg", arg=tick + 40, timeout=LONG, what="carol playing on")
    assert bob.conn()["sockets"] == 1
    assert carol.conn()["live"]

    # Asked to, bob's tab takes the seat back, and now carol's is the one told.
    retry.click()
    bob.wait("d.conn.live && d.seat === 1 && d.conn.resumed === 1", timeout=LONG, what="bob back on the seat")
    expect(carol.page.locator("#fatal-title")).to_have_text("Playing in another tab", timeout=LONG * 1000)
    bob.wait("d.tick > arg", arg=bob.view()["tick"] + 20, timeout=LONG, what="bob's frames advancing")
    assert get_json(f"{base}/api/matches/{match_id}/")["status"] == "running"
    assert_clean(ann)
    assert_clean(bob, carol, allowed_errors=frozenset({"replaced"}))
    assert_clean(eve, allowed_errors=frozenset({"seat_taken"}))


def retry_if_given_up(tab: ResumeTab) -> None:
    """Wait until the tab is back, or has given up (its window since the drop is over): then
    press its "Try again"."""
    tab.wait("d.conn.live || d.conn.final !== null", timeout=LONG, what="back, or given up")
    if tab.conn()["final"] == "lost":
        tab.page.get_by_role("button", name="Try again").click()


@pytest.mark.timeout(180)
def test_a_seat_away_past_the_grace_forfeits_and_the_last_side_left_wins(short_grace_url, open_tab):
    base = short_grace_url
    ann, bob, cid = open_tab(), open_tab(), open_tab()
    port = urlsplit(base).port or 80
    with HoldableProxy(port) as bob_net, HoldableProxy(port) as cid_net:
        match_id, invites = create_match(ann, base, 3)
        bob.page.goto(through(bob_net, invites[0]))
        cid.page.goto(through(cid_net, invites[1]))
        wait_running(ann, bob, cid)
        assert [tab.view()["seat"] for tab in (ann, bob, cid)] == [0, 1, 2]

        # Bob's network dies: away, then (after the grace period) forfeited; two sides are left,
        # so the match goes on.
        bob_net.hold()
        ann.wait("d.away.some((a) => a.seat === 1)", timeout=LONG, what="bob away")
        ann.wait("seat(1).ff === true", timeout=LONG, what="bob forfeited")
        row = scoreboard_row(ann, 1)
        expect(row).to_have_class(re.compile(r"\bforfeited\b"))
        expect(row).to_contain_text("forfeited")
        expect(ann.page.locator("#kill-feed")).to_contain_text("Player 2 forfeited")
        shot(ann.page, "resume-other-forfeited.png")
        assert ["forfeit", 1] in ann.events("forfeit")
        assert ann.view()["phase"] == "running"
        assert ann.view()["away"] == []

        # Back online, bob's tab resumes the seat it forfeited, and watches.
        bob_net.release()
        retry_if_given_up(bob)
        bob.wait("d.conn.live && d.seat === 1 && seat(1).ff === true", timeout=LONG, what="bob watching")
        expect(bob.page.locator("#conn-banner")).to_have_attribute(
            "data-kind", "watching", timeout=LONG * 1000
        )
        expect(bob.page.locator("#conn-banner")).to_contain_text("you are watching")
        shot(bob.page, "resume-watching.png")
        bob.wait("d.tick > arg", arg=bob.view()["tick"] + 20, timeout=LONG, what="bob's frames advancing")

        # Cid's network dies too: when its seat forfeits only ann is left, and she wins.
        cid_net.hold()
        ann.wait("d.away.some((a) => a.seat === 2)", timeout=LONG, what="cid away")
        for tab in (ann, bob):
            expect(tab.page.locator("#results-overlay")).to_be_visible(timeout=LONG * 1000)
            rows = tab.page.locator("#results-body tr")
            expect(rows).to_have_count(3)
            expect(rows.nth(0)).to_contain_text("Ann")
            for n in (1, 2):
                expect(rows.nth(n)).to_have_class(re.compile(r"\bforfeited\b"))
                expect(rows.nth(n)).to_contain_text("forfeited")
        expect(ann.page.locator("#results-reason")).to_have_text("Player 2 and Player 3 forfeited.")
        shot(ann.page, "resume-forfeit-results.png")
        expect(bob.page.locator("#results-reason")).to_have_text("You and Player 3 forfeited.")
        [end] = ann.got("end")
        result = end["result"]
        assert result["reason"] == "forfeit"
        assert [(r["s"], r.get("ff", False)) for r in result["ranking"]] == [(0, False), (1, True), (2, True)]
        assert bob.got("end")[0]["result"] == result
        assert bob.resume_key(match_id) is None, "a finished match's credential is forgotten"

        # Cid's tab gives up once its window since the drop is over (it says so, and offers to
        # try again); back online, trying again finds the match over and shows its result.
        cid.wait("d.conn.final === 'lost'", timeout=LONG, what="cid giving up")
        expect(cid.page.locator("#fatal-title")).to_have_text("Connection lost")
        expect(cid.page.locator("#fatal-message")).to_contain_text("may have been forfeited")
        shot(cid.page, "resume-gave-up.png")
        cid_net.release()
        cid.page.get_by_role("button", name="Try again").click()
        cid.wait(
            "d.phase === 'over' && d.conn.final === 'match_over'", timeout=LONG, what="cid seeing the end"
        )
        expect(cid.page.locator("#results-overlay")).to_be_visible()
        expect(cid.page.locator("#results-reason")).to_have_text("Player 2 and you forfeited.")
        shot(cid.page, "resume-over-meanwhile.png")
        expect(cid.page.locator("#results-body tr.me")).to_contain_text("Player 3 (you)")
        assert cid.error_codes()[-1] == "match_over"
        assert cid.resume_key(match_id) is None
        assert get_json(f"{base}/api/matches/{match_id}/")["result"] == result
        assert_clean(ann, bob)
        assert_clean(cid, allowed_errors=frozenset({"match_over"}))
