"""The time limits and cancelling for providers that run in this process (the
embedded model).

They have no socket to time or shut down, so each limit, and the stream's
Cancel, is checked as each event arrives.
While the first piece of the answer is awaited (a long prompt, a stuck model),
the async path also ends the wait on time. A sync provider whose iterator has
`next_within(seconds)` (the embedded model) is waited on with every limit, so
a silent model is ended on time there too; a plain generator cannot be
interrupted, so there a limit is enforced when the provider next yields.
After the first piece, checks as events arrive keep the async hot path cheap.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

from ..wire import Event
from ._limits import CONTENT, Limits

__all__ = ["atimed", "timed"]


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


async def atimed(events: AsyncIterator[Event], limits: Limits) -> AsyncIterator[Event]:
    last = time.monotonic()
    cancel = limits.cancel
    cancel.bind_loop()
    try:
        while limits.waiting:
            limit, remaining = _nearest(limits, last)
            timeout = asyncio.timeout(max(remaining, 0))
            try:
                async with timeout:
                    cancel.watch(timeout)
                    event = await anext(events)
            except StopAsyncIteration:
                return
            except TimeoutError:
                if not timeout.expired():  # the provider's own, not ours
                    raise
                raise limits.cancelled() or limits.error(limit) from None
            last = _checked(limits, event, last)
            yield event
        # The first piece is out: only the total and idle limits and the Cancel
        # are left, tested inline (a call to _checked() per event cost more).
        total_at, idle = limits.total_at, limits.settings.idle_timeout
        monotonic = time.monotonic
        async for event in events:
            now = monotonic()
            if now > total_at or now - last > idle or cancel.reason is not None:
                _checked(limits, event, last)
            last = now
            yield event
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()
