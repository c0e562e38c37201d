"""`FlowAI`: the front door (`FlowAI.agent`, `FlowAI.task`, `FlowAI.crew`,
`FlowAI.configure`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ._config import Settings, configure, get_settings
from .crew.agent import Agent
from .crew.crew import Crew, ExecutionMode
from .crew.task import Task
from .providers import ProviderFactory, register_provider

__all__ = ["FlowAI"]


class FlowAI:
    """Build agents, tasks and crews: `FlowAI.agent("Writer", "Write content", "openai")`."""

    @staticmethod
    def agent(
        role: str,
        goal: str,
        provider: str | None = None,
        model: str | None = None,
        **options: Any,
    ) -> Agent:
        """An agent. With no provider: LARAFLOWAI_DEFAULT_PROVIDER, else the first
        provider whose key is set, else the embedded offline model."""
        return Agent(role, goal, provider, model, **options)

    @staticmethod
    def task(
        description: str,
        agent: Agent | None = None,
        context: str | Sequence[str] | None = None,
    ) -> Task:
        return Task(description, agent=agent, context=context)

    @staticmethod
    def crew(
        agents: Iterable[Agent] = (),
        tasks: Iterable[Task | str] = (),
        *,
        execution_mode: ExecutionMode = "sequential",
        max_parallel_tasks: int | None = None,
    ) -> Crew:
        """A crew: `FlowAI.crew().add_agent(writer).add_agent(editor).add_tasks([...])`.
        `execution_mode="parallel"` runs up to `max_parallel_tasks` tasks at once."""
        return Crew(
            agents,
            tasks,
            execution_mode=execution_mode,
            max_parallel_tasks=max_parallel_tasks,
        )

    @staticmethod
    def configure(**settings: Any) -> Settings:
        """Override settings in code, e.g. `FlowAI.configure(buffer_size=1)`."""
        return configure(**settings)

    @staticmethod
    def settings() -> Settings:
        return get_settings()

    @staticmethod
    def register_provider(name: str, factory: ProviderFactory, *, replace: bool = False) -> None:
        register_provider(name, factory, replace=replace)
