"""What a streaming crew yields: one `CrewEvent` per chunk, per reasoning or
tool-call piece, per finished task, and one at the end for the whole crew."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from .._exceptions import LaraFlowAIError
from ..streaming import Response
from ..wire import Event

if TYPE_CHECKING:
    from .agent import Agent
    from .result import CrewResult
    from .task import Task

__all__ = ["CrewEvent", "CrewEventKind"]

CrewEventKind: TypeAlias = Literal[
    "chunk", "reasoning", "tool_call", "tool_result", "provider_tool", "task_complete",
    "task_error", "crew_complete", "crew_error",
]  # fmt: skip

_KEYS = (
    "task_index",
    "task",
    "agent",
    "agent_role",
    "chunk",
    "response",
    "is_streaming",
    "is_complete",
    "kind",
    "event",
    "error",
    "result",
)
_NAMES = frozenset(_KEYS)


@dataclass(frozen=True, slots=True)
class CrewEvent:
    """One step of a crew's stream, readable as `event.chunk` or `event["chunk"]`.

    Its keys: `task_index`, `task`, `agent`, `chunk`, `response`,
    `is_streaming` (this event carries a chunk of a task's answer) and
    `is_complete` (a task finished; `response` is its whole `Response`), so a
    dict-style loop works:

        for result in crew.stream():
            if result["is_streaming"] and not result["is_complete"]:
                print(result["chunk"], end="")
            elif result["is_complete"]:
                print(result["response"].get_content())

    `kind` says what happened: "chunk"; "reasoning", "tool_call", "tool_result"
    and "provider_tool" (the typed `event`: a ReasoningDelta, ToolCallDelta or
    ToolCall, a ToolResult of the agent's tools, a ProviderToolCall or
    ProviderToolResult of the provider's own); "task_complete";
    "task_error" (`error`, with the text that arrived in `error.partial_content`);
    and last "crew_complete" or "crew_error", carrying the whole `CrewResult` in
    `result` and naming the last task, or the one that failed.
    """

    kind: CrewEventKind
    task_index: int
    task: Task
    agent: Agent
    chunk: str | None = None
    response: Response | None = field(default=None, repr=False)
    is_streaming: bool = False
    is_complete: bool = False
    event: Event | None = None
    error: LaraFlowAIError | None = None
    result: CrewResult | None = field(default=None, repr=False)

    @property
    def agent_role(self) -> str:
        return self.agent.role

    def __getitem__(self, key: str) -> Any:
        try:
            if key in _NAMES:
                return getattr(self, key)
        except TypeError:  # unhashable: no key, as for any other non-name
            pass
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in _KEYS else default

    def keys(self) -> tuple[str, ...]:
        """The names `event[...]` accepts, so `dict(event)` works too."""
        return _KEYS

    def __contains__(self, key: object) -> bool:
        return key in _KEYS
