"""A crew: agents working through tasks, every task streamed as it runs."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator, Iterable
from contextlib import aclosing, closing
from typing import Literal, TypeAlias

from .._exceptions import ConfigurationError
from ._drive import arun_parallel, arun_sequential, run_parallel, run_sequential
from ._run import TaskRun
from .agent import Agent
from .events import CrewEvent
from .result import CrewResult
from .task import Task

__all__ = ["Crew", "ExecutionMode"]

ExecutionMode: TypeAlias = Literal["sequential", "parallel"]
_MODES = ("sequential", "parallel")


def _check_mode(mode: object) -> ExecutionMode:
    if mode not in _MODES:
        raise ConfigurationError(
            f"unknown execution_mode {mode!r}: use 'sequential' (each task gets the previous "
            "task's output) or 'parallel' (independent tasks at once)"
        )
    return mode  # type: ignore[return-value]


def _check_limit(limit: object) -> int | None:
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise ConfigurationError(
            f"max_parallel_tasks must be a whole number of at least 1, or None for no limit; "
            f"got {limit!r}"
        )
    return limit


def _describe(task: Task) -> str:
    text = task.description
    return repr(text if len(text) <= 40 else text[:39] + "\u2026")


class Crew:
    """Agents and tasks, run together:

        crew = (
            FlowAI.crew()
            .add_agent(writer)
            .add_agent(editor)
            .add_tasks([FlowAI.task("Write an article"), FlowAI.task("Review the article")])
        )
        for event in crew.stream():
            ...

    A task runs on the agent it names; an unassigned task i runs on the i-th
    agent added, wrapping around. Sequential mode (the default) runs the tasks
    in order, sending each the previous task's output as context. Parallel mode
    runs up to `max_parallel_tasks` at once (None: all of them) and interleaves
    their events.
    """

    def __init__(
        self,
        agents: Iterable[Agent] = (),
        tasks: Iterable[Task | str] = (),
        *,
        execution_mode: ExecutionMode = "sequential",
        max_parallel_tasks: int | None = None,
    ) -> None:
        self.agents: list[Agent] = []
        self.tasks: list[Task] = []
        self.execution_mode: ExecutionMode = _check_mode(execution_mode)
        self.max_parallel_tasks = _check_limit(max_parallel_tasks)
        self.add_agents(agents)
        self.add_tasks(tasks)

    def add_agent(self, agent: Agent) -> Crew:
        """Add an agent (fluent)."""
        if not isinstance(agent, Agent):
            raise ConfigurationError(
                f"add_agent takes an Agent, e.g. FlowAI.agent('Writer', 'Write content'); "
                f"got {type(agent).__name__}"
            )
        self.agents.append(agent)
        return self

    def add_agents(self, agents: Iterable[Agent]) -> Crew:
        """Add several agents, in order (fluent)."""
        if isinstance(agents, Agent):
            raise ConfigurationError("add_agents takes a list of agents; use add_agent for one")
        for agent in agents:
            self.add_agent(agent)
        return self

    def add_task(self, task: Task | str) -> Crew:
        """Add a task, or a description to make one of (fluent)."""
        if isinstance(task, str):
            task = Task(task)
        elif not isinstance(task, Task):
            raise ConfigurationError(
                f"add_task takes a Task, e.g. FlowAI.task('Write an article'), or its "
                f"description; got {type(task).__name__}"
            )
        self.tasks.append(task)
        return self

    def add_tasks(self, tasks: Iterable[Task | str]) -> Crew:
        """Add several tasks, in order (fluent)."""
        if isinstance(tasks, str | Task):
            raise ConfigurationError("add_tasks takes a list of tasks; use add_task for one")
        for task in tasks:
            self.add_task(task)
        return self

    def agent_for(self, index: int) -> Agent:
        """The agent that runs task `index`."""
        task = self.tasks[index]
        if task.agent is not None:
            return task.agent
        if not self.agents:
            raise ConfigurationError(self._no_agents())
        return self.agents[index % len(self.agents)]

    def stream(self) -> Generator[CrewEvent, None, None]:
        """Run the crew, yielding every task's chunks as they arrive, each task's
        completion, and last a crew event with the whole CrewResult.

        Bad setup raises ConfigurationError here, before any request. A failed
        task ends the stream with a "crew_error" event instead of raising.
        Closing the generator (or leaving the loop) closes every open stream.
        In parallel mode tasks run in threads; their callbacks run there too.
        """
        runs = self._plan()
        if self.execution_mode == "parallel":
            return run_parallel(runs, self.max_parallel_tasks or len(runs))
        return run_sequential(runs)

    def astream(self) -> AsyncGenerator[CrewEvent, None]:
        """The async twin of stream(): `async for event in crew.astream()`;
        `aclose()` or cancelling the consumer closes every open stream."""
        runs = self._plan()
        if self.execution_mode == "parallel":
            return arun_parallel(runs, self.max_parallel_tasks or len(runs))
        return arun_sequential(runs)

    def kickoff(self) -> CrewResult:
        """Run every task to the end; a failed task gives a CrewResult whose
        `success` is False, not an exception."""
        with closing(self.stream()) as events:
            for event in events:
                if event.result is not None:
                    return event.result
        raise RuntimeError("the crew's stream ended without a result")  # pragma: no cover

    async def akickoff(self) -> CrewResult:
        async with aclosing(self.astream()) as events:
            async for event in events:
                if event.result is not None:
                    return event.result
        raise RuntimeError("the crew's stream ended without a result")  # pragma: no cover

    def _plan(self) -> list[TaskRun]:
        _check_mode(self.execution_mode)
        _check_limit(self.max_parallel_tasks)
        if not self.agents:
            raise ConfigurationError(self._no_agents())
        if not self.tasks:
            raise ConfigurationError(
                "this crew has no tasks: add them with crew.add_task(FlowAI.task('...')) "
                "or crew.add_tasks([...]) before running it"
            )
        runs: list[TaskRun] = []
        for index, task in enumerate(self.tasks):
            agent = self.agent_for(index)
            if not any(agent is member for member in self.agents):
                raise ConfigurationError(
                    f"the task at index {index} ({_describe(task)}) names the agent "
                    f"{agent.role!r}, which is not in this crew: add it with "
                    "crew.add_agent(...), or leave the task's agent unset"
                )
            runs.append(TaskRun(index, task, agent))
        for run in runs:
            # Let every agent refuse a bad request (its options) before any task runs;
            # the request opens on the first read, so this sends nothing.
            run.agent.stream(run.task).close()
        return runs

    @staticmethod
    def _no_agents() -> str:
        return (
            "this crew has no agents: add one with crew.add_agent(FlowAI.agent(...)) "
            "before running it"
        )

    def __repr__(self) -> str:
        return (
            f"Crew(agents={len(self.agents)}, tasks={len(self.tasks)}, "
            f"execution_mode={self.execution_mode!r})"
        )
