"""The time limits and cancelling for providers that run in this process (the
embedded model).

They have no socket to time or shut down, so each limit, and the stream's
Cancel, is checked in the reading task. The sync path checks as each event
arrives. A sync provider whose iterator has `next_within(seconds)` (the
embedded model) is waited on with every limit, so a silent model is ended on
time; a plain generator cannot be interrupted, so there a limit is enforced
when the provider next yields.
The async path (`Timed`) waits for the first piece of the answer (a long
prompt, a stuck model) with every limit, ending the wait on time. After it,
one timer per event loop (`_Watch`) looks at every stream's total and idle
limits and records the one that passes on the Cancel, and each event that
arrives checks the Cancel: a reader's per-event cost is an attribute test (a
clock read and checks per event cost about 1,700 instructions,
bench/instructions.py), on the hot path of every server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Iterator

from .._exceptions import LaraFlowAIError
from ..wire import Event
from ._limits import CONTENT, Limits

__all__ = ["Timed", "timed"]


def _checked(limits: Limits, event: Event, last: float) -> float:
    """Raise the error of a limit that passed before `event`; the time it came."""
    now = time.monotonic()
    limits.check(now)
    if limits.cancel.reason is not None:
        error = limits.cancelled()
        assert error is not None
        raise error
    if now - last > limits.settings.idle_timeout:
        raise limits.error("idle")
    if limits.waiting and type(event) in CONTENT:
        limits.content_arrived()
    return now


def timed(events: Iterator[Event], limits: Limits) -> Iterator[list[Event]]:
    """The provider's events, each a batch of one (as `_http` hands out its batches)."""
    last = time.monotonic()
    try:
        next_within = getattr(events, "next_within", None)
        if next_within is None:
            for event in events:
                last = _checked(limits, event, last)
                yield [event]
            return
        # The provider can wait for its next event with a timeout (the embedded
        # model's tokens come from a worker thread): every limit ends a silent
        # wait on time, as the async path does.
        while True:
            limit, remaining = _nearest(limits, last)
            try:
                event = next_within(max(remaining, 0))
            except StopIteration:
                return
            except TimeoutError:
                raise limits.error(limit) from None
            last = _checked(limits, event, last)
            yield [event]
    finally:
        # The provider's own cleanup (the model back to its pool) runs now.
        close = getattr(events, "close", None)
        if close is not None:
            close()


def _nearest(limits: Limits, last: float) -> tuple[str, float]:
    """The limit that ends the wait for the next event first, and the seconds left."""
    limit, deadline = limits.nearest()
    now = time.monotonic()
    remaining = deadline - now
    idle = last + limits.settings.idle_timeout - now
    if idle < remaining:
        return "idle", idle
    return limit, remaining


class Timed:
    """An in-process provider's async events under the stream's limits.

    Until the first piece of the answer each read waits with the nearest limit
    (the Cancel ends the wait too). From then on the loop's watch looks at the
    total and idle limits and records the one that passes as the Cancel's
    reason; the next event to arrive finds it and raises. A reader may read
    `events` itself, as `forward` does: after each event it checks
    `cancel.reason` and sets `alive` (the watch's sign of life)."""

    __slots__ = ("events", "limits", "cancel", "alive", "_last", "_watch")

    def __init__(self, events: AsyncIterator[Event], limits: Limits) -> None:
        self.events = events
        self.limits = limits
        self.cancel = limits.cancel
        self.alive = False  # an event came since the watch last looked
        self._last = time.monotonic()  # the start, then the last sign of life the watch saw
        self._watch: _Watch | None = None

    def __aiter__(self) -> Timed:
        return self

    def __anext__(self) -> Awaitable[Event]:
        if self.limits.waiting:
            return self._first()
        return self._next()

    async def _next(self) -> Event:
        event = await anext(self.events)
        if self.cancel.reason is not None:
            raise self.failed()
        self.alive = True
        return event

    def failed(self) -> LaraFlowAIError:
        """The error for the Cancel's reason (it has one)."""
        error = self.limits.cancelled()
        assert error is not None
        return error

    async def _first(self) -> Event:
        limits = self.limits
        cancel = self.cancel
        cancel.bind_loop()
        limit, remaining = _nearest(limits, self._last)
        timeout = asyncio.timeout(max(remaining, 0))
        try:
            async with timeout:
                cancel.watch(timeout)
                event = await anext(self.events)
        except TimeoutError:
            if not timeout.expired():  # the provider's own, not ours
                raise
            raise limits.cancelled() or limits.error(limit) from None
        finally:
            cancel.reading = None
        self._last = _checked(limits, event, self._last)
        if not limits.waiting:
            self._watch = _join_watch(self)
        return event

    def look(self, now: float) -> bool:
        """The watch's look at this stream: record a limit that passed; False
        once there is nothing left to watch."""
        if self.cancel.reason is not None or getattr(self.events, "ag_frame", 0) is None:
            return False  # cancelled, or the provider's generator is over
        if self.alive:
            self.alive, self._last = False, now
        limits = self.limits
        if now >= limits.total_at:
            self.cancel.expire("total")
        elif now - self._last >= limits.settings.idle_timeout:
            self.cancel.expire("idle")
        else:
            return True
        return False

    async def aclose(self) -> None:
        if self._watch is not None:
            self._watch.streams.discard(self)
            self._watch = None
        aclose = getattr(self.events, "aclose", None)
        if aclose is not None:
            await aclose()


class _Watch:
    """One timer for every in-process stream of an event loop past its first
    piece (a timer each would cost about a KiB per stream): each tick looks
    at every stream (`Timed.look`). It ticks at a quarter of the smallest
    limit a stream has, at most every second, so a limit is seen that late."""

    __slots__ = ("loop", "streams", "every", "handle")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.streams: set[Timed] = set()
        self.every = _MAX_TICK
        self.handle: asyncio.TimerHandle | None = None

    def add(self, timed: Timed) -> None:
        self.streams.add(timed)
        every = _every(timed)
        if self.handle is not None:
            if every >= self.every:
                return
            self.handle.cancel()  # this stream needs closer looks
        self.every = every
        self.handle = self.loop.call_later(every, self._tick)

    def _tick(self) -> None:
        now = time.monotonic()
        streams = self.streams
        every = _MAX_TICK
        for timed in tuple(streams):
            if timed.look(now):
                every = min(every, _every(timed))
            else:
                streams.discard(timed)
        if not streams:
            self.handle = None
            if _watches.get(self.loop) is self:
                del _watches[self.loop]
            return
        self.every = every
        self.handle = self.loop.call_later(every, self._tick)


_MAX_TICK = 1.0
_MIN_TICK = 0.005


def _every(timed: Timed) -> float:
    """How often `timed` needs a look: a quarter of its smallest limit, within bounds."""
    settings = timed.limits.settings
    return max(min(settings.idle_timeout / 4, settings.timeout / 4, _MAX_TICK), _MIN_TICK)


_watches: dict[asyncio.AbstractEventLoop, _Watch] = {}


def _join_watch(timed: Timed) -> _Watch:
    """Put `timed` on its event loop's watch."""
    loop = asyncio.get_running_loop()
    watch = _watches.get(loop)
    if watch is None:
        for closed in [key for key in _watches if key.is_closed()]:
            del _watches[closed]
        watch = _watches[loop] = _Watch(loop)
    watch.add(timed)
    return watch
