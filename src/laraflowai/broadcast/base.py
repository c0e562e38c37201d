"""What every stream registry offers: one producer, many listeners, an event log.

A stream is an append-only log of events. Entry 0 is always `start`; the last
one is `complete` or `error` (a stopped or abandoned stream ends with
`complete` carrying `"stopped": true`). Listeners read the log from a cursor,
so a listener that comes back after index `n` gets exactly the entries after
`n`: nothing lost, nothing repeated. The in-memory registry (`memory.py`)
serves one process; a Redis-backed one can implement the same interface for
several.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

from .._exceptions import UnknownStreamError

__all__ = [
    "Framer",
    "StreamEntry",
    "StreamInfo",
    "StreamRegistry",
    "StreamStatus",
    "Subscription",
    "UnknownStreamError",
    "Writer",
]

StreamStatus = Literal["running", "complete", "error", "stopped", "abandoned"]
TERMINAL_TYPES = frozenset({"complete", "error"})
# frame(stream id, index, JSON payload): one event as its listener's wire wants it
# (an SSE frame, say). Called once per event for all the listeners of a stream
# that pipe with the same function, which share the bytes. A framer may also
# have a `template`: its frame as bytes with `%s` for the stream id, the index
# and the payload, in that order, which the in-memory registry frames plain
# chunks with in one `%` (no call per chunk).
Framer = Callable[[str, int, bytes], bytes]
# write(frames): one or more whole frames, joined; how a listener takes events.
Writer = Callable[[bytes], Coroutine[Any, Any, None]]


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One event of a stream: its position, its type and its JSON payload."""

    index: int
    type: str
    data: bytes

    def payload(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.data)
        return value


@dataclass(frozen=True, slots=True)
class StreamInfo:
    stream_id: str
    status: StreamStatus
    events: int
    listeners: int
    started_at: float
    ended_at: float | None

    @property
    def ended(self) -> bool:
        return self.status != "running"


class Subscription(ABC):
    """One listener following one stream. Close it (or use `async with`) when
    the listener goes away: that is how the registry knows a stream is abandoned."""

    stream_id: str

    @property
    @abstractmethod
    def cursor(self) -> int:
        """Index of the next entry this listener will read."""

    @property
    @abstractmethod
    def exhausted(self) -> bool:
        """The stream has ended and this listener has read all of it."""

    @abstractmethod
    async def next(self) -> list[StreamEntry]:
        """The entries after the cursor, waiting until there is at least one;
        `[]` once the stream has ended and everything was read."""

    @abstractmethod
    async def aclose(self) -> None:
        """Detach from the stream (idempotent)."""

    async def pipe(self, frame: Framer, write: Writer) -> None:
        """Hand every entry from the cursor to `write`, encoded by `frame`,
        until the stream ends or this subscription is closed (which makes
        `pipe` return at once). Entries that are ready together go in one
        write. An error raised by `write` ends the piping and propagates."""
        stream_id = self.stream_id
        while batch := await self.next():
            await write(b"".join(frame(stream_id, entry.index, entry.data) for entry in batch))

    async def __aiter__(self) -> AsyncIterator[StreamEntry]:
        while batch := await self.next():
            for entry in batch:
                yield entry

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class StreamRegistry(ABC):
    """Running and recently ended streams by id.

    `start` runs a producer (an async iterator of event payloads, each a dict
    with a `type`) as a task owned by the registry. `stop` cancels it at once
    (the upstream request closes). When the last listener detaches from a
    running stream, the registry waits `resume_grace` seconds for one to come
    back, then cancels it. Ended streams stay readable for `retention` seconds.
    """

    resume_grace: float
    retention: float

    @abstractmethod
    async def start(
        self,
        events: AsyncIterator[Mapping[str, Any]],
        *,
        meta: Mapping[str, Any] | None = None,
    ) -> str:
        """Start streaming `events`; returns the new stream's id. Entry 0 is
        `{"type": "start", "stream_id": ..., **meta}`."""

    @abstractmethod
    async def subscribe(self, stream_id: str, after: int | None = None) -> Subscription:
        """Follow a stream from the start, or from just after entry `after`.

        Raises UnknownStreamError for an unknown or expired id and ValueError
        for an `after` beyond the stream's last entry."""

    @abstractmethod
    async def stop(self, stream_id: str) -> StreamInfo:
        """Cancel a running stream's producer now (a no-op for an ended one)."""

    @abstractmethod
    async def info(self, stream_id: str) -> StreamInfo | None: ...

    @abstractmethod
    async def aclose(self) -> None:
        """Cancel every running stream (server shutdown) and forget them all."""
