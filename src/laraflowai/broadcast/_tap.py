"""Wrappers of a stream's producer that keep its push path.

A registry reads a producer by push when it has `pump(append)` (an agent's
answer: each chunk goes from the provider's read to the registry in one
frame), else by iterating it, which costs a coroutine per layer per chunk and,
with a partial chunk waiting for its flush interval, a read with a deadline
per delta. A wrapper written as an async generator hides `pump`; a `Tap`
does its work beside the events instead, so `tapped()` can pass `pump` on.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from ..streaming import caught_up
from .base import TERMINAL_TYPES

__all__ = ["Tap", "tapped"]

Payload = Mapping[str, Any]


class Tap:
    """What a wrapper does as a producer's events pass; override what you need."""

    __slots__ = ()

    def begin(self) -> None:
        """The producer starts."""

    def see(self, payload: Payload | str) -> None:
        """Each event but the last, as it passes: a chunk may come as its plain
        text (a str) rather than `{"type": "chunk", "chunk": text}`."""

    async def last(self, payload: Payload) -> None:
        """The last event (`complete` or `error`), before it passes on."""

    def done(self) -> None:
        """The producer is over: ended, failed, stopped or closed."""


def tapped(source: AsyncIterator[Payload], tap: Tap) -> AsyncIterator[Payload]:
    """`source`'s events with `tap` watching them, and with the source's
    controls: a registry's stop calls `cancel(reason)`, which reaches the
    source (it closes the provider request at once). A source with
    `pump(append)` keeps it."""
    if getattr(source, "pump", None) is not None:
        return _PumpedTap(source, tap)
    return _Tapped(source, tap)


class _Tapped:
    __slots__ = ("_source", "_tap", "_events")

    def __init__(self, source: AsyncIterator[Payload], tap: Tap) -> None:
        self._source = source
        self._tap = tap
        self._events: AsyncGenerator[Payload, None] | None = None

    def __aiter__(self) -> _Tapped:
        return self

    def __anext__(self) -> Awaitable[Payload]:
        events = self._events
        if events is None:
            events = self._events = self._pull()
        return events.__anext__()

    async def _pull(self) -> AsyncGenerator[Payload, None]:
        source, tap = self._source, self._tap
        tap.begin()
        try:
            async for payload in source:
                if payload.get("type") in TERMINAL_TYPES:
                    await tap.last(payload)
                else:
                    tap.see(payload)
                yield payload
        finally:
            tap.done()
            await _close(source)

    async def aclose(self) -> None:
        if self._events is not None:
            await self._events.aclose()
        else:  # never read: the source may still hold a provider request
            await _close(self._source)

    def cancel(self, reason: str = "cancelled") -> None:
        cancel = getattr(self._source, "cancel", None)
        if cancel is not None:
            cancel(reason)


class _PumpedTap(_Tapped):
    __slots__ = ()

    async def pump(self, append: Callable[[Payload | str], object]) -> None:
        """The source's `pump`, each event seen on its way to `append`; for the
        last one it hands back the tap's `last()` and then `append`, which the
        source waits for (the `pump` protocol: an awaitable from `append` is)."""
        tap = self._tap
        see = tap.see

        async def last(payload: Payload) -> None:
            await tap.last(payload)
            await caught_up(append(payload))

        def passing(payload: Payload | str) -> object:
            if not isinstance(payload, str) and payload.get("type") in TERMINAL_TYPES:
                return last(payload)
            see(payload)
            return append(payload)

        tap.begin()
        try:
            await self._source.pump(passing)  # type: ignore[attr-defined]
        finally:
            tap.done()


async def _close(source: Any) -> None:
    close = getattr(source, "aclose", None)
    if close is not None:
        await close()
