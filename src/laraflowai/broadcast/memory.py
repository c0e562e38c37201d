"""The in-process stream registry: streams live in this process's memory.

Each stream is a compact event log (`_log.py`). A listener that pipes the
stream to a connection (`Subscription.pipe`) is written to from the
producer's own task as each event is appended, with no task switch while its
socket takes the bytes at once; one whose socket is full catches up from the
log in a task of its own, without holding up the producer or the others.
Listeners that read with `next()` wait on a future resolved by the append.
Besides the event dicts every registry takes, a producer may yield a plain
chunk as a str (short for `{"type": "chunk", "chunk": ...}`, a dict fewer
per chunk). A producer with `pump(append)` (an agent's answer, sources.py) is
run by it instead: its task calls `append(payload)` for each event from its
own frame, no generator step per event.
All of it belongs to one event loop: call it from the loop that serves your app.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import time
from collections.abc import AsyncIterator, Generator, Mapping
from typing import Any

from ._eager import WRITTEN, finish, writes
from ._log import CHUNK_FORMAT, NEWLINE, EventLog, dumps
from .base import (
    TERMINAL_TYPES,
    Framer,
    StreamEntry,
    StreamInfo,
    StreamRegistry,
    StreamStatus,
    Subscription,
    UnknownStreamError,
    Writer,
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


class _Stream(EventLog):
    """A stream: its event log, its listeners and its producer."""

    __slots__ = (
        "id", "registry", "waiters", "pipes", "live", "listeners", "task", "events", "status",
        "cancel_reason", "started_at", "ended_at", "grace_timer", "expiry_timer",
    )  # fmt: skip

    def __init__(self, stream_id: str, registry: MemoryStreamRegistry) -> None:
        super().__init__()
        self.id = stream_id
        self.registry = registry
        self.waiters: list[asyncio.Future[None]] = []
        self.pipes: list[_MemorySubscription] = []
        # The one piped listener, when there is one, its framer has a chunk
        # template (nearly always) and it has had every event with no write
        # under way: push() writes to it with no checks. Its cursor is then
        # the log's length, and is written to it when it stops being live.
        self.live: _MemorySubscription | None = None
        self.listeners = 0
        self.task: asyncio.Task[None] | None = None
        self.status: StreamStatus = "running"
        self.cancel_reason: str | None = None
        self.events: Any = None  # the producer: its cancel(reason) stops a response at once
        self.started_at = time.time()
        self.ended_at: float | None = None
        self.grace_timer: asyncio.TimerHandle | None = None
        self.expiry_timer: asyncio.TimerHandle | None = None

    def push(self, payload: Mapping[str, Any] | str) -> None:
        """The producer's next event; raises _Ended when the stream has already
        ended (its last event, or stop() that gave up waiting for the
        producer). A method of the stream: the producer calls it bound, the
        cheapest call."""
        if type(payload) is not str or self.status != "running":
            self._push(payload)
            return
        # A plain chunk, the hot path: append_chunk() and _fan_out()'s work for
        # the one listener (and _send()'s), inline.
        stored = dumps(payload)
        index = self._count
        data = self._data
        data += stored
        data.append(NEWLINE)
        self._count = index + 1
        if self.waiters:
            _wake(self)
        pipe = self.live
        if pipe is None:
            if self.pipes:
                _fan_out(self, index, b"", stored)
            return
        try:
            waiting_on = pipe._writes.send(pipe._chunks % (index, stored))  # type: ignore[operator,union-attr]
        except Exception as error:
            pipe._failed(error)
            return
        if waiting_on is not WRITTEN:
            pipe._wait(waiting_on)

    def _push(self, payload: Mapping[str, Any] | str) -> None:
        if self.status != "running":
            raise _Ended
        self.registry._append(self, payload)

    def relive(self) -> None:
        """Which listener push() writes to, after a change to the pipes or to
        a write."""
        live, pipes, count = self.live, self.pipes, self._count
        if live is not None:
            live._cursor = count  # it has had every event
        if len(pipes) == 1:
            pipe = pipes[0]
            if pipe._chunks is not None and pipe._writing is None and pipe._cursor == count:
                self.live = pipe
                return
        self.live = None


class _MemorySubscription(Subscription):
    __slots__ = (
        "stream_id", "_registry", "_stream", "_cursor", "_closed", "_frame", "_chunks", "_writes",
        "_writing", "_piped",
    )  # fmt: skip

    def __init__(self, registry: MemoryStreamRegistry, stream: _Stream, cursor: int) -> None:
        self.stream_id = stream.id
        self._registry = registry
        self._stream = stream
        self._cursor = cursor
        self._closed = False
        self._frame: Framer | None = None
        self._chunks: bytes | None = None  # the frame of a plain chunk as a %-format
        self._writes: Generator[Any, bytes, None] | None = None  # runs this listener's writes
        self._writing: asyncio.Future[None] | None = None  # a write that had to wait
        self._piped: asyncio.Future[None] | None = None  # what pipe() awaits

    @property
    def cursor(self) -> int:
        stream = self._stream
        return len(stream) if stream.live is self else self._cursor

    @property
    def exhausted(self) -> bool:
        stream = self._stream
        return stream.status != "running" and self.cursor >= len(stream)

    async def next(self) -> list[StreamEntry]:
        stream = self._stream
        while not self._closed:
            start, end = self._cursor, len(stream)
            if start < end:
                self._cursor = end
                return [StreamEntry(*entry) for entry in stream.entries(start, end)]
            if stream.status != "running":
                return []
            waiter = asyncio.get_running_loop().create_future()
            stream.waiters.append(waiter)
            try:
                await waiter
            finally:
                if not waiter.done():  # cancelled: forget it
                    stream.waiters.remove(waiter)
        return []

    async def pipe(self, frame: Framer, write: Writer) -> None:
        if self._piped is not None:
            raise RuntimeError("this subscription is already being piped")
        self._frame = frame
        self._chunks = _chunk_format(frame, self.stream_id)
        self._writes = writes(write)
        self._piped = piped = asyncio.get_running_loop().create_future()
        if self._closed:
            return
        self._stream.pipes.append(self)
        self._stream.relive()
        try:
            self._flush()
            await piped
        finally:
            self._release()
            if self._writing is not None:
                self._writing.cancel()

    def _send(self, data: bytes) -> None:
        """Start writing `data`: in place while the socket takes it, else the
        rest in a task, after which the listener catches up from the log."""
        assert self._writes is not None
        try:
            waiting_on = self._writes.send(data)
        except Exception as error:
            self._failed(error)
            return
        if waiting_on is not WRITTEN:
            self._wait(waiting_on)

    def _wait(self, waiting_on: Any) -> None:
        assert self._writes is not None
        self._writing = writing = finish(self._writes, waiting_on)
        writing.add_done_callback(self._written)
        if self._stream.live is self:
            self._stream.relive()

    def _failed(self, error: Exception) -> None:
        """The connection is gone: this listener is done."""
        assert self._piped is not None
        if not self._piped.done():
            self._piped.set_exception(error)

    def _flush(self) -> None:
        """Write whatever the listener has not had yet, all of it in one write,
        unless a write is under way; end the pipe once the ended stream is read."""
        stream, piped = self._stream, self._piped
        if self._writing is not None or piped is None or piped.done():
            return
        start, end = self.cursor, len(stream)
        if start < end:
            self._cursor = end
            frame, stream_id = self._frame, stream.id
            assert frame is not None
            self._send(
                b"".join(frame(stream_id, i, data) for i, _, data in stream.entries(start, end))
            )
            if self._writing is not None or piped.done():
                return
        if stream.status != "running":
            piped.set_result(None)
        elif stream.live is None:  # caught up: push() may write to it
            stream.relive()

    def _written(self, writing: asyncio.Future[None]) -> None:
        self._writing = None
        piped = self._piped
        if piped is None or piped.done():
            return
        if writing.cancelled():
            piped.cancel()
        elif (error := writing.exception()) is not None:
            piped.set_exception(error)
        else:
            self._flush()

    def _release(self) -> None:
        pipes = self._stream.pipes
        if self in pipes:
            pipes.remove(self)
            self._stream.relive()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._release()
            if self._piped is not None and not self._piped.done():
                self._piped.set_result(None)
            _wake(self._stream)  # a next() of this subscription waiting in another task ends
            self._registry._detach(self._stream)

    def __repr__(self) -> str:
        return f"<Subscription {self.stream_id} cursor={self.cursor}>"


class _Ended(Exception):
    """Raised to the producer by an event of a stream that has ended: stop."""


def _chunk_format(frame: Framer, stream_id: str) -> bytes | None:
    """`frame`'s frame of a plain chunk of this stream as a %-format of the
    index and the chunk's JSON string, if the framer has a `template`."""
    template = getattr(frame, "template", None)
    if not isinstance(template, bytes):
        return None
    literal = stream_id.encode().replace(b"%", b"%%")
    return template.replace(b"%%", b"%%%%") % (literal, b"%d", CHUNK_FORMAT)


def _fan_out(stream: _Stream, index: int, data: bytes, chunk: bytes | None = None) -> None:
    """Event `index` (`chunk`: a plain chunk's JSON string, `data` then
    unused) to every piped listener. One that has had everything before it and
    is not waiting for its socket (nearly always all of them) gets it now,
    encoded once for all that share its framer; the others catch up from the
    log when their write ends."""
    framer: Framer | None = None
    frame = b""
    ended = stream.status != "running"
    live = stream.live
    for pipe in tuple(stream.pipes):
        if pipe is live or (pipe._cursor == index and pipe._writing is None):
            if pipe._frame is not framer:
                framer = pipe._frame
                if chunk is None:
                    frame = framer(stream.id, index, data)  # type: ignore[misc]
                elif pipe._chunks is not None:
                    frame = pipe._chunks % (index, chunk)
                else:
                    frame = framer(stream.id, index, CHUNK_FORMAT % chunk)  # type: ignore[misc]
            pipe._cursor = index + 1
            pipe._send(frame)
        if ended:
            pipe._flush()


def _wake(stream: _Stream) -> None:
    waiters, stream.waiters = stream.waiters, []
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)


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
        events: AsyncIterator[Mapping[str, Any] | str],
        *,
        meta: Mapping[str, Any] | None = None,
    ) -> str:
        stream_id = secrets.token_hex(12)
        stream = _Stream(stream_id, self)
        self._streams[stream_id] = stream
        self._append(stream, {"type": "start", "stream_id": stream_id, **(meta or {})})
        # A producer that pushes (sources.ResponseEvents) is run as it is: an
        # await level less per event than _run.
        pump = getattr(events, "pump", None)
        work = pump(stream.push) if pump is not None else self._run(stream, events)
        task = asyncio.create_task(work, name=f"laraflowai-{stream_id}")
        task.add_done_callback(functools.partial(self._producer_done, stream))
        stream.task = task
        stream.events = events
        return stream_id

    async def subscribe(self, stream_id: str, after: int | None = None) -> Subscription:
        stream = self._get(stream_id)
        if after is not None and not 0 <= after < len(stream):
            raise ValueError(
                f"stream {stream_id} has no event {after} (it has {len(stream)} so far)"
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
            _interrupt(stream, "stop")
            await asyncio.wait({task}, timeout=_CANCEL_WAIT)
            if not task.done():  # a producer that did not end on its cancel
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
                _interrupt(stream, "shutdown")
                tasks.append(stream.task)
        if tasks:
            await asyncio.wait(tasks, timeout=_CANCEL_WAIT)
            late = [task for task in tasks if not task.done()]
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=_CANCEL_WAIT)
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
            len(stream),
            stream.listeners,
            stream.started_at,
            stream.ended_at,
        )

    async def _run(self, stream: _Stream, events: AsyncIterator[Mapping[str, Any] | str]) -> None:
        try:
            async for payload in events:
                stream.push(payload)
                if stream.status != "running":  # that was its last event
                    break
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()

    def _producer_done(self, stream: _Stream, task: asyncio.Task[None]) -> None:
        # Cancelled by stop(), abandonment or shutdown, or ended by push: _finalize
        # writes the last event, if the producer did not.
        if not task.cancelled():
            error = task.exception()
            if error is not None and not isinstance(error, _Ended):
                logger.error("stream %s: the producer failed", stream.id, exc_info=error)
                if stream.status == "running":
                    self._append(
                        stream,
                        {"type": "error", "message": "The answer could not be completed."},
                    )
        self._finalize(stream)
        # What only a running stream needs: an ended one keeps its log, not the
        # producer's objects (the answer, its reader, their frames) for its
        # retention window, where the memory and every GC pass would pay for them.
        stream.task = stream.events = None

    def _append(self, stream: _Stream, payload: Mapping[str, Any] | str) -> None:
        index, kind, data = stream.append(payload)
        if kind in TERMINAL_TYPES:
            assert not isinstance(payload, str)  # a str is a chunk
            if kind == "error":
                status: StreamStatus = "error"
            elif payload.get("stopped"):
                status = _STATUS_BY_REASON.get(str(payload.get("reason")), "stopped")
            else:
                status = "complete"
            self._end(stream, status)
        if stream.waiters:
            _wake(stream)
        if stream.pipes:
            _fan_out(stream, index, data)

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
        # The fired timer's handle holds the stream (its argument) and the stream
        # holds the handle: break that cycle, and drop the producer, so the log's
        # memory goes now, not at the cycle collector's next pass.
        stream.expiry_timer = stream.grace_timer = None
        stream.task = None
        stream.events = None

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
            _interrupt(stream, "abandoned")


def _interrupt(stream: _Stream, reason: str) -> None:
    """Stop a running stream's producer: through its `cancel(reason)` when it has
    one (a response's: the provider request ends at once and the producer
    returns without an error event), else by cancelling its task."""
    stream.cancel_reason = stream.cancel_reason or reason
    cancel = getattr(stream.events, "cancel", None)
    if cancel is not None:
        cancel(stream.cancel_reason)
    elif stream.task is not None:
        stream.task.cancel()
