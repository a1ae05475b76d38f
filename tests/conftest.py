"""Shared fixtures: real Redis (REDIS_URL or a private server), and real server processes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on port {port} after {timeout}s")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The REDIS_URL server if set, else a private redis-server this session starts and stops."""
    given = os.environ.get("REDIS_URL")
    if given:
        yield given
        return
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed and REDIS_URL is not set (make test installs it)"
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="test-redis-")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix of this test's own, so tests sharing one Redis never see each other."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(autouse=True)
def _fresh_cache(settings: Any) -> Iterator[None]:
    """The throttles count in Django's cache: every test starts with a clean slate. With
    REDIS_URL set the cache is that Redis, which other processes use too: never flush it (nor
    a Redis cache a test configured); give the test a key prefix of its own instead."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    from gameserver import http

    def clear() -> None:
        http._fallback.clear()
        if isinstance(caches["default"], LocMemCache):
            caches["default"].clear()

    if not isinstance(caches["default"], LocMemCache):
        settings.CACHES = {
            "default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex[:12]}"}
        }
    clear()
    yield
    clear()


@pytest.fixture(autouse=True)
def _fresh_connection_counts() -> Iterator[None]:
    """Connection limits count per process: a test that left sockets open must not spend the
    next one's allowance."""
    from gameserver.edge.connlimits import ConnectionLimits

    ConnectionLimits._instance = None
    yield
    ConnectionLimits._instance = None
