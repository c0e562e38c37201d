"""StreamingResponse and AsyncStreamingResponse: two thin drivers around one
StreamState, side by side, methods in the same order.

The upstream request opens on the first read, not before. Closing a response
(`close()`, `with`, `async with`) closes the provider connection at once;
`cancel()` does the same from another thread (sync) or task (async), ending a
read in progress there with StreamCancelledError. Both go through the reader's
one `Cancel` (see `_cancel`).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self, TypeAlias

from .._exceptions import ConfigurationError, LaraFlowAIError, StreamInterruptedError
from .._types import ChunkCallback
from ..wire import (
    Event,
    ProviderToolCall,
    ProviderToolResult,
    TextDelta,
    ToolCall,
    ToolResult,
    Usage,
)
from ._flush import FlushTimer
from ._inflight import AsyncFlightReader, DirectAsyncReader, FlightReader
from ._inprocess import Timed
from ._objects import OutputType
from ._state import StreamState, StreamStats, added
from ._steps import AsyncStepReader, StepReader

SyncReader: TypeAlias = FlightReader | StepReader
AsyncReader: TypeAlias = AsyncFlightReader | DirectAsyncReader | AsyncStepReader

__all__ = ["AsyncStreamingResponse", "Response", "StreamingResponse", "caught_up"]


@dataclass(slots=True)
class Response:
    """A complete answer."""

    content: str
    agent_role: str
    provider: str | None = None
    model: str | None = None
    usage: Usage | None = None
    finish_reason: str | None = None
    reasoning: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_results: list[ToolResult] = field(default_factory=list)
    provider_tools: list[ProviderToolCall | ProviderToolResult] = field(default_factory=list)
    execution_time: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict, repr=False)

    def get_content(self) -> str:
        return self.content

    def get_agent_role(self) -> str:
        return self.agent_role

    def get_execution_time(self) -> float:
        return self.execution_time

    def get_tool_calls(self) -> list[ToolCall]:
        return self.tool_calls

    def get_stats(self) -> dict[str, Any]:
        return dict(self.stats)

    def __str__(self) -> str:
        return self.content


def _response(state: StreamState) -> Response:
    stats = state.stats()
    return Response(
        content=state.content,
        agent_role=stats.agent_role,
        provider=stats.provider,
        model=stats.model,
        usage=state.usage,
        finish_reason=stats.finish_reason,
        reasoning="".join(state.reasoning),
        tool_calls=list(state.tool_calls),
        tool_results=list(state.tool_results),
        provider_tools=list(state.provider_tools),
        execution_time=stats.execution_time,
        stats=stats.as_dict(),
    )


def _check_buffer_size(size: int) -> int:
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ConfigurationError(
            f"the buffer size must be a whole number of at least 1, got {size!r}"
        )
    return size


def _decisions(paused: Any, approve: bool | Mapping[str, bool]) -> dict[str | None, bool]:
    if paused is None:
        raise ConfigurationError(
            "this stream is not waiting for approval: resume() goes on with a stream whose "
            "finish_reason is 'approval' (see pending_approvals)"
        )
    calls: tuple[ToolCall, ...] = paused.calls
    if isinstance(approve, bool):
        return {call.id: approve for call in calls}
    if not isinstance(approve, Mapping) or not all(isinstance(v, bool) for v in approve.values()):
        raise ConfigurationError(
            "approve must be True, False or a dict of call id -> True/False, e.g. "
            "{call.id: True for call in response.pending_approvals}"
        )
    known = {call.id for call in calls}
    unknown = [key for key in approve if key not in known]
    if unknown:
        raise ConfigurationError(
            f"no pending call has the id {unknown[0]!r}; the pending ids are "
            f"{', '.join(map(repr, known))}"
        )
    # A call left out is not approved.
    return {call.id: bool(approve.get(call.id or "", False)) for call in calls}


class _Common:
    """What both drivers do without I/O."""

    _state: StreamState
    _reader: SyncReader | AsyncReader | None
    _output: OutputType | None

    def get_stats(self) -> dict[str, Any]:
        """The stream's statistics (counts, timings, usage, cache) as a dict."""
        return self.stats().as_dict()

    def stats(self) -> StreamStats:
        """The stream's statistics, typed."""
        self._note_cached()
        return self._state.stats()

    def _note_cached(self) -> None:
        # The reader knows whether its events came from the cache; the state must
        # not hold the reader (that cycle would keep a dropped response open).
        reader = self._reader
        if reader is not None and reader.cached:
            self._state.counts.cached = True

    def _read_ended(self, error: Exception) -> None:
        """A read raised: the upstream's end (StopIteration or StopAsyncIteration),
        a typed error, or a bug below us (typed; the text so far is kept)."""
        state = self._state
        if isinstance(error, StopIteration | StopAsyncIteration):
            self._note_cached()
            state.end()
        else:
            state.fail(error if isinstance(error, LaraFlowAIError) else _untyped(error))

    def set_buffer_size(self, size: int) -> Self:
        """Coalesce deltas into chunks of at least `size` characters (fluent)."""
        self._state.chunker.min_chars = _check_buffer_size(size)
        return self

    def get_buffer(self) -> str:
        """Text that arrived from the provider but has not been handed out yet."""
        return self._state.buffered

    def clear_buffer(self) -> Self:
        """Release the buffered text as the next chunk now, instead of waiting for
        the buffer to fill. Nothing is dropped (fluent)."""
        self._state.flush_buffer()
        return self

    def on_chunk(self, callback: ChunkCallback) -> Self:
        """Call `callback(chunk, full_content_so_far)` for every chunk (fluent)."""
        if not callable(callback):
            raise ConfigurationError(f"on_chunk needs a callable, got {type(callback).__name__}")
        state = self._state
        state.callbacks = added(state.callbacks, callback)
        return self

    def is_complete(self) -> bool:
        """True once the provider finished and every chunk was handed out."""
        return self._state.complete

    def get_execution_time(self) -> float:
        return self._state.execution_time()

    @property
    def partial_content(self) -> str:
        """The text handed out so far, without reading further."""
        return self._state.content

    def get_content_length(self) -> int:
        """Characters handed out so far."""
        return len(self._state.content) + self._state.unkept

    def get_agent_role(self) -> str:
        return self._state.counts.agent_role

    @property
    def usage(self) -> Usage | None:
        return self._state.usage

    @property
    def finish_reason(self) -> str | None:
        return self._state.finish.reason if self._state.finish else None

    @property
    def reasoning(self) -> str:
        return "".join(self._state.reasoning)

    @property
    def tool_calls(self) -> list[ToolCall]:
        return list(self._state.tool_calls)

    @property
    def tool_results(self) -> list[ToolResult]:
        """What each tool the agent ran gave back, in order."""
        return list(self._state.tool_results)

    @property
    def provider_tools(self) -> list[ProviderToolCall | ProviderToolResult]:
        """Tools the provider ran itself (web search, code execution...), with results."""
        return list(self._state.provider_tools)

    @property
    def pending_approvals(self) -> list[ToolCall]:
        """The calls a paused run waits on (finish_reason "approval"): approve or
        refuse them with `resume()`."""
        paused = getattr(self._reader, "paused", None)
        return list(paused.calls) if paused is not None else []

    def _output_type(self) -> OutputType:
        if self._output is None:
            raise ConfigurationError(
                "this stream was not asked for structured output: pass output_type=... to "
                "agent.stream() to read objects"
            )
        return self._output

    def _partial(self) -> Any:
        state = self._state
        return self._output_type().partial(state.content[state.answer_start :])


class StreamingResponse(_Common):
    """A streaming answer, read chunk by chunk as the provider sends it."""

    def __init__(
        self,
        open_reader: Callable[[], SyncReader],
        state: StreamState,
        chunk_delay: float = 0,
        output: OutputType | None = None,
    ) -> None:
        self._open = open_reader
        self._reader: SyncReader | None = None
        self._cancelled = False
        self._state = state
        self._delay = chunk_delay
        self._last_chunk_at = 0.0
        self._output = output

    def _start(self) -> SyncReader:
        self._state.start()
        reader = self._reader = self._open()
        if self._cancelled:  # cancel() ran in another thread before the reader existed
            reader.cancel()
        return reader

    def _advance(self) -> None:
        state = self._state
        reader = self._reader or self._start()
        timeout = None
        since = state.chunker.pending_since
        if since is not None and state.flush_after:
            # Part of a chunk is waiting: wait for more text only until it is due.
            timeout = since + state.flush_after - time.monotonic()
            if timeout <= 0:
                state.flush_buffer()
                return
        try:
            event = reader.read(timeout)
        except Exception as error:
            self._read_ended(error)
        else:
            if event is None:
                state.flush_buffer()
            else:
                state.apply(event)

    def _ready(self) -> bool:
        """Read until a chunk is ready (True) or the stream is over (False)."""
        state = self._state
        while not state.ready:
            if state.ended:
                state.raise_error()
                return False
            self._advance()
        return True

    def get_next_chunk(self) -> str | None:
        """The next chunk of text, or None once the answer is finished."""
        try:
            return self.__next__()
        except StopIteration:
            return None

    def has_more_chunks(self) -> bool:
        """Whether get_next_chunk() will return text (waits for it to arrive)."""
        return self._ready()

    def get_content(self) -> str:
        """Read the rest of the stream and return the whole answer."""
        while self.get_next_chunk() is not None:
            pass
        return self._state.content

    def to_response(self) -> Response:
        self.get_content()
        return _response(self._state)

    def objects(self) -> Iterator[Any]:
        """With `output_type=`: the answer's value as its JSON grows, one partial
        value (dicts, lists, strings) each time it changes; the last is the
        whole value, unvalidated (get_object() validates)."""
        self._output_type()
        last: Any = None
        for _ in self:
            value = self._partial()
            if value is not None and value != last:
                last = value
                yield value

    def get_object(self) -> Any:
        """With `output_type=`: read the rest and return the answer as an
        instance of the type (OutputValidationError if it is not one)."""
        output = self._output_type()
        self.get_content()
        state = self._state
        return output.validate(state.content[state.answer_start :])

    def resume(self, approve: bool | Mapping[str, bool] = True) -> StreamingResponse:
        """Go on with a run paused for approval (finish_reason "approval"):
        `approve` is True (run every pending call), False (refuse them all; the
        model is told) or `{call_id: bool}`. Returns the stream of the rest."""
        reader = self._reader
        decisions = _decisions(getattr(reader, "paused", None), approve)
        assert isinstance(reader, StepReader)
        state = self._state.fresh()
        return StreamingResponse(
            lambda: reader.resumed(decisions, state), state, self._delay, self._output
        )

    def events(self) -> Iterator[Event]:
        """The typed events (text, reasoning, tool calls, usage, finish) as they
        arrive. Text still counts towards get_content() and the callbacks."""
        state = self._state
        reader = self._reader or self._start()
        while not state.ended:
            try:
                event = reader.read()
            except Exception as error:
                self._read_ended(error)
                break
            assert event is not None
            state.apply(event)
            while state.ready:
                state.take()
            yield event
        while state.ready:
            state.take()
        state.raise_error()

    def cancel(self) -> None:
        """Stop the stream from any thread: a read in progress in another thread
        (even one blocked on the socket) or the next read raises
        StreamCancelledError, with the text that arrived before it. The provider
        connection closes now unless an identical request still reads the same
        stream."""
        self._cancelled = True
        reader = self._reader
        if reader is not None:
            reader.cancel()

    def close(self) -> None:
        """Stop reading (from the reading thread); the provider connection
        closes now unless an identical request still reads the same stream."""
        reader = self._reader
        if reader is not None:
            reader.close()
        self._state.close()

    def __iter__(self) -> StreamingResponse:
        return self

    def __next__(self) -> str:
        # _ready() and _advance() inlined, and a delta that is a chunk as it is
        # handed out without the ready queue: this runs once per chunk.
        state = self._state
        while not state.ready:
            if state.ended:
                state.raise_error()
                raise StopIteration
            reader = self._reader or self._start()
            timeout = None
            since = state.chunker.pending_since
            if since is not None and state.flush_after:
                timeout = since + state.flush_after - time.monotonic()
                if timeout <= 0:
                    state.flush_buffer()
                    continue
            try:
                event = reader.read(timeout)
            except Exception as error:
                self._read_ended(error)
            else:
                if event is None:
                    state.flush_buffer()
                elif type(event) is TextDelta and not self._delay:
                    chunk = state.apply_text(event.text)
                    if chunk is not None:
                        return chunk
                else:
                    state.apply(event)
        if self._delay:
            wait = self._last_chunk_at + self._delay - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_chunk_at = time.monotonic()
        return state.take()

    def __enter__(self) -> StreamingResponse:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = self._state
        counts = state.counts
        return (
            f"<StreamingResponse {counts.provider}/{counts.model} agent={counts.agent_role!r} "
            f"chunks={counts.chunk_count} complete={state.complete}>"
        )


class AsyncStreamingResponse(_Common):
    """The async twin of StreamingResponse: `await` the reading methods."""

    def __init__(
        self,
        open_reader: Callable[[], AsyncReader],
        state: StreamState,
        chunk_delay: float = 0,
        output: OutputType | None = None,
    ) -> None:
        self._open = open_reader
        self._reader: AsyncReader | None = None
        self._cancelled = False
        self._state = state
        self._delay = chunk_delay
        self._last_chunk_at = 0.0
        self._output = output

    def _start(self) -> AsyncReader:
        self._state.start()
        reader = self._reader = self._open()
        if self._cancelled:
            reader.cancel()
        return reader

    async def _advance(self) -> None:
        state = self._state
        reader = self._reader or self._start()
        timeout = None
        since = state.chunker.pending_since
        if since is not None and state.flush_after:
            timeout = since + state.flush_after - time.monotonic()
            if timeout <= 0:
                state.flush_buffer()
                return
        try:
            event = await reader.read(timeout)
        except Exception as error:
            self._read_ended(error)
        else:
            if event is None:
                state.flush_buffer()
            else:
                state.apply(event)

    async def _ready(self) -> bool:
        state = self._state
        while not state.ready:
            if state.ended:
                state.raise_error()
                return False
            await self._advance()
        return True

    async def get_next_chunk(self) -> str | None:
        try:
            return await self.__anext__()
        except StopAsyncIteration:
            return None

    async def has_more_chunks(self) -> bool:
        return await self._ready()

    async def get_content(self) -> str:
        while await self.get_next_chunk() is not None:
            pass
        return self._state.content

    async def to_response(self) -> Response:
        await self.get_content()
        return _response(self._state)

    async def objects(self) -> AsyncIterator[Any]:
        """The async twin of StreamingResponse.objects()."""
        self._output_type()
        last: Any = None
        async for _ in self:
            value = self._partial()
            if value is not None and value != last:
                last = value
                yield value

    async def get_object(self) -> Any:
        output = self._output_type()
        await self.get_content()
        state = self._state
        return output.validate(state.content[state.answer_start :])

    def resume(self, approve: bool | Mapping[str, bool] = True) -> AsyncStreamingResponse:
        """The async twin of StreamingResponse.resume()."""
        reader = self._reader
        decisions = _decisions(getattr(reader, "paused", None), approve)
        assert isinstance(reader, AsyncStepReader)
        state = self._state.fresh()
        return AsyncStreamingResponse(
            lambda: reader.resumed(decisions, state), state, self._delay, self._output
        )

    async def events(self) -> AsyncIterator[Event]:
        state = self._state
        reader = self._reader or self._start()
        while not state.ended:
            try:
                event = await reader.read()
            except Exception as error:
                self._read_ended(error)
                break
            assert event is not None
            state.apply(event)
            while state.ready:
                state.take()
            yield event
        while state.ready:
            state.take()
        state.raise_error()

    def cancel(self) -> None:
        """Stop the stream from any task of its event loop (from another thread:
        `loop.call_soon_threadsafe(response.cancel)`): the read in progress, or
        the next one, raises StreamCancelledError, with the text that arrived
        before it. The provider connection closes unless an identical request
        still reads the same stream."""
        self._cancelled = True
        reader = self._reader
        if reader is not None:
            reader.cancel()

    async def aclose(self) -> None:
        reader = self._reader
        if reader is not None:
            await reader.aclose()
        self._state.close()

    def __aiter__(self) -> AsyncStreamingResponse:
        return self

    async def __anext__(self) -> str:
        # _ready() and _advance() inlined (a coroutine less per chunk), and a
        # delta that is a chunk as it is handed out without the ready queue.
        state = self._state
        while not state.ready:
            if state.ended:
                state.raise_error()
                raise StopAsyncIteration
            reader = self._reader or self._start()
            timeout = None
            since = state.chunker.pending_since
            if since is not None and state.flush_after:
                timeout = since + state.flush_after - time.monotonic()
                if timeout <= 0:
                    state.flush_buffer()
                    continue
            try:
                event = await reader.read(timeout)
            except Exception as error:
                self._read_ended(error)
            else:
                if event is None:
                    state.flush_buffer()
                elif type(event) is TextDelta and not self._delay:
                    chunk = state.apply_text(event.text)
                    if chunk is not None:
                        return chunk
                else:
                    state.apply(event)
        if self._delay:
            wait = self._last_chunk_at + self._delay - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last_chunk_at = time.monotonic()
        return state.take()

    def forward(
        self,
        on_chunk: Callable[[str], object],
        max_chars: int | None = None,
        *,
        keep_text: bool = True,
    ) -> Coroutine[Any, Any, bool]:
        """Read the whole answer, handing each chunk to `on_chunk(chunk)` as it
        arrives: what `async for chunk in response: on_chunk(chunk)` does, raising
        as it would, without a coroutine of `__anext__` per chunk (a server's hot
        path: a delta that is a chunk as it is goes from the read to `on_chunk`
        in this one frame). An exception from `on_chunk` ends the reading.
        With `max_chars`, the reading ends once that many characters are out
        (the chunk that reaches it cut to fit): True when it ended so.
        `keep_text=False` is for a caller that keeps the chunks itself (a
        server's event log): they are not added to `content` (nor to an
        error's `partial_content`); `get_stats()` still counts them. An
        answer with chunk callbacks, tools or an output type keeps its text.
        `on_chunk` may return an awaitable when its consumer is behind (a
        store that must catch up): the reading waits for it before going on.

        Text held back for its flush interval goes out from a timer of the
        event loop while the read goes on: a read with a deadline would hand
        the upstream to a producer task (see `DirectAsyncReader`), which costs
        two task switches and a timeout per delta. `on_chunk` is then called
        from that timer; what it raises (or `max_chars` reached there) ends
        the reading as it would here, the request closed at once."""
        return self._forward(on_chunk, max_chars, keep_text, None)

    def forward_then_close(
        self,
        on_chunk: Callable[[str], object],
        max_chars: int | None,
        keep_text: bool,
        then: Callable[[bool | LaraFlowAIError], object],
    ) -> Coroutine[Any, Any, None]:
        """`forward()`, then close the response (as `async with` would, on any
        exception too) and call `then(outcome)`: True or False as forward()
        returns, or the LaraFlowAIError that ended the reading (not raised). An
        awaitable from `then` is waited for. A producer's whole run in one
        coroutine: a task that awaited forward() in a coroutine of its own would
        pay for that extra level on every event."""
        return self._forward(on_chunk, max_chars, keep_text, then)

    async def _forward(
        self,
        on_chunk: Callable[[str], object],
        max_chars: int | None,
        keep_text: bool,
        then: Callable[[bool | LaraFlowAIError], object] | None,
    ) -> Any:
        state = self._state
        if not keep_text:
            reader = self._reader or self._start()
            if not (state.callbacks or self._output or isinstance(reader, AsyncStepReader)):
                state.kept = False
        chunker = state.chunker
        smallest, largest, hand_out = chunker.min_chars, chunker.max_chars, state.hand_out
        counts = state.counts
        room = max_chars
        flush_after = 0.0 if self._delay else state.flush_after
        flush: FlushTimer | None = None  # made when text is first held back
        # `hot`: reading deltas straight from `events` (anext(events) is what
        # reader.read() returns, without its frame), each delta that is a chunk
        # as it is going to on_chunk; anything else ends it, and the next turn
        # looks at the state again. `held`: the chunker may hold text back (it
        # is fed, not passed by); the timer may have flushed it since.
        hot = once = unkept = held = False
        events: Any = None
        timed: Timed | None = None
        cancel: Any = None
        outcome: bool | LaraFlowAIError
        try:
            while True:
                if not hot:
                    if flush is not None and flush.stop is not None:
                        outcome = flush.outcome()
                        break
                    if state.ended and not state.ready:  # __anext__'s end, without its exception
                        state.raise_error()
                        outcome = False
                        break
                    # The cases __anext__ handles in full: a chunk delay, queued
                    # text (the end's last chunks among it).
                    if self._delay or state.ready:
                        try:
                            text = await self.__anext__()
                        except StopAsyncIteration:
                            outcome = False
                            break
                        size = len(text)
                    else:
                        reader = self._reader or self._start()
                        events, timed = reader.direct, None
                        if type(events) is Timed and not events.limits.waiting:
                            # An in-process provider's own awaitables, Timed's work inline.
                            timed, events, cancel = events, events.events, events.cancel
                        # Without `direct`: a flight's reader (shared or cached)
                        # reads on as it is; another one (the first read, a
                        # stepped reader) reads once, then is asked again.
                        once = events is None and type(reader) is not AsyncFlightReader
                        unkept = not state.kept and counts.first_chunk_at is not None
                        held = chunker.pending_since is not None
                        hot = True
                        continue
                else:
                    try:
                        event = await (reader.read() if events is None else anext(events))
                        if timed is not None:
                            if cancel.reason is not None:
                                raise timed.failed()
                            timed.alive = True
                    except Exception as error:
                        if flush is not None and flush.stop is not None:
                            outcome = flush.outcome()
                            break
                        self._read_ended(error)
                        hot = False
                        continue
                    if type(event) is not TextDelta:
                        if event is not None:
                            state.apply(event)
                        hot = False
                        continue
                    text = event.text
                    event = None  # freed now, not held through the wait for the next one
                    if once:
                        hot = False
                    if held or (size := len(text)) < smallest or size > largest:
                        chunks = chunker.feed(text)
                        since = chunker.pending_since
                        held = since is not None
                        if since is not None and flush_after:
                            if flush is None:
                                flush = FlushTimer(state, on_chunk, self.cancel, flush_after, room)
                                flush.arm(since)
                            elif flush.handle is None:
                                flush.arm(since)
                        if len(chunks) != 1:
                            if chunks:
                                state.ready.extend(chunks)
                                hot = False
                            continue
                        text = hand_out(chunks[0])
                        size = len(text)
                    # A chunk as it is: what apply_text() does, its other checks done above.
                    elif unkept:  # hand_out()'s work for text the caller keeps, inline
                        counts.chunk_count += 1
                        state.unkept += size
                    else:
                        hand_out(text)
                        unkept = not state.kept  # the first chunk's time is taken
                if flush is not None:
                    room = flush.room  # the timer may have sent some, or ended the reading
                if room is not None:
                    if size >= room:
                        if room and (behind := on_chunk(text[:room])) is not None:
                            await caught_up(behind)
                        outcome = True if flush is None or flush.stop is None else flush.outcome()
                        break
                    room -= size
                    if flush is not None:
                        flush.room = room
                if (behind := on_chunk(text)) is not None:  # the caller is behind: wait
                    await caught_up(behind)
        except LaraFlowAIError as error:
            if then is None:
                raise
            outcome = error
        except BaseException:
            if then is not None:
                await self.aclose()
            raise
        finally:
            if flush is not None:
                flush.close()
        if then is None:
            return outcome
        await self.aclose()
        if (behind := then(outcome)) is not None:
            await caught_up(behind)
        return None

    async def __aenter__(self) -> AsyncStreamingResponse:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = self._state
        counts = state.counts
        return (
            f"<AsyncStreamingResponse {counts.provider}/{counts.model} "
            f"agent={counts.agent_role!r} chunks={counts.chunk_count} complete={state.complete}>"
        )


async def caught_up(behind: object) -> None:
    """What forward()'s `on_chunk` (or a pump's `append`) returned: waited for
    when it is awaitable (its consumer is behind, or has work to finish)."""
    if inspect.isawaitable(behind):
        await behind


def _untyped(error: Exception) -> LaraFlowAIError:
    typed = StreamInterruptedError(
        f"the stream failed unexpectedly ({type(error).__name__}: {error})"
    )
    typed.__cause__ = error
    return typed
