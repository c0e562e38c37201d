"""The in-process stream registry: streams live in this process's memory.

Each stream is a list of entries plus an `asyncio.Event` that is swapped for a
fresh one on every append, so any number of listeners wait on it and each
wakes once per change. All of it belongs to one event loop: call it from the
loop that serves your app.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from .base import (
    TERMINAL_TYPES,
    StreamEntry,
    StreamInfo,
    StreamRegistry,
    StreamStatus,
    Subscription,
    UnknownStreamError,
    encode_payload,
)

__all__ = ["MemoryStreamRegistry"]

logger = logging.getLogger("laraflowai.broadcast")

# How long stop() waits for a cancelled producer to close its upstream request.
_CANCEL_WAIT = 5.0
_STATUS_BY_REASON: dict[str, StreamStatus] = {
    "stop": "stopped",
    "abandoned": "abandoned",
    "shutdown": "stopped",
}


class _Stream:
    __slots__ = (
        "id", "log", "changed", "waiting", "listeners", "task", "status", "cancel_reason",
        "started_at", "ended_at", "grace_timer", "expiry_timer",
    )  # fmt: skip

    def __init__(self, stream_id: str) -> None:
        self.id = stream_id
        self.log: list[StreamEntry] = []
        self.changed = asyncio.Event()
        self.waiting = 0
        self.listeners = 0
        self.task: asyncio.Task[None] | None = None
        self.status: StreamStatus = "running"
        self.cancel_reason: str | None = None
        self.started_at = time.time()
        self.ended_at: float | None = None
        self.grace_timer: asyncio.TimerHandle | None = None
        self.expiry_timer: asyncio.TimerHandle | None = None


class _MemorySubscription(Subscription):
    __slots__ = ("stream_id", "_registry", "_stream", "_cursor", "_closed")

    def __init__(self, registry: MemoryStreamRegistry, stream: _Stream, cursor: int) -> None:
        self.stream_id = stream.id
        self._registry = registry
        self._stream = stream
        self._cursor = cursor
        self._closed = False

    @property
    def cursor(self) -> int:
        return self._cursor

    @property
    def exhausted(self) -> bool:
        stream = self._stream
        return stream.status != "running" and self._cursor >= len(stream.log)

    async def next(self) -> list[StreamEntry]:
        stream = self._stream
        while not self._closed:
            log = stream.log
            if self._cursor < len(log):
                batch = log[self._cursor :]
                self._cursor = len(log)
                return batch
            if stream.status != "running":
                return []
            stream.waiting += 1
            try:
                await stream.changed.wait()
            finally:
                stream.waiting -= 1
        return []

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._registry._detach(self._stream)

    def __repr__(self) -> str:
        return f"<Subscription {self.stream_id} cursor={self._cursor}>"


class MemoryStreamRegistry(StreamRegistry):
    """Streams in this process. `resume_grace`: seconds a running stream with
    no listener waits for one to come back before it is cancelled (0: at once).
    `retention`: seconds an ended stream stays readable."""

    def __init__(self, *, resume_grace: float = 15.0, retention: float = 300.0) -> None:
        if resume_grace < 0 or retention < 0:
            raise ValueError("resume_grace and retention must be at least 0 seconds")
        self.resume_grace = resume_grace
        self.retention = retention
        self._streams: dict[str, _Stream] = {}

    async def start(
        self,
        events: AsyncIterator[Mapping[str, Any]],
        *,
        meta: Mapping[str, Any] | None = None,
    ) -> str:
        stream_id = secrets.token_hex(12)
        stream = _Stream(stream_id)
        self._streams[stream_id] = stream
        self._append(stream, {"type": "start", "stream_id": stream_id, **(meta or {})})
        task = asyncio.create_task(self._run(stream, events), name=f"laraflowai-{stream_id}")
        task.add_done_callback(lambda _: self._finalize(stream))
        stream.task = task
        return stream_id

    async def subscribe(self, stream_id: str, after: int | None = None) -> Subscription:
        stream = self._get(stream_id)
        if after is not None and not 0 <= after < len(stream.log):
            raise ValueError(
                f"stream {stream_id} has no event {after} (it has {len(stream.log)} so far)"
            )
        stream.listeners += 1
        if stream.grace_timer is not None:
            stream.grace_timer.cancel()
            stream.grace_timer = None
        return _MemorySubscription(self, stream, 0 if after is None else after + 1)

    async def stop(self, stream_id: str) -> StreamInfo:
        stream = self._get(stream_id)
        task = stream.task
        if stream.status == "running" and task is not None:
            stream.cancel_reason = stream.cancel_reason or "stop"
            task.cancel()
            await asyncio.wait({task}, timeout=_CANCEL_WAIT)
            self._finalize(stream)
        return self._info(stream)

    async def info(self, stream_id: str) -> StreamInfo | None:
        stream = self._streams.get(stream_id)
        return None if stream is None else self._info(stream)

    async def aclose(self) -> None:
        streams = list(self._streams.values())
        tasks = []
        for stream in streams:
            if stream.status == "running" and stream.task is not None:
                stream.cancel_reason = stream.cancel_reason or "shutdown"
                stream.task.cancel()
                tasks.append(stream.task)
        if tasks:
            await asyncio.wait(tasks, timeout=_CANCEL_WAIT)
        for stream in streams:
            self._finalize(stream)
            for timer in (stream.grace_timer, stream.expiry_timer):
                if timer is not None:
                    timer.cancel()
        self._streams.clear()

    def __len__(self) -> int:
        return len(self._streams)

    # internals

    def _get(self, stream_id: str) -> _Stream:
        stream = self._streams.get(stream_id)
        if stream is None:
            raise UnknownStreamError(
                f"no stream {stream_id!r}: it never existed here or its retention window ended"
            )
        return stream

    def _info(self, stream: _Stream) -> StreamInfo:
        return StreamInfo(
            stream.id,
            stream.status,
            len(stream.log),
            stream.listeners,
            stream.started_at,
            stream.ended_at,
        )

    async def _run(self, stream: _Stream, events: AsyncIterator[Mapping[str, Any]]) -> None:
        try:
            async for payload in events:
                if stream.status != "running":  # ended meanwhile (stop() gave up waiting)
                    break
                self._append(stream, payload)
                if stream.status != "running":
                    break
        except asyncio.CancelledError:
            # Cancelled by stop(), abandonment or shutdown: _finalize writes the last event.
            pass
        except Exception:
            logger.exception("stream %s: the producer failed", stream.id)
            if stream.status == "running":
                self._append(
                    stream,
                    {"type": "error", "message": "The answer could not be completed."},
                )
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()

    def _append(self, stream: _Stream, payload: Mapping[str, Any]) -> None:
        kind = payload.get("type")
        if not isinstance(kind, str):
            raise ValueError(f"a stream event needs a string 'type', got {payload!r}")
        stream.log.append(StreamEntry(len(stream.log), kind, encode_payload(payload), time.time()))
        if kind in TERMINAL_TYPES:
            if kind == "error":
                status: StreamStatus = "error"
            elif payload.get("stopped"):
                status = _STATUS_BY_REASON.get(str(payload.get("reason")), "stopped")
            else:
                status = "complete"
            self._end(stream, status)
        if stream.waiting:
            event, stream.changed = stream.changed, asyncio.Event()
            event.set()

    def _finalize(self, stream: _Stream) -> None:
        """Give a stream whose producer is over its last event, if it has none."""
        if stream.status != "running":
            return
        reason = stream.cancel_reason
        if reason is None:
            self._append(stream, {"type": "complete"})
        else:
            self._append(stream, {"type": "complete", "stopped": True, "reason": reason})

    def _end(self, stream: _Stream, status: StreamStatus) -> None:
        stream.status = status
        stream.ended_at = time.time()
        if stream.grace_timer is not None:
            stream.grace_timer.cancel()
            stream.grace_timer = None
        loop = asyncio.get_running_loop()
        stream.expiry_timer = loop.call_later(self.retention, self._forget, stream)

    def _forget(self, stream: _Stream) -> None:
        if self._streams.get(stream.id) is stream:
            del self._streams[stream.id]

    def _detach(self, stream: _Stream) -> None:
        stream.listeners -= 1
        if stream.listeners > 0 or stream.status != "running":
            return
        if self.resume_grace <= 0:
            self._abandon(stream)
        else:
            loop = asyncio.get_running_loop()
            stream.grace_timer = loop.call_later(self.resume_grace, self._abandon, stream)

    def _abandon(self, stream: _Stream) -> None:
        stream.grace_timer = None
        if stream.status == "running" and stream.listeners == 0 and stream.task is not None:
            stream.cancel_reason = stream.cancel_reason or "abandoned"
            stream.task.cancel()
