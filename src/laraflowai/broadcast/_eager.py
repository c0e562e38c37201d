"""A listener's writes, run in the caller's task and finished in a task of
their own only if they have to wait.

Fan-out writes an event to every listener from the producer's task. An ASGI
`send` nearly always completes without waiting (the socket takes the bytes),
so running it to completion in place saves a task switch per event per
listener; a listener whose socket is full must not hold up the others, so the
rest of its write moves to a task. (Python 3.12's eager tasks do the same.)

One generator per listener runs all its writes: `send(data)` on it returns
`WRITTEN` once `data` is written, else what the write waits on. Stepping a
fresh coroutine per write instead ends each one with a StopIteration, which
costs more than the rest of the step: 4.8k -> 2.6k instructions per write
(callgrind, with a send that returns at once). A writer that is an ASGI
response body (`ASGIBody`) has its `send` called from the generator itself,
with no function of the writer's own per write.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Callable, Coroutine, Generator
from typing import Any

__all__ = ["WRITTEN", "ASGIBody", "finish", "writes"]

WRITTEN: Any = object()
_STARTED: Any = object()


@types.coroutine
def _writes(
    write: Callable[[bytes], Coroutine[Any, Any, None]],
) -> Generator[Any, bytes, None]:
    data = yield None
    while True:
        yield from write(data)
        data = yield WRITTEN


@types.coroutine
def _body_writes(
    send: Callable[[dict[str, Any]], Coroutine[Any, Any, None]],
) -> Generator[Any, bytes, None]:
    data = yield None
    while True:
        yield from send({"type": "http.response.body", "body": data, "more_body": True})
        data = yield WRITTEN


class ASGIBody:
    """A writer that sends frames as the body of an ASGI HTTP response, each
    write one `http.response.body` message with more to follow. Any registry
    takes it as a `Writer`; the in-memory one calls `send` in its writes."""

    __slots__ = ("send",)

    def __init__(self, send: Callable[[dict[str, Any]], Coroutine[Any, Any, None]]) -> None:
        self.send = send

    def __call__(self, data: bytes) -> Coroutine[Any, Any, None]:
        return self.send({"type": "http.response.body", "body": data, "more_body": True})


def writes(write: Callable[[bytes], Coroutine[Any, Any, None]]) -> Generator[Any, bytes, None]:
    """The generator that runs every `write(data)` of one listener, in turn, as
    `send(data)`: it returns `WRITTEN` or the awaitable the write waits on (then
    `finish` it). An exception raised before the write waits propagates and
    ends the generator."""
    generator = _body_writes(write.send) if type(write) is ASGIBody else _writes(write)
    generator.send(None)  # type: ignore[arg-type]
    return generator


def finish(generator: Generator[Any, bytes, None], waiting_on: Any) -> asyncio.Future[None]:
    """The task that finishes the write `generator` started and that is
    waiting on `waiting_on`; cancelling it cancels the write."""
    return asyncio.ensure_future(_Rest(generator, waiting_on))


class _Rest(Coroutine[Any, Any, None]):
    """The rest of a write: its first step hands the task what the write waits
    on; every later step, and any exception (a cancellation before the first
    step included), goes to the write itself. It ends at `WRITTEN`."""

    __slots__ = ("_generator", "_pending")

    def __init__(self, generator: Generator[Any, bytes, None], waiting_on: Any) -> None:
        self._generator = generator
        self._pending: Any = waiting_on

    def send(self, value: Any) -> Any:
        if self._pending is not _STARTED:
            pending, self._pending = self._pending, _STARTED
            return pending
        return self._done(self._generator.send(value))

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        self._pending = _STARTED
        if val is None and tb is None:
            return self._done(self._generator.throw(typ))
        return self._done(self._generator.throw(typ, val, tb))

    def close(self) -> None:
        self._generator.close()

    @staticmethod
    def _done(result: Any) -> Any:
        if result is WRITTEN:
            raise StopIteration
        return result

    def __await__(self) -> Generator[Any, Any, None]:
        raise TypeError("finish() runs this in a task of its own; it is not awaitable")
