"""In-flight sharing: one upstream event stream, read once, for many readers.

Goals. Identical requests made while the first is still streaming share its
upstream; every reader gets every event from the start, at its own pace; a
reader that leaves does not disturb the others; when the last one leaves, the
upstream is cancelled (its connection closed).

Plan. A flight records every upstream event in a list; each reader is a cursor
into it. Events already recorded are read without a lock (list reads are atomic
under the GIL).

- Sync (`Flight`): whichever reader needs an event nobody has yet takes the
  pull token (a lock acquired without blocking) and reads it itself, while the
  others wait on a condition; a lone reader thus pays two uncontended lock
  calls per event. A reader that must not wait longer than some time (the
  buffer's flush interval) cannot be the one blocked in a read, so its first
  timed wait starts a pump thread that pulls from then on. A reader can only
  leave from its own thread, so a pulling reader never leaves mid-read; the
  pump, blocked in a read when the last reader leaves, is woken by `abort`
  (which shuts the socket down).
- Async (`AsyncFlight`): a producer task pulls, so that one reader's
  cancellation (a client that went away) never lands inside the shared
  upstream; readers wait on their own futures. The last reader to leave
  cancels the task, which closes the connection.

Sync readers share with sync readers of the same process; async readers with
async readers on the same event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Generic, NoReturn, TypeVar

from .._exceptions import StreamInterruptedError
from ..wire import Event

__all__ = [
    "AsyncFlight",
    "AsyncFlightReader",
    "Flight",
    "FlightReader",
    "Registry",
    "aiter_list",
    "loop_registry",
]

logger = logging.getLogger("laraflowai")

_F = TypeVar("_F", "Flight", "AsyncFlight")


def _copy(error: BaseException) -> BaseException:
    """A fresh copy of `error` for each reader: each sets its own partial content."""
    try:
        clone = error.__class__.__new__(error.__class__, *error.args)
        clone.__dict__.update(error.__dict__)
        clone.args = error.args
    except Exception:
        return error
    clone.__cause__, clone.__context__ = error.__cause__, error.__context__
    return clone.with_traceback(error.__traceback__)


class Flight:
    """One sync upstream shared by readers. `on_complete(events)` runs once the
    upstream ended normally, before readers see the end; `abort()` wakes a pull
    blocked in another thread."""

    def __init__(
        self,
        upstream: Callable[[], Iterator[Event]],
        *,
        on_complete: Callable[[list[Event]], None] | None = None,
        abort: Callable[[], None] | None = None,
        on_end: Callable[[Flight], None] | None = None,
    ) -> None:
        self.events: list[Event] = []
        self.done = False
        self.error: BaseException | None = None
        self.cancelled = False
        self.readers = 0
        self.cached = False
        self._open = upstream
        self._upstream: Iterator[Event] | None = None
        # Held by whoever reads upstream; acquire(False) is an atomic test-and-set.
        self._token = threading.Lock()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        # Readers waiting on _changed. A puller reads it after appending, a waiter
        # raises it before looking for new events: no wakeup can be lost.
        self._waiting = 0
        self._pumping = False
        self._on_complete = on_complete
        self._abort = abort
        self._on_end = on_end
        self._context = contextvars.copy_context()

    @classmethod
    def replay(cls, events: list[Event]) -> Flight:
        """A flight that is already over: `events` read back."""
        flight = cls(lambda: iter(()))
        flight.events = events
        flight.done = True
        return flight

    def join(self) -> FlightReader | None:
        """A new reader from the first event, or None if the flight was cancelled."""
        with self._lock:
            if self.cancelled:
                return None
            self.readers += 1
        return FlightReader(self)

    def _pull(self) -> Event | None:
        """Read one upstream event and record it; None once the flight is over.
        The caller holds the token; it is released here."""
        if self.done or self.cancelled:
            self._token.release()
            return None
        try:
            upstream = self._upstream
            if upstream is None:
                upstream = self._upstream = self._open()
            event = next(upstream)
        except StopIteration:
            self._end(None)
            return None
        except Exception as error:
            self._end(error)
            return None
        except BaseException:  # Ctrl-C in the pulling thread: raise it there only
            self._end(StreamInterruptedError("the stream was interrupted while it was read"))
            raise
        self.events.append(event)
        if self.cancelled:
            self._close_upstream()
        self._token.release()
        if self._waiting:
            with self._lock:
                self._changed.notify_all()
        return event

    def _end(self, error: BaseException | None) -> None:
        if error is None and not self.cancelled and self._on_complete is not None:
            try:
                self._on_complete(self.events)
            except Exception:
                logger.warning("the stream cache could not store a stream", exc_info=True)
        with self._lock:
            self.done = True
            self.error = error
            self._changed.notify_all()
        self._close_upstream()
        self._token.release()
        if self._on_end is not None:
            self._on_end(self)

    def _close_upstream(self) -> None:
        upstream, self._upstream = self._upstream, None
        close = getattr(upstream, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                logger.debug("closing a cancelled upstream failed", exc_info=True)

    def _start_pump(self) -> None:
        # Called with _lock held.
        self._pumping = True
        thread = threading.Thread(
            target=self._context.run, args=(self._pump,), name="laraflowai-stream", daemon=True
        )
        thread.start()

    def _pump(self) -> None:
        while True:
            self._token.acquire()
            if self._pull() is None:  # the flight is over or cancelled
                return

    def _leave(self) -> None:
        with self._lock:
            self.readers -= 1
            if self.readers or self.done or self.cancelled:
                return
            self.cancelled = True
            self._changed.notify_all()
        if self._token.acquire(False):
            self._close_upstream()
            self._token.release()
        elif self._abort is not None:
            self._abort()  # wake the pull blocked in another thread; it closes the upstream
        if self._on_end is not None:
            self._on_end(self)


class FlightReader:
    """One reader's cursor over a flight."""

    __slots__ = ("_flight", "_next", "_left", "__weakref__")

    def __init__(self, flight: Flight) -> None:
        self._flight = flight
        self._next = 0
        self._left = False

    @property
    def cached(self) -> bool:
        return self._flight.cached

    def read(self, timeout: float | None = None) -> Event | None:
        """The next event; None if none came within `timeout` seconds; raises
        StopIteration at the end, or the upstream's error."""
        flight = self._flight
        events = flight.events
        index = self._next
        if index < len(events):
            self._next = index + 1
            return events[index]
        if timeout is None and flight._token.acquire(False):
            # The token is ours: nobody else reads upstream until it is released.
            if index < len(events):  # recorded just before we took the token
                flight._token.release()
            else:
                pulled = flight._pull()
                if pulled is None:
                    self._finished()
                self._next = index + 1
                return pulled
        return self._wait(timeout)

    def _wait(self, timeout: float | None) -> Event | None:
        flight = self._flight
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with flight._lock:
                flight._waiting += 1
                try:
                    while True:
                        index = self._next
                        if index < len(flight.events):
                            self._next = index + 1
                            return flight.events[index]
                        if flight.done or flight.cancelled:
                            self._finished()
                        remaining = None
                        if deadline is None:
                            if not flight._token.locked():
                                break
                        else:
                            # A reader with a deadline must not be the one blocked in
                            # a read: a thread reads upstream for it from now on.
                            if not flight._pumping:
                                flight._start_pump()
                            remaining = deadline - time.monotonic()
                            if remaining <= 0:
                                return None
                        flight._changed.wait(remaining)
                finally:
                    flight._waiting -= 1
            if flight._token.acquire(False):
                flight._token.release()  # free: read() takes it again and pulls
                return self.read()

    def _finished(self) -> NoReturn:
        error = self._flight.error
        if error is not None:
            raise _copy(error)
        raise StopIteration

    def close(self) -> None:
        if not self._left:
            self._left = True
            self._flight._leave()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # a finaliser must never raise
            self.close()


class AsyncFlight:
    """The async twin of Flight: a producer task pulls, readers wait on futures."""

    def __init__(
        self,
        upstream: Callable[[], Awaitable[AsyncIterator[Event]]],
        *,
        on_complete: Callable[[list[Event]], Awaitable[None]] | None = None,
        on_end: Callable[[AsyncFlight], None] | None = None,
    ) -> None:
        self.events: list[Event] = []
        self.done = False
        self.error: BaseException | None = None
        self.cancelled = False
        self.readers = 0
        self.cached = False
        self._open = upstream
        self._task: asyncio.Task[None] | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._on_complete = on_complete
        self._on_end = on_end

    @classmethod
    def replay(cls, events: list[Event]) -> AsyncFlight:
        flight = cls(_no_events)
        flight.events = events
        flight.done = True
        return flight

    def join(self) -> AsyncFlightReader | None:
        if self.cancelled:
            return None
        self.readers += 1
        return AsyncFlightReader(self)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._produce())

    async def _produce(self) -> None:
        upstream: AsyncIterator[Event] | None = None
        error: BaseException | None = None
        try:
            upstream = await self._open()
            async for event in upstream:
                self.events.append(event)
                if self._waiters:
                    self._wake()
        except asyncio.CancelledError:
            error = asyncio.CancelledError()
        except BaseException as exc:  # handed to every reader
            error = exc
        finally:
            aclose = getattr(upstream, "aclose", None)
            if aclose is not None:
                await aclose()
        if error is None and not self.cancelled and self._on_complete is not None:
            try:
                await self._on_complete(self.events)
            except Exception:
                logger.warning("the stream cache could not store a stream", exc_info=True)
        self.error = error
        self.done = True
        self._wake()
        if self._on_end is not None:
            self._on_end(self)

    def _leave(self) -> asyncio.Task[None] | None:
        self.readers -= 1
        if self.readers or self.done or self.cancelled:
            return None
        self.cancelled = True
        self._wake()
        if self._on_end is not None:
            self._on_end(self)
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            return task
        return None


async def _no_events() -> AsyncIterator[Event]:
    return aiter_list([])


async def aiter_list(events: list[Event]) -> AsyncIterator[Event]:
    """`events` as an async iterator."""
    for event in events:
        yield event


class AsyncFlightReader:
    __slots__ = ("_flight", "_next", "_left", "__weakref__")

    def __init__(self, flight: AsyncFlight) -> None:
        self._flight = flight
        self._next = 0
        self._left = False

    @property
    def cached(self) -> bool:
        return self._flight.cached

    async def read(self, timeout: float | None = None) -> Event | None:
        """The next event; None if none came within `timeout` seconds; raises
        StopAsyncIteration at the end, or the upstream's error."""
        events = self._flight.events
        index = self._next
        if index < len(events):
            self._next = index + 1
            return events[index]
        return await self._wait(timeout)

    async def _wait(self, timeout: float | None) -> Event | None:
        flight = self._flight
        if flight._task is None and not flight.done:
            flight._start()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._next < len(flight.events):
                event = flight.events[self._next]
                self._next += 1
                return event
            if flight.done or flight.cancelled:
                error = flight.error
                if error is not None and not isinstance(error, asyncio.CancelledError):
                    raise _copy(error)
                raise StopAsyncIteration
            waiter = asyncio.get_running_loop().create_future()
            flight._waiters.append(waiter)
            if deadline is None:
                await waiter
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                async with asyncio.timeout(remaining):
                    await waiter
            except TimeoutError:
                return None

    async def aclose(self) -> None:
        """Leave; the last reader waits until the upstream connection is closed."""
        if not self._left:
            self._left = True
            task = self._flight._leave()
            if task is not None:
                await asyncio.wait([task])

    def __del__(self) -> None:
        if not self._left:
            self._left = True
            with contextlib.suppress(Exception):  # e.g. its event loop is already closed
                self._flight._leave()


class Registry(Generic[_F]):
    """The flights in progress, by request key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[Any, _F] = {}

    def join_or_start(
        self, key: Any, start: Callable[[], _F]
    ) -> tuple[FlightReader | AsyncFlightReader, bool]:
        """A reader of the flight in progress for `key` (and True), or of a new
        one made by `start()` (and False)."""
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None:
                reader = flight.join()
                if reader is not None:
                    return reader, True
            flight = self._flights[key] = start()
            reader = flight.join()
            assert reader is not None
            return reader, False

    def discard(self, key: Any, flight: _F) -> None:
        with self._lock:
            if self._flights.get(key) is flight:
                del self._flights[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._flights)


_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Registry[AsyncFlight]] = (
    weakref.WeakKeyDictionary()
)


def loop_registry() -> Registry[AsyncFlight]:
    """The async flights of the running event loop."""
    loop = asyncio.get_running_loop()
    registry = _loops.get(loop)
    if registry is None:
        registry = _loops[loop] = Registry()
    return registry
