"""One task's part in a crew run, without I/O: the prompt it is sent with, the
CrewEvents its agent's stream becomes, and its TaskResult. Both drivers in
`_drive.py` share all of it."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Sequence
from typing import Any

from .._exceptions import LaraFlowAIError
from ..streaming import AsyncStreamingResponse, Response, StreamingResponse
from ..wire import (
    Event,
    ProviderToolCall,
    ProviderToolResult,
    ReasoningDelta,
    ToolCall,
    ToolCallDelta,
    ToolResult,
    Usage,
)
from .agent import Agent
from .events import CrewEvent, CrewEventKind
from .result import CrewResult, TaskResult, TaskStatus
from .task import Task

__all__ = ["TaskRun", "finish"]

_PASSED: dict[type, CrewEventKind] = {
    ReasoningDelta: "reasoning",
    ToolCallDelta: "tool_call",
    ToolCall: "tool_call",
    ToolResult: "tool_result",
    ProviderToolCall: "provider_tool",
    ProviderToolResult: "provider_tool",
}


class _Draft:
    """A CrewEvent's slots without its frozen `__setattr__`: the same layout, so
    a finished draft can become a CrewEvent."""

    __slots__ = CrewEvent.__slots__


def _chunk_event(index: int, task: Task, agent: Agent, chunk: str) -> CrewEvent:
    """`CrewEvent("chunk", index, task, agent, chunk, is_streaming=True)`, built
    the fast way: a frozen dataclass's `__init__` sets each field through
    `object.__setattr__`. Measured (issue 12, timeit, this machine): the plain
    constructor 2.8-3.6 µs per event, this 0.37-0.53 µs; crew.stream() spends
    about 9 µs per chunk in all, so the plain form would take it from 1.07x to
    about 1.4x of the raw baseline. Plain slot stores, then one class change,
    make the same event."""
    draft: Any = _Draft()
    draft.kind = "chunk"
    draft.task_index = index
    draft.task = task
    draft.agent = agent
    draft.chunk = chunk
    draft.response = None
    draft.is_streaming = True
    draft.is_complete = False
    draft.event = None
    draft.error = None
    draft.result = None
    draft.__class__ = CrewEvent
    event: CrewEvent = draft
    return event


class TaskRun:
    """A task, the agent that runs it, and what came of it.

    In parallel sync mode the agent's stream is read in a worker thread while
    the crew may give up on it from the caller's thread: the lock makes the
    TaskResult final once either side has settled it.
    """

    __slots__ = ("index", "task", "agent", "result", "cancelled", "_ready", "_response", "_lock")

    def __init__(self, index: int, task: Task, agent: Agent) -> None:
        self.index = index
        self.task = task
        self.agent = agent
        self.result = TaskResult(index, task, agent)
        self._ready: list[CrewEvent] = []
        self._response: StreamingResponse | AsyncStreamingResponse | None = None
        self._lock = threading.Lock()
        self.cancelled = False

    def prompt(self, context: str | None) -> Task:
        """The task as sent: the previous task's output added to its context, on
        a copy, so the caller's task stays as it was and the crew can run again."""
        if context is None:
            return self.task
        sent = copy.copy(self.task)  # shares the callbacks: task.stream() is honoured
        own = self.task.context
        sent.context = [*([own] if isinstance(own, str) else own or ()), context]
        return sent

    def watch(self, response: StreamingResponse | AsyncStreamingResponse) -> None:
        response.on_chunk(self._on_chunk)
        with self._lock:
            self._response = response
            cancelled = self.cancelled
        if cancelled:  # the crew gave up before this task's stream existed
            response.cancel()

    def _on_chunk(self, chunk: str, content: str) -> None:
        self._ready.append(_chunk_event(self.index, self.task, self.agent, chunk))

    @property
    def _content(self) -> str:
        return "" if self._response is None else self._response.partial_content

    def feed(self, event: Event) -> list[CrewEvent]:
        """The CrewEvents for one typed event of the agent's stream: the chunks
        it completed, then the event itself if callers see it."""
        ready, self._ready = self._ready, []
        kind = _PASSED.get(type(event))
        if kind is not None:
            ready.append(CrewEvent(kind, self.index, self.task, self.agent, event=event))
        return ready

    def chunks(self) -> list[CrewEvent]:
        """The chunks handed out since the last feed: the stream's last ones."""
        ready, self._ready = self._ready, []
        return ready

    def complete(self, response: Response) -> CrewEvent:
        self._settle("completed", response.content, response, None, response.usage)
        return CrewEvent(
            "task_complete", self.index, self.task, self.agent, response=response, is_complete=True
        )

    def fail(self, error: LaraFlowAIError, usage: Usage | None, execution_time: float) -> CrewEvent:
        self._settle("failed", self._content, None, error, usage, execution_time)
        return CrewEvent("task_error", self.index, self.task, self.agent, error=error)

    def close(self) -> None:
        """The crew is over: a task still running was cancelled."""
        if self._response is not None and self.result.status == "not_run":
            self.cancel()

    def cancel(self) -> None:
        """Settle as cancelled now, then cancel the task's stream (from any
        thread): its provider connection closes, a read in progress ends."""
        self._settle("cancelled", self._content, None, None, None)
        with self._lock:
            self.cancelled = True
            response = self._response
        if response is not None:
            response.cancel()

    def _settle(
        self,
        status: TaskStatus,
        content: str,
        response: Response | None,
        error: LaraFlowAIError | None,
        usage: Usage | None,
        execution_time: float | None = None,
    ) -> None:
        with self._lock:
            result = self.result
            if result.status != "not_run":
                return
            result.status = status
            result.content = content
            result.response = response
            result.error = error
            result.usage = usage
            if response is not None:
                result.execution_time = response.execution_time
            elif execution_time is not None:
                result.execution_time = execution_time


def finish(runs: Sequence[TaskRun], started_at: float, failed: TaskRun | None = None) -> CrewEvent:
    """The crew's last event, carrying the whole CrewResult."""
    for run in runs:
        run.close()
    error = failed.result.error if failed is not None else None
    result = CrewResult([run.result for run in runs], time.perf_counter() - started_at, error=error)
    last = failed if failed is not None else runs[-1]
    kind: CrewEventKind = "crew_error" if failed is not None else "crew_complete"
    return CrewEvent(kind, last.index, last.task, last.agent, error=error, result=result)
