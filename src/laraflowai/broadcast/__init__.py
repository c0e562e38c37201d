"""One stream, many listeners: streams run once and any number of clients
follow them, resume them after a dropped connection, or stop them."""

from .base import (
    StreamEntry,
    StreamInfo,
    StreamRegistry,
    StreamStatus,
    Subscription,
    UnknownStreamError,
    Writer,
)
from .memory import MemoryStreamRegistry
from .sources import crew_events, public_error, response_events

__all__ = [
    "MemoryStreamRegistry",
    "StreamEntry",
    "StreamInfo",
    "StreamRegistry",
    "StreamStatus",
    "Subscription",
    "UnknownStreamError",
    "Writer",
    "crew_events",
    "public_error",
    "response_events",
]
