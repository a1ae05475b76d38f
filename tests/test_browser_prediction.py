"""Client-side prediction against the real server over a slow link: Bob's tab reaches the
server (`make run`) through a real TCP proxy that delays each direction by 75 ms (150 ms added
to the round trip), Ann's directly.

Pressing a key moves Bob's own avatar within the next animation frames, before the server has
acknowledged anything (the proxy holds the server's bytes while the key goes down, so no
machine is too slow for that ordering); the acknowledgement arrives later and the server's
position follows; once he lets go, the position his client predicted and the server's agree,
and Ann sees him there. Everything is read from the page (``window.arenaDebug()``:
``predicted``, ``server``, ``seq``, ``ack``, ``rttMs``). Waits are bounded with generous
ceilings.
"""

from __future__ import annotations

import math
from urllib.parse import urlsplit

import pytest

from tests.proxy import CuttableProxy
from tests.test_browser import KEYS, position, room
from tests.test_browser_lobby import browser  # noqa: F401  (the module's headless Chromium)
from tests.test_browser_resume import LONG, assert_clean, create_match, open_tab, through, wait_running  # noqa: F401
from tests.test_browser_shell import base_url  # noqa: F401  (the real server, for this module)

ONE_WAY_MS = 75

# In the page, right after the key went down: the view now, and after two animation frames.
AFTER_TWO_FRAMES = """() => new Promise((done) => {
    const before = window.arenaDebug();
    requestAnimationFrame(() => requestAnimationFrame(() => done([before, window.arenaDebug()])));
})"""


def distance(a: dict[str, float], b: dict[str, float]) -> float:
    return math.hypot(a["x"] - b["x"], a["y"] - b["y"])


@pytest.mark.timeout(180)
def test_a_key_moves_the_own_avatar_at_once_over_a_slow_link_and_prediction_meets_the_server(
    base_url,  # noqa: F811
    open_tab,  # noqa: F811
):
    base = base_url
    ann, bob = open_tab(), open_tab()
    with CuttableProxy(urlsplit(base).port or 80, one_way_ms=ONE_WAY_MS) as proxy:
        _match_id, [invite] = create_match(ann, base, 2)
        bob.page.goto(through(proxy, invite))
        wait_running(ann, bob)
        bob.wait("d.seat === 1 && d.predicting && d.server && d.predicted", what="bob predicting")
        # The link is slow for real: the shell's own pings see the added round trip.
        bob.wait("d.rttMs >= arg", arg=2 * ONE_WAY_MS, timeout=LONG, what="bob's round trip over 150 ms")

        start = position(bob.view(), 1)
        key = next(k for k in KEYS if room(start, k) >= 200)
        dx, dy = KEYS[key]
        # While the key goes down nothing the server sends from now on reaches Bob (the proxy holds
        # it), so whatever his avatar does on the next frames is his client's own prediction: no
        # answer to the key's input can have come, however slow the machine.
        proxy.hold_downstream()
        try:
            rest = bob.view()
            bob.page.keyboard.down(key)
            before, after = bob.page.evaluate(AFTER_TWO_FRAMES)
        finally:
            proxy.release_downstream()
        try:
            assert after["seq"] > rest["seq"], "the key sent an input"
            # Frames already past the proxy when it began holding may still land, but no answer
            # to an input sent after that (the key's among them) can.
            assert after["ack"] <= rest["seq"], "an input sent after the hold was acknowledged"
            assert after["server"] == rest["server"], (
                "Bob stood still before the key: the server has him there"
            )
            step = (
                after["predicted"]["x"] - rest["predicted"]["x"],
                after["predicted"]["y"] - rest["predicted"]["y"],
            )
            assert step[0] * dx + step[1] * dy > 0, f"the avatar moved the key's way ({key}) at once: {step}"
            assert before["predicted"] is not None
            # The acknowledgement comes later, and the server's position follows the prediction.
            bob.wait(
                "d.ack >= arg",
                arg=after["seq"],
                timeout=LONG,
                what="the server acknowledging the key's input",
            )
            bob.wait(
                "(d.server.x - arg[0]) * arg[2] + (d.server.y - arg[1]) * arg[3] > 0",
                arg=[rest["server"]["x"], rest["server"]["y"], dx, dy],
                timeout=LONG,
                what="the server's position moving the key's way",
            )
        finally:
            bob.page.keyboard.up(key)

        # Standing still, every input acknowledged: predicted and server positions are one.
        bob.wait("d.ack === d.seq", timeout=LONG, what="every input acknowledged")
        bob.wait(
            "Math.hypot(d.predicted.x - d.server.x, d.predicted.y - d.server.y) < 0.5",
            timeout=LONG,
            what="prediction meeting the server",
        )
        settled = bob.view()
        assert distance(settled["server"], {"x": start[0], "y": start[1]}) > 10, (
            "the walk really went somewhere"
        )
        # Ann, on a direct link, sees Bob where his own client says he is.
        ann.wait(
            "Math.hypot(seat(1).x - arg[0], seat(1).y - arg[1]) < 0.5",
            arg=[settled["server"]["x"], settled["server"]["y"]],
            timeout=LONG,
            what="Ann seeing Bob where he stopped",
        )
        assert proxy.accepted >= 1
    assert_clean(ann, bob)
