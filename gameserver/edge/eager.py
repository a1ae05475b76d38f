"""Run an ASGI ``send`` to completion right now when it does not block, as most do.

Daphne's ``send`` never suspends and uvicorn's only does when the socket's buffer is full, so
the relay can write one frame to hundreds of sockets without a task or a loop turn per socket.
A send that does block is finished by a task, and the caller sees that the socket is busy
(Python 3.11 has no eager task factory; this is the same idea for one coroutine).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


def run_eagerly(coro: Coroutine[Any, Any, Any]) -> asyncio.Future[Any] | None:
    """Step ``coro`` until it first blocks: None if it finished, else a task finishing it.

    An exception raised before the first suspension propagates to the caller.
    """
    try:
        blocked_on = coro.send(None)
    except StopIteration:
        return None
    return asyncio.ensure_future(_resume(coro, blocked_on))


async def _resume(coro: Coroutine[Any, Any, Any], blocked_on: Any) -> Any:
    """What a Task does for ``coro``: wait for what it yielded, then step it again."""
    while True:
        try:
            if blocked_on is None:  # a bare yield (asyncio.sleep(0)): give the loop one turn
                await asyncio.sleep(0)
            else:
                # A future yielded by ``await fut`` is marked as blocking; a Task clears the
                # mark on receipt, and awaiting it again with the mark set raises RuntimeError.
                blocked_on._asyncio_future_blocking = False
                await blocked_on
        except BaseException as exc:  # the awaited future failed, or we were cancelled
            try:
                blocked_on = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
            continue
        try:
            blocked_on = coro.send(None)
        except StopIteration as stop:
            return stop.value
