"""Overload provoked for real (docs/protocol.md 4.5): a server whose channel layer holds one
message per channel (``CHANNEL_LAYER_CAPACITY=1``) with four matches at once, so frames on their
way to the relay and input batches on their way to the tick worker are refused (ChannelFull)
as they pile up. The players see what the protocol says overload does: frames skipped, then a
snapshot to go on from, never a gap without one; inputs lost, never the socket; every match
ends with its result and close 1000."""

from __future__ import annotations

import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import pytest
import websocket

from tests.e2e import create_match, database_url, served, server_env

MATCHES = 4
MATCH_SECONDS = 8
WITHIN = 90.0  # generous ceiling for a whole match on a loaded machine


@dataclass
class Seen:
    """One player's view: ("snapshot" | "frame", tick) in order, the end, the close."""

    stream: list[tuple[str, int]] = field(default_factory=list)
    ends: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    close_code: int | None = None


@pytest.fixture
def base(tmp_path: Path) -> Iterator[str]:
    with database_url(tmp_path) as db_url:
        env = server_env(DATABASE_URL=db_url, CHANNEL_LAYER_CAPACITY="1", MATCH_TIME_LIMIT=str(MATCH_SECONDS))
        with served(env) as (_, url):
            yield url


def play(base: str, match_id: str, ticket: str, seen: Seen) -> None:
    url = base.replace("http://", "ws://") + f"/ws/match/{match_id}/?ticket={ticket}"
    sock = websocket.create_connection(url, timeout=30, origin=base)
    seq = 0
    deadline = time.monotonic() + WITHIN
    try:
        while time.monotonic() < deadline:
            opcode, data = sock.recv_data()
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                seen.close_code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                return
            message = msgpack.unpackb(data)
            kind = message["t"]
            if kind in ("snapshot", "frame"):
                seen.stream.append((kind, message["tick"]))
            if kind == "frame" and message["tick"] % 2 == 0:  # inputs at 10 Hz
                seq += 1
                controls = {"mx": 1 if seq % 40 < 20 else -1, "my": 0, "aim": seq % 4096, "fire": True}
                sock.send_binary(msgpack.packb({"t": "input", "seq": seq, **controls}))
            elif kind == "end":
                seen.ends.append(message)
            elif kind == "error":
                seen.errors.append(message["code"])
    finally:
        sock.shutdown()


def gaps_without_a_snapshot(stream: list[tuple[str, int]]) -> list[tuple[int, int]]:
    """Frames whose tick is not the previous one + 1 with no snapshot between them."""
    gaps, last = [], None
    for kind, tick in stream:
        if kind == "frame" and last is not None and tick != last + 1:
            gaps.append((last, tick))
        last = tick
    return gaps


def counter(base: str, name: str, **labels: str) -> float:
    text = urllib.request.urlopen(base + "/metrics", timeout=30).read().decode()
    total = 0.0
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if match and all(f'{k}="{v}"' in (match.group(1) or "") for k, v in labels.items()):
            total += float(match.group(2))
    return total


def test_under_overload_frames_are_skipped_then_resynced_and_no_socket_is_closed(base: str) -> None:
    created = [create_match(base, players=2, time_limit=MATCH_SECONDS) for _ in range(MATCHES)]
    seen: dict[tuple[int, int], Seen] = {}
    threads = []
    for m, match in enumerate(created):
        for ticket in match["tickets"]:
            view = seen[(m, ticket["seat"])] = Seen()
            threads.append(
                threading.Thread(target=play, args=(base, match["id"], ticket["ticket"], view), daemon=True)
            )
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WITHIN + 10)
    assert not any(thread.is_alive() for thread in threads), "a player never saw the end"

    refused = counter(base, "gameserver_layer_errors_total", error="ChannelFull")
    assert refused > 0, "the layer never refused a message: this was not overload"
    for key, view in seen.items():
        assert view.close_code == 1000, (key, view.close_code, view.errors)
        assert not view.errors, (key, view.errors)
        assert len(view.ends) == 1, key
        assert view.ends[0]["result"]["reason"] != "aborted", key
        assert view.stream[0][0] == "snapshot", key
        assert not gaps_without_a_snapshot(view.stream), (key, gaps_without_a_snapshot(view.stream))
    print(  # what this run's overload was (pytest -s)
        f"ChannelFull refusals: {refused:.0f}, resyncs: {counter(base, 'gameserver_frame_resyncs_total'):.0f}"
    )
