"""The async side of in-flight sharing (see `_inflight`): `AsyncFlight` and its readers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from .._exceptions import StreamInterruptedError
from ..wire import Event
from ._cancel import Cancel
from ._flight import copy_error, reader_cancelled
from ._inprocess import Timed

__all__ = ["AsyncFlight", "AsyncFlightReader", "aiter_list"]

logger = logging.getLogger("laraflowai")


class AsyncFlight:
    """The async twin of Flight. A lone reader pulls the upstream in its own
    task, the cheapest way (no task switch per event). Once a second reader
    joins, a producer task pulls instead, so that one reader's cancellation
    (a client that went away) never lands inside a shared upstream; readers
    wait on futures, and the flight's Cancel is bound to the task: firing it
    (the last reader leaving) cancels the task, which closes the upstream.

    The hand-over happens between two reads. A reader that joins while the
    lone reader is inside a read reads nothing until that read is over; if
    it never completes because its reader's task was cancelled half-way, the
    upstream is broken (`broken`), and the joiner, having handed out nothing,
    joins a fresh flight (`rejoin`)."""

    def __init__(
        self,
        upstream: Callable[[Cancel], Awaitable[AsyncIterator[Event]]],
        *,
        on_complete: Callable[[list[Event]], Awaitable[None]] | None = None,
        on_end: Callable[[AsyncFlight], None] | None = None,
        cancel: Cancel | None = None,
    ) -> None:
        self.events: list[Event] = []
        self.done = False
        self.error: BaseException | None = None
        self.cancelled = False
        self.broken = False
        self.readers = 0
        self.cached = False
        # A reader of a fresh flight of the same request, for the readers of a broken one.
        self.rejoin: Callable[[], AsyncFlightReader | None] | None = None
        self._open = upstream
        self._upstream: AsyncIterator[Event] | None = None
        self._closed = False
        self._pulling: AsyncFlightReader | None = None  # the lone reader, inside a read
        # What the lone reader awaits once the upstream names its settled attempt
        # (as DirectAsyncReader.direct): an in-process provider's own iterator,
        # with Timed's per-event test done in _pull (`_timed`).
        self._direct: Any = None
        self._timed: Timed | None = None
        self._task: asyncio.Task[None] | None = None
        self._waiters: list[asyncio.Future[object]] = []
        self._on_complete = on_complete
        self._on_end = on_end
        self.cancel = cancel if cancel is not None else Cancel()

    def join(self) -> AsyncFlightReader | None:
        if self.cancelled:
            return None
        self.readers += 1
        if self.readers > 1 and self._task is None and self._pulling is None and not self.done:
            self._start()  # between two reads of the lone reader: hand over now
        return AsyncFlightReader(self)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._produce())
        self.cancel.bind(self._task)

    async def _produce(self) -> None:
        error: BaseException | None = None
        try:
            upstream = self._upstream
            if upstream is None:
                upstream = self._upstream = await self._open(self.cancel)
            async for event in upstream:
                self.events.append(event)
                if self._waiters:
                    self._wake()
        except asyncio.CancelledError:
            error = asyncio.CancelledError()
        except BaseException as exc:  # handed to every reader
            error = exc
        await self._end(error)

    async def _end(self, error: BaseException | None) -> None:
        """The upstream is over: close it, store it when complete, then tell
        every reader."""
        await self._close()
        if error is None and not self.cancelled and self._on_complete is not None:
            try:
                await self._on_complete(self.events)
            except Exception:
                logger.warning("the stream cache could not store a stream", exc_info=True)
        self.error = error
        self.done = True
        self._wake()
        self._over()

    def _over(self) -> None:
        """Tell the owner the flight is over, and drop the callbacks: they close
        over the flight, a cycle that would keep it (and its recorded answer)
        for the cycle collector."""
        on_end = self._on_end
        self._on_end = self._on_complete = None
        self._open = _no_upstream
        if on_end is not None:
            on_end(self)

    async def _close(self) -> None:
        upstream = self._upstream
        if upstream is not None and not self._closed:
            self._closed = True
            aclose = getattr(upstream, "aclose", None)
            if aclose is not None:
                await aclose()

    def _broke(self) -> None:
        """The lone reader's read was cancelled half-way: the upstream is
        unusable; whoever joined meanwhile starts afresh."""
        self.broken = self.readers > 1
        self.cancelled = True
        self._wake()
        self._over()

    def _leave(self) -> asyncio.Task[None] | None:
        self.readers -= 1
        if self.readers or self.done or self.cancelled:
            return None
        self.cancelled = True
        self._wake()
        self._over()
        self.cancel.fire()
        task = self._task
        if task is not None and not task.done():
            return task
        return None


async def _no_upstream(cancel: Cancel) -> AsyncIterator[Event]:
    raise RuntimeError("this flight is over: it opens no upstream")


_EXPIRED = object()


def _expire(waiter: asyncio.Future[object]) -> None:
    if not waiter.done():
        waiter.set_result(_EXPIRED)


async def aiter_list(events: list[Event]) -> AsyncIterator[Event]:
    """`events` as an async iterator."""
    for event in events:
        yield event


class AsyncFlightReader:
    __slots__ = ("_flight", "_next", "_left", "_cancelled", "_closing", "__weakref__")
    direct = None  # see DirectAsyncReader.direct

    def __init__(self, flight: AsyncFlight) -> None:
        self._flight = flight
        self._next = 0
        self._left = False
        self._cancelled = False
        # The producer task this reader's cancel() ended, for aclose() to wait on.
        self._closing: asyncio.Task[None] | None = None

    @property
    def cached(self) -> bool:
        return self._flight.cached

    def read(self, timeout: float | None = None) -> Awaitable[Event | None]:
        """The next event, to await; None if none came within `timeout`
        seconds; raises StopAsyncIteration at the end, or the upstream's error."""
        flight = self._flight
        if (
            flight._task is None
            and flight.readers == 1
            and timeout is None
            and self._next == len(flight.events)
            and not (flight.done or flight.cancelled or self._cancelled)
        ):
            return self._pull()  # the lone reader's next read, without a frame of ours
        return self._read(timeout)

    async def _read(self, timeout: float | None) -> Event | None:
        flight = self._flight
        deadline = None
        while True:
            pulling = flight._pulling
            if pulling is None or pulling is self:
                if flight.broken and not self._cancelled:
                    flight = self._rejoin()
                    continue
                events = flight.events
                index = self._next
                if index < len(events):
                    self._next = index + 1
                    return events[index]
                if flight.done or flight.cancelled or self._cancelled:
                    error = flight.error
                    if error is not None and not isinstance(error, asyncio.CancelledError):
                        raise copy_error(error)
                    if self._cancelled:
                        raise reader_cancelled()
                    raise StopAsyncIteration
                if flight._task is None:
                    if flight.readers == 1 and timeout is None:
                        return await self._pull()
                    flight._start()
            # else: joined during the lone reader's read; nothing until it is over
            loop = asyncio.get_running_loop()
            waiter = loop.create_future()
            flight._waiters.append(waiter)
            if timeout is None:
                await waiter
                continue
            # A timer that resolves the waiter, not an asyncio.timeout: about
            # 150 opcodes less per wait, and a wait with a deadline is the rule
            # while a partial chunk waits for its flush interval.
            now = time.monotonic()
            if deadline is None:
                deadline = now + timeout
            if deadline <= now:
                return None
            expiry = loop.call_later(deadline - now, _expire, waiter)
            try:
                if await waiter is _EXPIRED:
                    return None
            finally:
                expiry.cancel()

    async def _pull(self) -> Event:
        """The lone reader's read, in its own task."""
        flight = self._flight
        flight._pulling = self
        try:
            direct = flight._direct
            event: Event
            if direct is not None:
                event = await anext(direct)
                timed = flight._timed
                if timed is not None:
                    if timed.cancel.reason is not None:
                        raise timed.failed()
                    timed.alive = True
            else:
                upstream = flight._upstream
                if upstream is None:
                    upstream = flight._upstream = await flight._open(flight.cancel)
                event = await anext(upstream)
                direct = getattr(upstream, "settled", None)
                if type(direct) is Timed and not direct.limits.waiting:
                    flight._timed, direct = direct, direct.events
                flight._direct = direct
        except StopAsyncIteration:
            flight._pulling = None
            await flight._end(None)
            raise
        except Exception as error:
            flight._pulling = None
            await flight._end(error)
            if self._cancelled:
                raise reader_cancelled() from None
            raise copy_error(error) from None
        except BaseException as exc:  # this task was cancelled inside the read
            flight._pulling = None
            flight._broke()
            if not isinstance(exc, GeneratorExit):  # (a coroutine being closed cannot wait)
                await flight._close()
            raise
        flight._pulling = None
        flight.events.append(event)
        self._next += 1
        if flight.readers > 1 and flight._task is None:
            flight._start()  # someone joined during the read: hand over now
        if flight._waiters:
            flight._wake()
        return event

    def _rejoin(self) -> AsyncFlight:
        """Leave a broken flight for a fresh one, if nothing of it was handed out."""
        old = self._flight
        old.readers -= 1
        fresh = old.rejoin() if old.rejoin is not None and not self._next else None
        if fresh is None:
            self._left = True
            raise StreamInterruptedError(
                "the stream this request shared was cut off before it could be read; ask again"
            )
        fresh._left = True  # its place in the fresh flight is this reader's now
        self._flight, self._next = fresh._flight, 0
        return fresh._flight

    def cancel(self) -> None:
        """Leave now, from any task of the event loop: this reader's read in
        progress, or next wait, raises StreamCancelledError; the last reader to
        leave fires the flight's Cancel."""
        if self._cancelled:
            return
        self._cancelled = True
        if not self._left:
            self._left = True
            self._closing = self._flight._leave()
        self._flight._wake()

    async def aclose(self) -> None:
        """Leave; the last reader waits until the upstream connection is closed
        (after a cancel() too)."""
        task, self._closing = self._closing, None
        flight = self._flight
        if not self._left:
            self._left = True
            task = flight._leave()
        if task is not None:
            await asyncio.wait([task])
        elif not flight.readers and flight._task is None and flight._pulling is None:
            await flight._close()  # the lone reader's upstream, between two reads

    def __del__(self) -> None:
        if not self._left:
            self._left = True
            with contextlib.suppress(Exception):  # e.g. its event loop is already closed
                self._flight._leave()


class DirectAsyncReader:
    """The one reader of an unshared upstream (the cache is off).

    It reads in the caller's task, the cheapest way, as long as no read has a
    deadline. Cancelling a read half-way would break the upstream, so the first
    read with a deadline (a partial chunk waiting for its flush interval, in
    `async for`; `forward` flushes from a timer and never reads with one) hands
    the rest of the upstream to a producer task, as a one-reader AsyncFlight
    sharing this reader's Cancel.
    """

    __slots__ = ("_open", "_events", "direct", "_rest", "_cancel")
    cached = False

    def __init__(self, upstream: Callable[[Cancel], Awaitable[AsyncIterator[Event]]]) -> None:
        self._open = upstream
        self._events: AsyncIterator[Event] | None = None
        # What reads go straight to: the iterator an upstream names as `settled`
        # (`_source`'s current attempt, once no retry can follow). Awaiting its
        # own awaitable runs no code of ours per event: about 1,200 instructions
        # less than a coroutine here and the upstream's __anext__ (bench/).
        # A response reading without a deadline awaits `anext(direct)` itself.
        self.direct: AsyncIterator[Event] | None = None
        self._rest: AsyncFlightReader | None = None
        self._cancel = Cancel()

    def read(self, timeout: float | None = None) -> Awaitable[Event | None]:
        """What AsyncFlightReader.read() returns, to await."""
        direct = self.direct
        if direct is not None and timeout is None:
            return anext(direct)
        if self._rest is not None:
            return self._rest.read(timeout)
        return self._read(timeout)

    async def _read(self, timeout: float | None) -> Event | None:
        events = self._events
        if events is None:
            if self._cancel.reason is not None:
                raise reader_cancelled()
            events = self._events = await self._open(self._cancel)
        if timeout is None:
            event = await anext(events)
            self.direct = getattr(events, "settled", None)
            return event
        self.direct = None  # from now on the producer task reads

        async def rest(cancel: Cancel) -> AsyncIterator[Event]:
            return events

        self._rest = AsyncFlight(rest, cancel=self._cancel).join()
        assert self._rest is not None
        return await self._rest.read(timeout)

    def cancel(self) -> None:
        """End the stream now, from any task of the event loop: the read in
        progress raises StreamCancelledError."""
        if self._rest is not None:
            self._rest.cancel()
        else:
            self._cancel.fire()

    async def aclose(self) -> None:
        if self._rest is not None:
            await self._rest.aclose()
            return
        self._cancel.fire()
        if self._events is not None:
            aclose = getattr(self._events, "aclose", None)
            if aclose is not None:
                await aclose()
