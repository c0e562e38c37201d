"""Start a coroutine now, in the caller's task, and finish it in a task of its
own only if it has to wait.

Fan-out writes an event to every listener from the producer's task. An ASGI
`send` nearly always completes without waiting (the socket takes the bytes),
so running it to completion in place saves a task switch per event per
listener; a listener whose socket is full must not hold up the others, so the
rest of its write moves to a task. (Python 3.12's eager tasks do the same.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any

__all__ = ["run_eagerly"]


def run_eagerly(coro: Coroutine[Any, Any, None]) -> asyncio.Future[None] | None:
    """Run `coro` until it first suspends: None if it finished, else the task
    that finishes it. An exception raised before it suspends propagates."""
    try:
        suspended_on = coro.send(None)
    except StopIteration:
        return None
    return asyncio.ensure_future(_Resumed(coro, suspended_on))


class _Resumed(Coroutine[Any, Any, None]):
    """`coro`, already started: its first step hands the task the future `coro`
    is waiting on; every later step, and any exception (a cancellation before
    the first step included), goes to `coro` itself."""

    __slots__ = ("_coro", "_pending", "_started")

    def __init__(self, coro: Coroutine[Any, Any, None], suspended_on: Any) -> None:
        self._coro = coro
        self._pending: Any = suspended_on
        self._started = False

    def send(self, value: Any) -> Any:
        if not self._started:
            self._started = True
            return self._pending
        return self._coro.send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        self._started = True
        if val is None and tb is None:
            return self._coro.throw(typ)
        return self._coro.throw(typ, val, tb)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, Any, None]:
        raise TypeError("run_eagerly() runs this in a task of its own; it is not awaitable")
