"""What a browser player gets: bytes per second received, render frame rate, and the prediction
error of the own avatar over a slow link, measured in real headless Chromium tabs.

Starts what `make run` starts (one process, SQLite, in-memory layer) on a free port, creates a
practice match over HTTP and opens one tab per seat (each its own browser context) at the seat's
link. Every tab walks a pattern with the keyboard and fires, so frames carry real movement.
Scenarios: a duel and an 8-player match (one tab and seven bots, then eight tabs on this one
machine) over a direct link, then a duel through a proxy that
delays each direction by ``--one-way-ms`` (75: 150 ms added to the round trip). Per scenario it
prints, over ``--seconds`` of the running match:

- bytes/s received per tab (the WebSocket payloads, as Playwright reports them);
- the render frame rate per tab (frames the client drew per second, from ``arenaDebug().fps``,
  else counted with requestAnimationFrame);
- on the slow link: the prediction error (px) of each tab's own avatar, sampled every 100 ms from
  ``arenaDebug().predictionErrorPx``, and the round trip the client measured.

    python -m load_tests.bench_browser --seconds 20
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, WebSocket, sync_playwright

from tests.e2e import READY, Process, create_match, play, server_env
from tests.proxy import CuttableProxy

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
# Each tab's walk: keys held in turn (WASD), so every tab keeps moving and turning.
WALK = [["KeyD"], ["KeyD", "KeyS"], ["KeyS"], ["KeyA"], ["KeyA", "KeyW"], ["KeyW"]]


@dataclass
class Seat:
    page: Page
    received: int = 0
    frames: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, payload: bytes | str) -> None:
        with self.lock:
            self.received += len(payload)
            self.frames += 1

    def on_websocket(self, ws: WebSocket) -> None:
        ws.on("framereceived", self.count)

    def view(self) -> dict[str, Any]:
        view: dict[str, Any] = self.page.evaluate("window.arenaDebug()")
        return view


def open_seats(browser: Browser, urls: list[str]) -> list[Seat]:
    seats = []
    for url in urls:
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        seat = Seat(page)
        page.on("websocket", seat.on_websocket)
        page.goto(url)
        seats.append(seat)
    for seat in seats:
        seat.page.wait_for_function(
            "() => { const d = window.arenaDebug && window.arenaDebug();"
            " return d && d.phase === 'running' && d.conn.live; }",
            timeout=60_000,
            polling=100,
        )
    return seats


def walk(seats: list[Seat], step: int) -> None:
    """Release the last step's keys and hold the next ones; fire now and then."""
    for n, seat in enumerate(seats):
        keyboard = seat.page.keyboard
        for key in WALK[(step + n - 1) % len(WALK)]:
            keyboard.up(key)
        for key in WALK[(step + n) % len(WALK)]:
            keyboard.down(key)
        if step % 3 == n % 3:
            keyboard.press("Space")


def render_fps(seat: Seat) -> float:
    view = seat.view()
    if isinstance(view.get("fps"), int | float) and view["fps"] > 0:
        return float(view["fps"])
    counted: float = seat.page.evaluate(
        """() => new Promise((done) => {
            let n = 0; const t0 = performance.now();
            const f = () => { n += 1; if (performance.now() - t0 < 2000) requestAnimationFrame(f);
                              else done(n / ((performance.now() - t0) / 1000)); };
            requestAnimationFrame(f); })"""
    )
    return counted


def measure(
    browser: Browser, base: str, link_base: str, players: int, seconds: float, tabs: int | None = None
) -> dict[str, Any]:
    """``tabs``: how many seats are browser tabs (all by default); the rest are bots (real
    WebSocket clients that strafe and fire, tests.e2e.play), so one machine can host the match
    without eight renderers competing for its cores."""
    created = create_match(base, players=players, time_limit=int(seconds) + 120)
    match_id = created["id"]
    tickets = created["tickets"][: tabs or players]
    urls = [f"{link_base}/?match={match_id}&ticket={t['ticket']}" for t in tickets]
    deadline = time.monotonic() + seconds + 90
    bots = [
        threading.Thread(target=play, args=(base, match_id, t["ticket"], t["seat"], deadline), daemon=True)
        for t in created["tickets"][len(tickets) :]
    ]
    for bot in bots:
        bot.start()
    seats = open_seats(browser, urls)
    errors: list[float] = []
    rtts: list[float] = []
    try:
        for seat in seats:
            seat.page.bring_to_front()
        for seat in seats:
            with seat.lock:
                seat.received = seat.frames = 0
        started = time.monotonic()
        step = 0
        next_step = started
        while (now := time.monotonic()) - started < seconds:
            if now >= next_step:
                walk(seats, step)
                step += 1
                next_step = now + 0.6
            for seat in seats[:2]:
                view = seat.view()
                if isinstance(view.get("predictionErrorPx"), int | float):
                    errors.append(float(view["predictionErrorPx"]))
                rtt = view.get("rttMs")
                if isinstance(rtt, int | float):
                    rtts.append(float(rtt))
            time.sleep(0.1)
        elapsed = time.monotonic() - started
        rates = [seat.received / elapsed for seat in seats]
        frame_rates = [seat.frames / elapsed for seat in seats]
        fps = [render_fps(seat) for seat in seats]
    finally:
        for seat in seats:
            seat.page.context.close()
    return {
        "players": players,
        "tabs": len(seats),
        "bytes_per_s": rates,
        "messages_per_s": frame_rates,
        "fps": fps,
        "prediction_error_px": errors,
        "rtt_ms": rtts,
    }


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def report(name: str, result: dict[str, Any]) -> None:
    rates = result["bytes_per_s"]
    print(f"\n{name} ({result['players']} players, {result['tabs']} of them browser tabs)")
    print(
        f"  received per tab: median {statistics.median(rates):,.0f} B/s"
        f" (min {min(rates):,.0f}, max {max(rates):,.0f}),"
        f" {statistics.median(result['messages_per_s']):.1f} messages/s"
    )
    fps = result["fps"]
    print(f"  render frame rate: median {statistics.median(fps):.1f} fps (min {min(fps):.1f})")
    errors = result["prediction_error_px"]
    if errors:
        print(
            f"  prediction error: median {statistics.median(errors):.2f} px,"
            f" p95 {quantile(errors, 0.95):.2f},"
            f" max {max(errors):.2f} ({len(errors)} samples)"
        )
    if result["rtt_ms"]:
        print(f"  client round trip: median {statistics.median(result['rtt_ms']):.0f} ms")


@contextlib.contextmanager
def server() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.sqlite3"
        proc = Process(
            ["make", "-s", "run", "HOST=127.0.0.1", "PORT=0"],
            server_env(DATABASE_URL=f"sqlite:///{db}", LOG_LEVEL="ERROR"),
        )
        try:
            yield proc.wait_for(READY).group(1)
        finally:
            proc.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time per scenario")
    parser.add_argument("--one-way-ms", type=float, default=75.0, help="delay per direction on the slow link")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing (make test installs Debian's chromium)", file=sys.stderr)
        return 2
    with server() as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            port = int(base.rsplit(":", 1)[1])
            report("duel, direct", measure(browser, base, base, 2, args.seconds))
            report(
                "8 players, direct, 1 tab and 7 bots", measure(browser, base, base, 8, args.seconds, tabs=1)
            )
            report("8 players, direct, all tabs", measure(browser, base, base, 8, args.seconds))
            with CuttableProxy(port, one_way_ms=args.one_way_ms) as proxy:
                slow = f"http://127.0.0.1:{proxy.port}"
                report(
                    f"duel, {2 * args.one_way_ms:.0f} ms added round trip",
                    measure(browser, base, slow, 2, args.seconds),
                )
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
