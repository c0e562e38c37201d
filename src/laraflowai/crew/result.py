"""What a crew run produced: every task's answer, usage and time, or what
failed and the text each task had produced by then."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeAlias

from .._exceptions import LaraFlowAIError
from ..streaming.response import Response
from ..wire import Usage

if TYPE_CHECKING:
    from .agent import Agent
    from .task import Task

__all__ = ["CrewResult", "TaskResult", "TaskStatus"]

TaskStatus: TypeAlias = Literal["completed", "failed", "cancelled", "not_run"]

_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "reasoning_tokens",
    "cached_input_tokens",
)


@dataclass(slots=True)
class TaskResult:
    """One task of a crew run. `content` is its answer, or the text that had
    arrived when it failed or was cancelled; `response` is set once complete."""

    index: int
    task: Task
    agent: Agent
    status: TaskStatus = "not_run"
    content: str = ""
    response: Response | None = field(default=None, repr=False)
    error: LaraFlowAIError | None = None
    usage: Usage | None = None
    execution_time: float = 0.0

    @property
    def success(self) -> bool:
        return self.status == "completed"


@dataclass(slots=True)
class CrewResult:
    """A crew run. `success` is False when a task failed; then `error` is that
    task's error and `tasks` says what every task produced."""

    tasks: list[TaskResult]
    execution_time: float
    error: LaraFlowAIError | None = None

    @property
    def success(self) -> bool:
        return self.error is None and all(task.success for task in self.tasks)

    @property
    def responses(self) -> list[Response]:
        """The responses of the completed tasks, in task order."""
        return [task.response for task in self.tasks if task.response is not None]

    @property
    def failed_task(self) -> TaskResult | None:
        return next((task for task in self.tasks if task.status == "failed"), None)

    @property
    def output(self) -> str:
        """The crew's answer: the last task's content."""
        return self.tasks[-1].content if self.tasks else ""

    def get_content(self) -> str:
        return self.output

    @property
    def usage(self) -> Usage | None:
        """Token usage added up over the tasks; a count stays None when no task
        reported it, and the whole is None when none reported usage at all."""
        reported = [task.usage for task in self.tasks if task.usage is not None]
        if not reported:
            return None
        totals: dict[str, int | None] = {}
        for name in _USAGE_FIELDS:
            counts = [value for usage in reported if (value := getattr(usage, name)) is not None]
            totals[name] = sum(counts) if counts else None
        return Usage(**totals)
