"""Where a stream's events come from: the provider, with retries.

A failed attempt is retried, with exponential backoff (or the provider's
`retry-after`), only while nothing but usage has come out of it: text already
handed out is never repeated.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Iterator

from .._config import Settings
from .._exceptions import LaraFlowAIError, ProviderError, StreamInterruptedError
from ..providers.base import ChatRequest, HTTPProvider, InProcessProvider, Provider
from ..wire import Event, Usage
from ._http import aiter_http_events, iter_http_events
from ._inprocess import atimed, timed
from ._limits import Limits
from ._watchdog import Abort

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
        if attempt >= self.max_retries:
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
    provider: Provider, request: ChatRequest, settings: Settings, limits: Limits
) -> Iterator[Event]:
    if isinstance(provider, HTTPProvider):
        return iter_http_events(provider, request, settings, limits)
    if isinstance(provider, InProcessProvider):
        return timed(provider.iter_events(request), limits)
    raise TypeError(
        f"{type(provider).__name__} is neither an HTTPProvider nor an InProcessProvider"
    )


def _aattempt(
    provider: Provider, request: ChatRequest, settings: Settings, limits: Limits
) -> AsyncIterator[Event]:
    if isinstance(provider, HTTPProvider):
        return aiter_http_events(provider, request, settings, limits)
    if isinstance(provider, InProcessProvider):
        return atimed(provider.aiter_events(request), limits)
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


def iter_events(
    provider: Provider,
    request: ChatRequest,
    settings: Settings,
    stats: dict[str, int],
    abort: Abort | None = None,
) -> Iterator[Event]:
    """The provider's events for `request`; `abort` ends a blocked read from
    another thread."""
    limits = Limits(provider, settings, abort)
    policy = RetryPolicy(settings.max_retries)
    attempt = 0
    while True:
        handed_out = False
        events = _attempt(provider, request, settings, limits)
        try:
            for event in events:
                if not handed_out and type(event) is not Usage:
                    handed_out = True
                yield event
            return
        except (ProviderError, StreamInterruptedError) as error:
            wait = None if handed_out else policy.delay(error, attempt, limits.total_at)
            if wait is None or limits.abort.reason is not None:
                raise
            _log_retry(provider, error, attempt, wait)
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
        attempt += 1
        stats["retries"] = attempt
        time.sleep(wait)


async def aiter_events(
    provider: Provider, request: ChatRequest, settings: Settings, stats: dict[str, int]
) -> AsyncIterator[Event]:
    limits = Limits(provider, settings)
    policy = RetryPolicy(settings.max_retries)
    attempt = 0
    while True:
        handed_out = False
        events = _aattempt(provider, request, settings, limits)
        try:
            async for event in events:
                if not handed_out and type(event) is not Usage:
                    handed_out = True
                yield event
            return
        except (ProviderError, StreamInterruptedError) as error:
            wait = None if handed_out else policy.delay(error, attempt, limits.total_at)
            if wait is None:
                raise
            _log_retry(provider, error, attempt, wait)
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()
        attempt += 1
        stats["retries"] = attempt
        await asyncio.sleep(wait)
