"""The one accumulator behind StreamingResponse and AsyncStreamingResponse.

Events go in (`apply`); chunks ready to hand out queue up in `ready`; `take`
hands one out and does the bookkeeping. Both drivers share all of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .._exceptions import LaraFlowAIError
from ..shaping import Chunker
from ..wire import (
    Event,
    Finished,
    ReasoningDelta,
    StreamError,
    TextDelta,
    ToolCall,
    Usage,
)
from ._source import Counters

__all__ = ["StreamState"]

# With streaming disabled the whole answer is one chunk (still cut at max_chunk_size).
_WHOLE = 1 << 62


class StreamState:
    __slots__ = (
        "agent_role", "provider", "model", "streaming", "chunker", "ready", "callbacks",
        "_text", "length", "chunk_count", "usage", "finish", "reasoning",
        "tool_calls", "warnings", "started_at", "first_chunk_at", "ended_at", "ended",
        "error", "error_raised", "closed", "cached", "shared", "flush_after", "counters",
    )  # fmt: skip

    def __init__(
        self,
        *,
        agent_role: str,
        provider: str,
        model: str,
        buffer_size: int,
        max_chunk_size: int,
        streaming: bool = True,
        callbacks: list[Callable[[str, str], Any]] | None = None,
        flush_interval: float = 0.0,
    ) -> None:
        self.agent_role = agent_role
        self.provider = provider
        self.model = model
        self.streaming = streaming
        self.chunker = Chunker(buffer_size if streaming else _WHOLE, max_chunk_size)
        self.ready: list[str] = []  # a deque costs 600 bytes; this holds a chunk or two
        self.callbacks = list(callbacks or ())
        self._text = ""
        self.length = 0
        self.chunk_count = 0
        self.usage: Usage | None = None
        self.finish: Finished | None = None
        self.reasoning: list[str] = []
        self.tool_calls: list[ToolCall] = []
        self.warnings: list[StreamError] = []
        self.started_at: float | None = None
        self.first_chunk_at: float | None = None
        self.ended_at: float | None = None
        self.ended = False
        self.error: LaraFlowAIError | None = None
        self.error_raised = False
        self.closed = False
        self.cached = False  # replayed from the stream cache
        self.shared = False  # joined an identical request's stream in progress
        # Seconds a partly filled buffer may wait for more text (0: until full).
        self.flush_after = flush_interval if streaming else 0.0
        self.counters = Counters()

    def start(self) -> None:
        if self.started_at is None:
            self.started_at = time.perf_counter()

    def apply(self, event: Event) -> None:
        kind = type(event)
        if kind is TextDelta:
            for chunk in self.chunker.feed(event.text):  # type: ignore[union-attr]
                self.ready.append(chunk)
        elif kind is ReasoningDelta:
            self.reasoning.append(event.text)  # type: ignore[union-attr]
        elif kind is Usage:
            self.usage = event  # type: ignore[assignment]
        elif kind is Finished:
            self.finish = event  # type: ignore[assignment]
        elif kind is ToolCall:
            self.tool_calls.append(event)  # type: ignore[arg-type]
        elif kind is StreamError:
            self.warnings.append(event)  # type: ignore[arg-type]

    def end(self) -> None:
        """The provider's events are over: release what the buffer holds."""
        if not self.ended:
            self.ready.extend(self.chunker.flush())
            self.ended = True
            self.ended_at = time.perf_counter()

    def fail(self, error: LaraFlowAIError) -> None:
        """Keep the error to raise once every chunk that arrived before it is out."""
        self.end()
        self.error = error

    def close(self) -> None:
        if not self.ended:
            self.closed = True
            self.ended = True
            self.ended_at = time.perf_counter()

    def take(self) -> str:
        chunk = self.ready.pop(0)
        if self.first_chunk_at is None:
            self.first_chunk_at = time.perf_counter()
        # Grow the text in place: with the attribute cleared, `+=` on the only
        # reference lets CPython extend the string instead of copying it, so a
        # long answer costs O(n), not O(n^2), even with callbacks reading it.
        text, self._text = self._text, ""
        text += chunk
        self._text = text
        self.length += len(chunk)
        self.chunk_count += 1
        if self.callbacks:
            for callback in self.callbacks:
                callback(chunk, text)
        return chunk

    def raise_error(self) -> None:
        """Raise the stored error once, carrying everything that arrived."""
        error = self.error
        if error is not None and not self.error_raised:
            self.error_raised = True
            error.partial_content = self.content
            raise error

    @property
    def content(self) -> str:
        return self._text

    @property
    def buffered(self) -> str:
        """Text that arrived but is not handed out yet."""
        return "".join(self.ready) + self.chunker.pending

    def flush_buffer(self) -> None:
        self.ready.extend(self.chunker.flush())

    @property
    def complete(self) -> bool:
        return self.ended and not self.ready and self.error is None and not self.closed

    def execution_time(self) -> float:
        if self.started_at is None:
            return 0.0
        end = self.ended_at if self.ended_at is not None else time.perf_counter()
        return end - self.started_at

    def stats(self) -> dict[str, Any]:
        elapsed = self.execution_time()
        usage = self.usage
        ttfc = (
            None
            if self.first_chunk_at is None or self.started_at is None
            else self.first_chunk_at - self.started_at
        )
        return {
            "agent_role": self.agent_role,
            "provider": self.provider,
            "model": self.model,
            "chunk_count": self.chunk_count,
            "content_length": self.length,
            "time_to_first_chunk": ttfc,
            "execution_time": elapsed,
            "chars_per_second": self.length / elapsed if elapsed > 0 else 0.0,
            "input_tokens": usage.input_tokens if usage else None,
            "output_tokens": usage.output_tokens if usage else None,
            "total_tokens": usage.total_tokens if usage else None,
            "reasoning_tokens": usage.reasoning_tokens if usage else None,
            "reasoning_length": sum(map(len, self.reasoning)),
            "finish_reason": self.finish.reason if self.finish else None,
            "cached": self.cached,
            "shared": self.shared,
            "buffer_size": self.chunker.min_chars if self.streaming else None,
            "max_chunk_size": self.chunker.max_chars,
            "streaming": self.streaming,
            "is_complete": self.complete,
            "tool_results_count": len(self.tool_calls),
            "retries": self.counters.retries,
            "error": None if self.error is None else type(self.error).__name__,
        }
