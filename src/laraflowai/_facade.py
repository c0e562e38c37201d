"""`FlowAI`: the front door, named as in the original document."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._config import Settings, configure, get_settings
from .crew.agent import Agent
from .crew.task import Task
from .providers import ProviderFactory, register_provider

__all__ = ["FlowAI"]


class FlowAI:
    """Build agents and tasks: `FlowAI.agent("Writer", "Write content", "openai")`."""

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
    def configure(**settings: Any) -> Settings:
        """Override settings in code, e.g. `FlowAI.configure(buffer_size=1)`."""
        return configure(**settings)

    @staticmethod
    def settings() -> Settings:
        return get_settings()

    @staticmethod
    def register_provider(name: str, factory: ProviderFactory, *, replace: bool = False) -> None:
        register_provider(name, factory, replace=replace)
