"""Events made from another source's events, as a registry reads them."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Mapping
from typing import Any

__all__ = ["WrappedEvents"]


class WrappedEvents:
    """`events` (a generator reading `source`) with the source's controls: a
    registry's stop calls `cancel(reason)`, which must reach the producer
    (it closes the provider request at once) through any wrapper."""

    __slots__ = ("_events", "_source")

    def __init__(self, events: AsyncGenerator[Mapping[str, Any], None], source: Any) -> None:
        self._events = events
        self._source = source

    def __aiter__(self) -> WrappedEvents:
        return self

    def __anext__(self) -> Awaitable[Mapping[str, Any]]:
        return self._events.__anext__()

    async def aclose(self) -> None:
        await self._events.aclose()

    def cancel(self, reason: str = "cancelled") -> None:
        cancel = getattr(self._source, "cancel", None)
        if cancel is not None:
            cancel(reason)
