"""Where a stream's events come from: the provider, with retries.

A failed attempt is retried, with exponential backoff (or the provider's
`retry-after`), only while nothing but usage has come out of it: text already
handed out is never repeated. A cancelled stream is never retried, and sends
no further request.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Iterator

import httpx2 as httpx

from .._config import Settings
from .._exceptions import (
    LaraFlowAIError,
    ProviderError,
    StreamCancelledError,
    StreamInterruptedError,
)
from ..providers import ChatRequest, HTTPProvider, InProcessProvider, Provider
from ..wire import Event, Usage
from ._cancel import Cancel
from ._http import aiter_http_events, iter_http_events
from ._inprocess import Timed, timed
from ._limits import Limits
from ._state import StreamCounts

__all__ = ["RetryPolicy", "aiter_events", "iter_events"]

logger = logging.getLogger("laraflowai")

# Waiting longer than this for a retry is worse than telling the caller.
_MAX_RETRY_WAIT = 30.0


class RetryPolicy:
    __slots__ = ("max_retries", "base_delay", "max_delay")

    def __init__(self, max_retries: int, base_delay: float = 0.5, max_delay: float = 8.0) -> None:
        self.max_retries = max_retries
        self.base_delay = base_delay
        self.max_delay = max_delay

    def delay(self, error: LaraFlowAIError, attempt: int, deadline: float) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None not to retry."""
        if attempt >= self.max_retries or isinstance(error, StreamCancelledError):
            return None
        if isinstance(error, ProviderError):
            if not error.retryable:
                return None
        elif not isinstance(error, StreamInterruptedError):
            return None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            wait = float(retry_after)
        else:
            backoff = min(self.max_delay, self.base_delay * 2**attempt)
            wait = backoff * (0.5 + random.random() / 2)
        if wait > _MAX_RETRY_WAIT or time.monotonic() + wait >= deadline:
            return None
        return wait


def _attempt(
    provider: Provider,
    request: ChatRequest,
    settings: Settings,
    limits: Limits,
    client: httpx.Client | None,
) -> Iterator[list[Event]]:
    if isinstance(provider, HTTPProvider):
        return iter_http_events(provider, request, settings, limits, client)
    if isinstance(provider, InProcessProvider):
        return timed(provider.iter_events(request), limits)
    raise TypeError(
        f"{type(provider).__name__} is neither an HTTPProvider nor an InProcessProvider"
    )


def _aattempt(
    provider: Provider,
    request: ChatRequest,
    settings: Settings,
    limits: Limits,
    client: httpx.AsyncClient | None,
) -> AsyncIterator[Event]:
    if isinstance(provider, HTTPProvider):
        return aiter_http_events(provider, request, settings, limits, client)
    if isinstance(provider, InProcessProvider):
        return Timed(provider.aiter_events(request), limits)
    raise TypeError(
        f"{type(provider).__name__} is neither an HTTPProvider nor an InProcessProvider"
    )


def _log_retry(provider: Provider, error: LaraFlowAIError, attempt: int, wait: float) -> None:
    logger.warning(
        "%s: %s; retrying in %.2f s (retry %d)",
        provider.name,
        error.message.rstrip("."),
        wait,
        attempt + 1,
    )


def _raise_if_cancelled(limits: Limits) -> None:
    error = limits.cancelled()
    if error is not None:
        raise error


def iter_events(
    provider: Provider,
    request: ChatRequest,
    settings: Settings,
    counts: StreamCounts,
    cancel: Cancel,
    client: httpx.Client | None = None,
) -> Iterator[list[Event]]:
    """The provider's events for `request`, in batches (never empty) as they
    arrive; firing `cancel` ends them (a read blocked in another thread included)."""
    limits = Limits(provider, settings, cancel)
    policy = RetryPolicy(settings.max_retries)
    attempt = 0
    while True:
        _raise_if_cancelled(limits)
        handed_out = False
        events = _attempt(provider, request, settings, limits, client)
        try:
            for batch in events:
                if not handed_out:
                    handed_out = any(type(event) is not Usage for event in batch)
                yield batch
            return
        except (ProviderError, StreamInterruptedError) as error:
            wait = None if handed_out else policy.delay(error, attempt, limits.total_at)
            if wait is None or cancel.reason is not None:
                raise
            _log_retry(provider, error, attempt, wait)
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
        attempt += 1
        counts.retries = attempt
        cancel.sleep(wait)


class _AsyncEvents:
    """The async twin of iter_events(), as an iterator object: once a piece of
    the answer is out no retry can follow, so from then on `__anext__` hands
    out the attempt's own awaitable, and `settled` names the attempt, for a
    reader to read it directly (no code of ours per event: an async generator
    layer here cost about 900 instructions per event, bench/core_profile.py)."""

    __slots__ = (
        "_provider", "_request", "_settings", "_counts", "_cancel", "_client", "_limits",
        "_policy", "_attempt", "_events", "_handed_out", "settled",
    )  # fmt: skip

    def __init__(
        self,
        provider: Provider,
        request: ChatRequest,
        settings: Settings,
        counts: StreamCounts,
        cancel: Cancel,
        client: httpx.AsyncClient | None,
    ) -> None:
        self._provider = provider
        self._request = request
        self._settings = settings
        self._counts = counts
        self._cancel = cancel
        self._client = client
        self._limits = Limits(provider, settings, cancel)
        self._policy = RetryPolicy(settings.max_retries)
        self._attempt = 0
        self._events: AsyncIterator[Event] | None = None
        self._handed_out = False
        self.settled: AsyncIterator[Event] | None = None
        cancel.bind_loop()

    def __aiter__(self) -> _AsyncEvents:
        return self

    def __anext__(self) -> Awaitable[Event]:
        settled = self.settled
        if settled is not None:
            return anext(settled)
        return self._next()

    async def _next(self) -> Event:
        """The next event while a retry is still possible (or after the end)."""
        while True:
            events = self._events
            if events is None:
                if self._handed_out:  # closed
                    raise StopAsyncIteration
                _raise_if_cancelled(self._limits)
                events = self._events = _aattempt(
                    self._provider, self._request, self._settings, self._limits, self._client
                )
            try:
                event = await anext(events)
            except (ProviderError, StreamInterruptedError) as error:
                limits = self._limits
                wait = self._policy.delay(error, self._attempt, limits.total_at)
                if wait is None or self._cancel.reason is not None:
                    raise
                _log_retry(self._provider, error, self._attempt, wait)
            else:
                if type(event) is not Usage:
                    self._handed_out = True
                    self.settled = events
                return event
            await self._close_attempt()
            self._attempt += 1
            self._counts.retries = self._attempt
            await self._cancel.asleep(wait)

    async def _close_attempt(self) -> None:
        events, self._events = self._events, None
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()

    async def aclose(self) -> None:
        self._handed_out = True  # no further attempt
        self.settled = None
        await self._close_attempt()


def aiter_events(
    provider: Provider,
    request: ChatRequest,
    settings: Settings,
    counts: StreamCounts,
    cancel: Cancel,
    client: httpx.AsyncClient | None = None,
) -> AsyncIterator[Event]:
    """The async twin of iter_events(); call it in the task that reads."""
    return _AsyncEvents(provider, request, settings, counts, cancel, client)
