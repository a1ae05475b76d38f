"""A real TCP proxy for fault tests: clients connect through it, and ``cut()`` drops every
connection it carries at once (both sides see a reset, as when a network path dies), while
new connections keep working. ``one_way_ms`` delays every byte by that much in each direction
(a long link: the round trip grows by twice it), in order; on such a link ``hold_downstream()``
keeps everything the server sends queued (the client hears nothing, its own bytes still go)
until ``release_downstream()``. Threads, so it serves a browser or a
subprocess as well as an in-process client."""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from collections.abc import Iterator
from types import TracebackType


class CuttableProxy:
    """``with CuttableProxy(upstream_port) as proxy:`` then connect to ``proxy.port``."""

    def __init__(
        self, upstream_port: int, upstream_host: str = "127.0.0.1", *, one_way_ms: float = 0
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.delay = one_way_ms / 1000
        self.downstream = threading.Event()  # set: bytes toward the client flow
        self.downstream.set()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.accepted = 0
        self.cuts = 0
        self.closed = False
        self.thread = threading.Thread(target=self._accept, name="proxy-accept", daemon=True)

    def __enter__(self) -> CuttableProxy:
        self.thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.closed = True
        self.listener.close()
        self.downstream.set()  # no writer stays parked on a hold
        self.cut()

    @property
    def open_connections(self) -> int:
        with self.lock:
            return len(self.pairs)

    def cut(self) -> int:
        """Drop every connection now (RST to both ends); returns how many were cut."""
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for sock in pair:
                with contextlib.suppress(OSError):
                    # SO_LINGER 0: close sends a reset, not a polite FIN the peer could wait on.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                with contextlib.suppress(OSError):
                    # A pump thread blocked reading this socket holds it open past close(): an
                    # idle connection would stay half-open. shutdown() wakes it and ends the
                    # connection now, whether or not data is crossing.
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()
        self.cuts += len(pairs)
        return len(pairs)

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _address = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self.lock:
                self.pairs.append((client, server))
                self.accepted += 1
            for src, dst, toward_client in ((client, server, False), (server, client, True)):
                threading.Thread(target=self._pump, args=(src, dst, toward_client), daemon=True).start()

    def hold_downstream(self) -> None:
        """Queue what the server sends (a delayed link only), as a stalled path would."""
        assert self.delay > 0, "holding needs a delayed link (one_way_ms > 0)"
        self.downstream.clear()

    def release_downstream(self) -> None:
        self.downstream.set()

    def _pump(self, src: socket.socket, dst: socket.socket, toward_client: bool) -> None:
        if self.delay > 0:
            self._pump_delayed(src, dst, toward_client)
            return
        for chunk in self._chunks(src):
            try:
                dst.sendall(chunk)
            except OSError:
                break
        self._forget(src, dst)

    def _pump_delayed(self, src: socket.socket, dst: socket.socket, toward_client: bool) -> None:
        """Read as data comes, write each chunk ``delay`` after it came (a second thread), so the
        delay adds to the latency without throttling the bandwidth."""
        due: queue.Queue[tuple[float, bytes] | None] = queue.Queue()

        def writer() -> None:
            while (item := due.get()) is not None:
                at, chunk = item
                if (wait := at - time.monotonic()) > 0:
                    time.sleep(wait)
                if toward_client:
                    self.downstream.wait()
                try:
                    dst.sendall(chunk)
                except OSError:
                    break
            self._forget(src, dst)

        threading.Thread(target=writer, name="proxy-delay", daemon=True).start()
        for chunk in self._chunks(src):
            due.put((time.monotonic() + self.delay, chunk))
        due.put(None)

    @staticmethod
    def _chunks(sock: socket.socket) -> Iterator[bytes]:
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            yield data

    def _forget(self, a: socket.socket, b: socket.socket) -> None:
        with self.lock:
            self.pairs = [p for p in self.pairs if a not in p and b not in p]
        for sock in (a, b):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
