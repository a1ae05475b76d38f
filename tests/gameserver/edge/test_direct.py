"""Direct delivery (Daphne): a socket message is handled inside the server's put when the
consumer is idle, else it waits its turn on the queue; either way in arrival order, one at a time."""

from __future__ import annotations

import asyncio
from typing import Any

import msgpack
from channels.exceptions import StopConsumer
from channels.testing import WebsocketCommunicator

from gameserver.edge.consumer import EdgeConsumer
from gameserver.edge.middleware import ServerSendMiddleware, deliver_directly


def receive_of(data: bytes) -> dict[str, Any]:
    return {"type": "websocket.receive", "bytes": data}


async def test_a_message_is_offered_only_while_nothing_is_queued_and_kept_when_refused():
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    offered: list[dict[str, Any]] = []
    accept = True

    def deliver(message: dict[str, Any]) -> bool:
        offered.append(message)
        return accept

    requeue = deliver_directly(queue.get, deliver)
    assert requeue is not None
    queue.put_nowait(receive_of(b"1"))
    assert offered == [receive_of(b"1")]
    assert queue.empty()
    accept = False
    queue.put_nowait(receive_of(b"2"))  # refused (busy): queued
    queue.put_nowait(receive_of(b"3"))  # something is queued: not even offered
    queue.put_nowait({"type": "websocket.disconnect", "code": 1000})  # never offered
    assert offered == [receive_of(b"1"), receive_of(b"2")]
    assert [queue.get_nowait() for _ in range(3)] == [
        receive_of(b"2"),
        receive_of(b"3"),
        {"type": "websocket.disconnect", "code": 1000},
    ]


async def test_a_receive_that_is_not_an_asyncio_queues_own_get_is_left_alone():
    async def receive() -> dict[str, Any]:
        return {}

    class Subclass(asyncio.Queue):
        pass

    assert deliver_directly(receive, lambda message: True) is None
    assert deliver_directly(Subclass().get, lambda message: True) is None


class Recorder(EdgeConsumer):
    """Records what it handles; "slow" waits for the test, "stop" ends the consumer."""

    direct_delivery = True
    seen: list[str]
    gate: asyncio.Event
    cleanups: list[str]

    async def connect(self) -> None:
        self.setup_limits()
        self.handlers = {"note": self.on_note}
        await self.accept()
        self.receiving = True

    def check_message(self, message: dict[str, Any]) -> str:
        return "note"

    async def on_note(self, message: dict[str, Any]) -> None:
        text = message["text"]
        if text == "slow":
            await Recorder.gate.wait()
        if text == "stop":
            Recorder.seen.append(text)
            raise StopConsumer
        Recorder.seen.append(text)

    async def cleanup(self) -> None:
        Recorder.cleanups.append("done")


def note(text: str) -> bytes:
    return msgpack.packb({"t": "note", "text": text})


async def recorder() -> WebsocketCommunicator:
    Recorder.seen, Recorder.gate, Recorder.cleanups = [], asyncio.Event(), []
    comm = WebsocketCommunicator(ServerSendMiddleware(Recorder.as_asgi()), "/ws/test/")
    connected, _ = await comm.connect()
    assert connected
    return comm


async def test_an_idle_consumer_handles_a_message_inside_the_put_and_a_busy_one_keeps_arrival_order():
    comm = await recorder()
    await comm.send_input(receive_of(note("a")))
    assert Recorder.seen == ["a"], "handled before the put returned: no task wake-up"
    await comm.send_input(receive_of(note("slow")))  # holds the consumer
    await comm.send_input(receive_of(note("b")))
    await comm.send_input(receive_of(note("c")))
    await asyncio.sleep(0.05)
    assert Recorder.seen == ["a"]
    Recorder.gate.set()
    for _ in range(200):
        if len(Recorder.seen) == 4:
            break
        await asyncio.sleep(0.05)
    assert Recorder.seen == ["a", "slow", "b", "c"]
    await comm.send_input(receive_of(note("d")))
    assert Recorder.seen[-1] == "d", "idle again: direct once more"
    await comm.disconnect()
    assert Recorder.cleanups == ["done"]


async def test_a_handler_that_stops_the_consumer_inside_the_put_ends_it_through_the_serve_loop():
    comm = await recorder()
    await comm.send_input(receive_of(note("stop")))
    await asyncio.wait_for(comm.future, 10)  # the application returned
    assert Recorder.seen == ["stop"]
