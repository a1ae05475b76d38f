"""Consumer/worker fixtures: the real ASGI application, a fresh in-memory layer per test, and
the tick worker hosted in the test's event loop exactly as ``manage.py serve`` hosts it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgpack
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from channels.worker import Worker

from gameserver.asgi import application
from gameserver.groups import TICK_CHANNEL
from match import services
from match.models import Match
from match.tickets import ticket_issue
from tests.workers import hosted

ORIGIN = [(b"origin", b"http://localhost"), (b"host", b"localhost")]


@pytest.fixture
async def tick_worker(transactional_db: None) -> AsyncIterator[Worker]:
    async with hosted([TICK_CHANNEL]) as worker:
        yield worker


async def create_match(players: int = 2, start: bool = True, **settings_overrides: Any) -> Match:
    match = await database_sync_to_async(services.match_create)(players=players)
    if settings_overrides:
        match.settings.update(settings_overrides)
        await database_sync_to_async(match.save)(update_fields=["settings"])
    if start:
        await services.amatch_request_start(match_id=str(match.id))
    return match


class SeatCommunicator(WebsocketCommunicator):
    """A match socket that remembers the resume credential its seat message gave it."""

    credential: str = ""


def communicator(
    match_id: object,
    ticket: str | None,
    headers: list[tuple[bytes, bytes]] | None = None,
    query: str = "",
) -> SeatCommunicator:
    params = [f"ticket={ticket}"] if ticket is not None else []
    params += [query] if query else []
    path = f"/ws/match/{match_id}/" + ("?" + "&".join(params) if params else "")
    return SeatCommunicator(application, path, headers=ORIGIN if headers is None else headers)


async def resume(match: Match, credential: str) -> SeatCommunicator:
    """Back onto a seat with the credential its first connection was given (no ticket)."""
    comm = communicator(match.id, None, query=f"resume={credential}")
    connected, _ = await comm.connect()
    assert connected
    message = await recv(comm)
    assert message == {
        "t": "seat",
        "seat": message.get("seat"),
        "resume": credential,
        "grace": message.get("grace"),
    }
    comm.credential = credential
    return comm


async def join(match: Match, seat: int) -> SeatCommunicator:
    """Onto a seat with a fresh ticket; the seat message's resume credential is kept on the
    communicator as ``credential``."""
    comm = communicator(match.id, ticket_issue(match_id=str(match.id), seat=seat))
    connected, _ = await comm.connect()
    assert connected
    message = await recv(comm)
    assert message["t"] == "seat", message
    comm.credential = message["resume"]
    return comm


async def recv(comm: WebsocketCommunicator, within: float = 3.0) -> dict[str, Any]:
    """The next message as a map; a close comes back as ``{"t": "<close>", "code": n}``."""
    out = await comm.receive_output(within)
    if out["type"] == "websocket.close":
        return {"t": "<close>", "code": out.get("code")}
    assert out.get("bytes") is not None, f"server sent a non-binary frame: {out!r}"
    return msgpack.unpackb(out["bytes"])


async def recv_until(comm: WebsocketCommunicator, kind: str, within: float = 5.0) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        message = await recv(comm, max(0.05, deadline - loop.time()))
        if message["t"] == kind:
            return message
        assert message["t"] != "<close>", f"closed while waiting for {kind}: {message!r}"


async def send(comm: WebsocketCommunicator, message: dict[str, Any]) -> None:
    await comm.send_to(bytes_data=msgpack.packb(message))
