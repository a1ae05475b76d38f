"""The fault-test proxy itself: a delayed link keeps every byte in order and really delays it
(tests of client-side prediction stand on that)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

from tests.proxy import CuttableProxy


def echo_server() -> tuple[socket.socket, int]:
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(65536):
                    conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    return listener, listener.getsockname()[1]


@contextlib.contextmanager
def proxied(one_way_ms: int) -> Iterator[tuple[CuttableProxy, socket.socket]]:
    """A client connected through a delaying proxy to an echo server; all closed afterwards."""
    listener, port = echo_server()
    try:
        with (
            CuttableProxy(port, one_way_ms=one_way_ms) as proxy,
            socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as client,
        ):
            yield proxy, client
    finally:
        listener.close()


def read_exactly(sock: socket.socket, size: int) -> bytes:
    out = b""
    while len(out) < size:
        chunk = sock.recv(size - len(out))
        assert chunk, "the proxy closed the connection"
        out += chunk
    return out


def test_a_delayed_link_delays_both_ways_and_keeps_the_bytes_in_order():
    with proxied(one_way_ms=100) as (proxy, client):
        payload = bytes(range(256)) * 400  # 100 KiB in many chunks
        started = time.monotonic()
        client.sendall(b"ping")
        assert read_exactly(client, 4) == b"ping"
        round_trip = time.monotonic() - started
        # A lower bound only: a busy machine makes it longer, never shorter.
        assert round_trip >= 0.2
        sender = threading.Thread(target=client.sendall, args=(payload,))
        sender.start()
        assert read_exactly(client, len(payload)) == payload
        sender.join(30)
        assert proxy.accepted == 1


def test_a_delayed_link_is_still_cut_at_once():
    with proxied(one_way_ms=50) as (proxy, client):
        client.sendall(b"x")
        assert read_exactly(client, 1) == b"x"
        assert proxy.cut() == 1
        # The cut reaches the client as an end of stream or a reset, never as more data.
        with contextlib.suppress(ConnectionResetError):
            assert client.recv(1) == b""


def test_a_held_downstream_keeps_what_the_server_sends_until_released():
    with proxied(one_way_ms=20) as (proxy, client):
        client.sendall(b"a")
        assert read_exactly(client, 1) == b"a"
        proxy.hold_downstream()
        client.sendall(b"bc")  # reaches the echo server; its answer is held
        client.settimeout(0.5)
        with contextlib.suppress(TimeoutError):
            assert client.recv(1) == b"", "nothing may arrive while held"
        proxy.release_downstream()
        client.settimeout(30)
        assert read_exactly(client, 2) == b"bc"
