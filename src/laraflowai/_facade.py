"""`FlowAI`: the front door (`FlowAI.agent`, `FlowAI.task`, `FlowAI.crew`,
`FlowAI.configure`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import httpx2 as httpx

from ._config import Settings, configure, get_settings
from .crew import Agent, Crew, ExecutionMode, Task
from .providers import ProviderFactory, register_provider
from .streaming import set_async_http_client, set_http_client

_UNSET: Any = object()

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
        provider whose key is set, else the embedded offline model.
        `http_client=` / `async_http_client=` (httpx2 clients) carry its requests."""
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
    def configure(
        *,
        http_client: httpx.Client | None = _UNSET,
        async_http_client: httpx.AsyncClient | None = _UNSET,
        **settings: Any,
    ) -> Settings:
        """Override settings in code, e.g. `FlowAI.configure(buffer_size=1)`.

        `http_client=httpx2.Client(...)` and `async_http_client=httpx2.AsyncClient(...)`
        carry the requests of every agent given no client of its own (None: back
        to the shared default); they stay yours to close."""
        if http_client is not _UNSET:
            set_http_client(http_client)
        if async_http_client is not _UNSET:
            set_async_http_client(async_http_client)
        return configure(**settings)

    @staticmethod
    def settings() -> Settings:
        return get_settings()

    @staticmethod
    def register_provider(name: str, factory: ProviderFactory, *, replace: bool = False) -> None:
        register_provider(name, factory, replace=replace)
