"""One stream, many listeners: streams run once and any number of clients
follow them, resume them after a dropped connection, or stop them."""

from typing import TYPE_CHECKING

from ._eager import ASGIBody
from ._tap import Tap, tapped
from .base import (
    Framer,
    StreamEntry,
    StreamInfo,
    StreamRegistry,
    StreamStatus,
    Subscription,
    UnknownStreamError,
    Writer,
)
from .memory import MemoryStreamRegistry
from .sources import (
    crew_events,
    iter_crew_events,
    iter_response_events,
    public_error,
    response_events,
)

if TYPE_CHECKING:
    from .redis import RedisStreamRegistry

__all__ = [
    "ASGIBody",
    "Framer",
    "MemoryStreamRegistry",
    "RedisStreamRegistry",
    "StreamEntry",
    "StreamInfo",
    "StreamRegistry",
    "StreamStatus",
    "Subscription",
    "Tap",
    "UnknownStreamError",
    "Writer",
    "crew_events",
    "iter_crew_events",
    "iter_response_events",
    "public_error",
    "response_events",
    "tapped",
]


def __getattr__(name: str) -> object:
    # The Redis registry needs the `redis` extra: imported only when asked for.
    if name == "RedisStreamRegistry":
        from .redis import RedisStreamRegistry

        return RedisStreamRegistry
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
