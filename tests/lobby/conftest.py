"""Lobby fixtures: the real ASGI app, a fresh in-memory layer per test, and the tick worker and
matchmaker hosted in the test's event loop exactly as ``manage.py serve`` hosts them."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import msgpack
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from channels.worker import Worker

from gameserver.asgi import application
from gameserver.groups import MATCHMAKER_CHANNEL, TICK_CHANNEL
from lobby.services.accounts import guest_create, token_issue
from tests.match.conftest import recv
from tests.workers import hosted

ORIGIN = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
names = itertools.count(1)


@pytest.fixture
async def workers(transactional_db: None) -> AsyncIterator[Worker]:
    async with hosted([TICK_CHANNEL, MATCHMAKER_CHANNEL]) as worker:
        yield worker


@pytest.fixture
def no_lobby_grace(settings: Any) -> None:
    """A closed last socket leaves everything at once (the grace period has its own tests)."""
    settings.LOBBY_RECONNECT_GRACE = 0


@dataclass
class Player:
    """A guest account, its bearer token, and every lobby message its sockets received."""

    user_id: int
    name: str
    token: str
    sockets: list[WebsocketCommunicator] = field(default_factory=list)

    @property
    def ws(self) -> WebsocketCommunicator:
        return self.sockets[0]

    async def open(self, *, expect_welcome: bool = True) -> WebsocketCommunicator:
        comm = WebsocketCommunicator(
            application, "/ws/lobby/", headers=[*ORIGIN, (b"authorization", f"Bearer {self.token}".encode())]
        )
        connected, _ = await comm.connect()
        assert connected
        self.sockets.append(comm)
        if expect_welcome:
            await recv_until(comm, "welcome")
        return comm

    async def send(self, message: dict[str, Any], socket: int = 0) -> None:
        await self.sockets[socket].send_to(bytes_data=msgpack.packb(message))

    async def expect(
        self,
        kind: str,
        within: float = 5.0,
        socket: int = 0,
        where: Callable[[dict[str, Any]], bool] = lambda m: True,
        **fields: Any,
    ) -> dict[str, Any]:
        """The next message of type ``kind`` whose fields match (others are skipped)."""
        return await recv_until(self.sockets[socket], kind, within, where, **fields)

    async def close(self, code: int = 1000) -> None:
        """1000: the client leaves on purpose (signs out); 1001: a reload or a closed tab."""
        for comm in self.sockets:
            await comm.disconnect(code=code)
        self.sockets.clear()


async def new_player(name: str | None = None) -> Player:
    chosen = name or f"player{next(names)}"
    player = await database_sync_to_async(guest_create)(name=chosen)
    token, _ = await database_sync_to_async(token_issue)(user=player.user)
    return Player(user_id=player.pk, name=player.name, token=token)


async def online(count: int) -> list[Player]:
    players = [await new_player() for _ in range(count)]
    for player in players:
        await player.open()
    return players


async def recv_until(
    comm: WebsocketCommunicator,
    kind: str,
    within: float = 5.0,
    where: Callable[[dict[str, Any]], bool] = lambda m: True,
    **fields: Any,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    seen: list[str] = []
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"no {kind} {fields or ''} within {within}s; saw {seen[-12:]}")
        try:
            message = await recv(comm, remaining)
        except TimeoutError:
            raise AssertionError(f"no {kind} {fields or ''} within {within}s; saw {seen[-12:]}") from None
        if message["t"] == kind and all(message.get(k) == v for k, v in fields.items()) and where(message):
            return message
        assert message["t"] != "<close>", f"closed while waiting for {kind}: {message!r}"
        seen.append(f"{message['t']}:{message.get('code', '')}")


async def nothing_more(comm: WebsocketCommunicator, kind: str, within: float = 0.6) -> None:
    """Assert no message of type ``kind`` arrives for ``within`` seconds (others are skipped).

    Uses receive_nothing: a timed-out receive_output would cancel the application."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (remaining := deadline - loop.time()) > 0:
        if await comm.receive_nothing(timeout=remaining, interval=0.02):
            return
        message = await recv(comm)
        assert message["t"] != kind, f"unexpected {kind}: {message!r}"
