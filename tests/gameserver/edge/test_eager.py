"""run_eagerly: a send that does not block completes on the spot; one that blocks is finished by a task."""

from __future__ import annotations

import asyncio

import pytest

from gameserver.edge.eager import run_eagerly


async def test_a_coroutine_that_never_blocks_completes_before_run_eagerly_returns():
    done = []

    async def send() -> None:
        done.append(1)

    assert run_eagerly(send()) is None
    assert done == [1]


async def test_a_coroutine_that_blocks_is_finished_by_a_task_with_its_result():
    gate = asyncio.Event()
    steps = []

    async def send() -> str:
        steps.append("before")
        await gate.wait()
        await asyncio.sleep(0)  # a bare yield is handled too
        steps.append("after")
        return "sent"

    task = run_eagerly(send())
    assert task is not None
    assert steps == ["before"]
    gate.set()
    assert await asyncio.wait_for(task, 10) == "sent"
    assert steps == ["before", "after"]


async def test_a_future_still_pending_when_the_task_takes_over_is_awaited_to_its_end():
    # The future was already yielded once (and marked blocking) by the eager step; the task
    # must await it again while it is pending (regression: "await wasn't used with future").
    gate = asyncio.Event()
    lock = asyncio.Lock()

    async def send() -> str:
        async with lock:
            await gate.wait()
        return "sent"

    task = run_eagerly(send())
    assert task is not None
    await asyncio.sleep(0.01)  # the task runs and finds the future pending
    assert not task.done()
    gate.set()
    assert await asyncio.wait_for(task, 10) == "sent"
    assert not lock.locked()


async def test_an_error_before_blocking_is_raised_to_the_caller():
    async def send() -> None:
        raise ConnectionResetError("gone")

    with pytest.raises(ConnectionResetError):
        run_eagerly(send())


async def test_an_error_after_blocking_ends_the_task_with_that_error():
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def send() -> None:
        await future

    task = run_eagerly(send())
    assert task is not None
    future.set_exception(BrokenPipeError("closed"))
    with pytest.raises(BrokenPipeError):
        await asyncio.wait_for(task, 10)
