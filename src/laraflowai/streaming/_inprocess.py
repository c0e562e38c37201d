"""The time limits and cancelling for providers that run in this process (the
embedded model).

They have no socket to time or shut down, so each limit, and the stream's
Cancel, is checked as each event arrives.
While the first piece of the answer is awaited (a long prompt, a stuck model),
the async path also ends the wait on time; a sync generator cannot be
interrupted, so there the limit is enforced when the provider next yields.
After the first piece, checks as events arrive keep the hot path cheap.
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


def timed(events: Iterator[Event], limits: Limits) -> Iterator[Event]:
    last = time.monotonic()
    try:
        for event in events:
            last = _checked(limits, event, last)
            yield event
    finally:
        # The provider's own cleanup (the model back to its pool) runs now.
        close = getattr(events, "close", None)
        if close is not None:
            close()


async def atimed(events: AsyncIterator[Event], limits: Limits) -> AsyncIterator[Event]:
    last = time.monotonic()
    cancel = limits.cancel
    cancel.bind_loop()
    try:
        while limits.waiting:
            limit, deadline = limits.nearest()
            remaining = deadline - time.monotonic()
            if limits.settings.idle_timeout < remaining:
                limit, remaining = "idle", limits.settings.idle_timeout
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
        async for event in events:
            last = _checked(limits, event, last)
            yield event
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()
