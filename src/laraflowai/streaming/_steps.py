"""The tool loop: one answer made of several model calls.

A step is one request to the provider. When a step ends with tool calls, the
tools run, their results go back with the conversation, and the next step
streams, until a step ends without calls or `max_steps` is reached. The
readers here look like one step's reader to the drivers, so a
StreamingResponse holds every step: the text of each, each call and result,
usage summed over the steps, and one finish (the last step's).

`ToolLoop` is the bookkeeping without I/O, shared by `StepReader` (sync: a
step's calls run in threads) and `AsyncStepReader` (tasks).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, Self

from .._exceptions import StreamCancelledError
from .._types import Message, ReasoningBlock
from ..providers import ChatRequest
from ..wire import (
    Event,
    Finished,
    ReasoningDelta,
    ReasoningSignature,
    StreamError,
    TextDelta,
    ToolCall,
    ToolResult,
    Usage,
)
from ._aflight import AsyncFlightReader, DirectAsyncReader
from ._flight import FlightReader, reader_cancelled
from ._state import StreamState

__all__ = ["AsyncStepReader", "Paused", "StepReader", "ToolLoop", "ToolRunner"]


class ToolRunner(Protocol):
    """What runs a step's tool calls (laraflowai.tools.Toolbox)."""

    def awaiting_approval(self, calls: Sequence[ToolCall]) -> list[ToolCall]: ...

    def run(
        self,
        calls: Sequence[ToolCall],
        cancelled: threading.Event,
        decisions: dict[str | None, bool] | None = None,
    ) -> list[ToolResult]: ...

    def arun(
        self, calls: Sequence[ToolCall], decisions: dict[str | None, bool] | None = None
    ) -> Awaitable[list[ToolResult]]: ...


@dataclass(frozen=True, slots=True)
class Paused:
    """A run waiting for approval: `calls` need a yes or no (`resume()`)."""

    calls: tuple[ToolCall, ...]
    loop: ToolLoop
    text: str  # the paused step's text, sent back with its calls


class ToolLoop:
    """The state of a tool loop between steps: the conversation so far, this
    step's calls, usage before this step, the finish held back until it is
    known to be the last. Text passes by: the step's text is read from the
    stream's state when the step ends."""

    __slots__ = (
        "request", "step", "max_steps", "_calls", "_before", "_usage", "_finish", "_thinking",
        "_sealed",
    )  # fmt: skip

    def __init__(self, request: ChatRequest, max_steps: int, step: int = 1) -> None:
        self.request = request
        self.step = step
        self.max_steps = max_steps
        self._calls: list[ToolCall] = []
        # Reasoning since the last signature, and the sealed blocks of this step.
        self._thinking: list[str] = []
        self._sealed: list[ReasoningBlock] = []
        self._before: Usage | None = None
        self._usage: Usage | None = None
        self._finish: Finished | None = None

    def feed(self, event: Event) -> Event | None:
        """The event to hand on (usage summed over steps), or None to hold it."""
        kind = type(event)
        if kind is ReasoningDelta:
            self._thinking.append(event.text)  # type: ignore[union-attr]
        elif kind is ReasoningSignature:
            seal: ReasoningSignature = event  # type: ignore[assignment]
            text = "".join(self._thinking)
            self._sealed.append(
                {"text": text, "signature": seal.signature, "redacted": seal.redacted}
            )
            self._thinking = []
            return None
        elif kind is ToolCall:
            self._calls.append(event)  # type: ignore[arg-type]
        elif kind is Usage:
            self._usage = event  # type: ignore[assignment]
            return _add(self._before, event)  # type: ignore[arg-type]
        elif kind is Finished:
            self._finish = event  # type: ignore[assignment]
            return None
        return event

    def end_step(self) -> list[ToolCall] | None:
        """The calls to run before the next step, or None: the answer is over."""
        calls = self._calls
        finish = self._finish
        if not calls or (finish is not None and finish.reason in ("length", "content_filter")):
            return None
        if self.step >= self.max_steps:
            return None
        return calls

    def final(self) -> list[Event]:
        """The events that end the answer: the last step's finish, and a warning
        if tool calls were left unanswered because `max_steps` was reached."""
        events: list[Event] = []
        if self._calls and self.step >= self.max_steps:
            events.append(
                StreamError(
                    "max_steps",
                    f"the model asked for tools after {self.max_steps} step(s), the agent's "
                    "max_steps: its calls were not run (raise max_steps to let it go on)",
                )
            )
        if self._finish is not None:
            events.append(self._finish)
        return events

    def paused(self) -> list[Event]:
        """The events that end a run paused for approval."""
        return [Finished("approval", self._finish.raw_reason if self._finish else None)]

    def next_request(self, text: str, results: Sequence[ToolResult]) -> ChatRequest:
        """The request of the next step: the conversation with this step's
        answer (`text` and its calls) and the tools' results; this step's
        bookkeeping is reset."""
        assistant: Message = {"role": "assistant", "content": text, "tool_calls": self._calls}
        if self._sealed:
            assistant["reasoning"] = self._sealed
        answers: list[Message] = [
            {
                "role": "tool",
                "tool_call_id": r.id,
                "name": r.name,
                "content": r.output,
                "is_error": r.is_error,
            }
            for r in results
        ]
        self.request = replace(self.request, messages=[*self.request.messages, assistant, *answers])
        self.step += 1
        self._before = _add(self._before, self._usage)
        self._calls, self._usage, self._finish = [], None, None
        self._thinking, self._sealed = [], []
        return self.request


def _add(before: Usage | None, usage: Usage | None) -> Usage | None:
    if before is None or usage is None:
        return usage if before is None else before

    def plus(a: int | None, b: int | None) -> int | None:
        return b if a is None else a if b is None else a + b

    return Usage(
        plus(before.input_tokens, usage.input_tokens),
        plus(before.output_tokens, usage.output_tokens),
        plus(before.total_tokens, usage.total_tokens),
        plus(before.reasoning_tokens, usage.reasoning_tokens),
        plus(before.cached_input_tokens, usage.cached_input_tokens),
    )


class _Steps:
    """What both readers keep and decide without I/O."""

    __slots__ = (
        "_open", "_tools", "_loop", "_state", "_reader", "_queue", "_cached", "_decisions",
        "_calls", "_text", "paused",
    )  # fmt: skip

    _reader: Any

    def __init__(
        self,
        loop: ToolLoop,
        open_step: Callable[[ChatRequest, StreamState], Any],
        tools: ToolRunner,
        state: StreamState,
        decisions: dict[str | None, bool] | None = None,
        calls: Sequence[ToolCall] = (),
        text: str | None = None,
    ) -> None:
        self._open = open_step
        self._tools = tools
        self._loop = loop
        self._state = state
        self._queue: deque[Event] = deque()
        self._cached = True
        self._decisions = decisions
        self.paused: Paused | None = None
        # Resuming a paused run starts with its calls (and that step's text), not a request.
        self._calls = list(calls)
        self._text = text
        self._reader = None if calls else open_step(loop.request, state)

    def resumed(self, decisions: dict[str | None, bool], state: StreamState) -> Self:
        """A reader going on from where this paused run stopped."""
        paused = self.paused
        assert paused is not None
        return type(self)(
            paused.loop, self._open, self._tools, state, decisions, paused.calls, paused.text
        )

    @property
    def cached(self) -> bool:
        reader = self._reader
        return self._cached and (reader is None or reader.cached)

    def _step_over(self) -> list[ToolCall] | None:
        """At the end of a step: the calls to run now, or None with the events
        that end the answer (or pause it for approval) queued."""
        self._cached = self._cached and self._reader.cached
        self._reader = None
        loop = self._loop
        calls = loop.end_step()
        if calls is None:
            self._queue.extend(loop.final())
            return None
        if self._tools.awaiting_approval(calls):
            self.paused = Paused(tuple(calls), loop, self._state.step_text())
            self._queue.extend(loop.paused())
            return None
        return calls

    def _next_step(self, text: str | None, results: list[ToolResult]) -> None:
        self._queue.extend(results)
        text = self._state.step_text() if text is None else text
        self._reader = self._open(self._loop.next_request(text, results), self._state)


class StepReader(_Steps):
    """The sync reader of a tool loop, one step's FlightReader at a time."""

    __slots__ = ("_stop",)

    _reader: FlightReader | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._stop = threading.Event()
        super().__init__(*args, **kwargs)

    def read(self, timeout: float | None = None) -> Event | None:
        queue = self._queue
        while True:
            if queue:
                return queue.popleft()
            if self._calls:
                calls, self._calls = self._calls, []
                text, self._text = self._text, None
                self._run(calls, text)
                continue
            reader = self._reader
            if reader is None:
                raise StopIteration
            try:
                event = reader.read(timeout)
            except StopIteration:
                self._calls = self._step_over() or []
                continue
            if event is None or type(event) is TextDelta:
                return event
            out = self._loop.feed(event)
            if out is not None:
                return out

    def _run(self, calls: list[ToolCall], text: str | None = None) -> None:
        if text is None:
            text = self._state.step_text()  # before the results change where the step starts
        if self._stop.is_set():
            raise reader_cancelled()
        results = self._tools.run(calls, self._stop, self._decisions)
        if self._stop.is_set():
            raise reader_cancelled()
        self._next_step(text, results)
        if self._stop.is_set() and self._reader is not None:  # cancel() came in between
            self._reader.cancel()

    def cancel(self) -> None:
        self._stop.set()
        reader = self._reader
        if reader is not None:
            reader.cancel()

    def close(self) -> None:
        self._stop.set()
        reader = self._reader
        if reader is not None:
            reader.close()


class AsyncStepReader(_Steps):
    """The async twin of StepReader: a step's calls run as tasks."""

    __slots__ = ("_cancelled", "_running")
    direct = None  # see DirectAsyncReader.direct

    _reader: AsyncFlightReader | DirectAsyncReader | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._cancelled = False
        self._running: asyncio.Future[list[ToolResult]] | None = None
        super().__init__(*args, **kwargs)

    async def read(self, timeout: float | None = None) -> Event | None:
        queue = self._queue
        while True:
            if queue:
                return queue.popleft()
            if self._calls:
                calls, self._calls = self._calls, []
                text, self._text = self._text, None
                await self._run(calls, text)
                continue
            reader = self._reader
            if reader is None:
                raise StopAsyncIteration
            try:
                event = await reader.read(timeout)
            except StopAsyncIteration:
                self._calls = self._step_over() or []
                continue
            if event is None or type(event) is TextDelta:
                return event
            out = self._loop.feed(event)
            if out is not None:
                return out

    async def _run(self, calls: list[ToolCall], text: str | None = None) -> None:
        if text is None:
            text = self._state.step_text()
        if self._cancelled:
            raise reader_cancelled()
        running = self._running = asyncio.ensure_future(self._tools.arun(calls, self._decisions))
        try:
            results = await running
        except asyncio.CancelledError:
            if self._cancelled:
                raise StreamCancelledError("the stream was cancelled while its tools ran") from None
            raise
        finally:
            self._running = None
        self._next_step(text, results)

    def cancel(self) -> None:
        self._cancelled = True
        if self._running is not None:
            self._running.cancel()
        reader = self._reader
        if reader is not None:
            reader.cancel()

    async def aclose(self) -> None:
        self._cancelled = True
        if self._running is not None:
            self._running.cancel()
        reader = self._reader
        if reader is not None:
            await reader.aclose()
