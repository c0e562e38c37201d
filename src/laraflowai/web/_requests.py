"""What a request may ask for, checked before any provider is called.

Requests choose only role, goal, provider and model of an agent (and a crew's
shape): never a base URL, key or raw provider option, so no client can point
the server's credentials at another host.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._config import Settings, get_settings
from .._exceptions import ConfigurationError, InvalidInputError
from ..crew import Agent, Crew, Task
from ..providers import default_provider_name, provider_names
from ._settings import WebSettings

__all__ = ["BadInput", "ChatConfig", "build_agent", "build_crew", "chat_task"]

MAX_FIELD = 1000  # characters of a role, goal, provider, model or agent name
MAX_AGENTS = 10
MAX_TASKS = 20
MAX_SPEC_BYTES = 64 * 1024
_MAX_AGENTS_KEPT = 64
_AGENT_KEYS = frozenset({"name", "role", "goal", "provider", "model"})
_TASK_KEYS = frozenset({"description", "agent", "context"})
_CREW_KEYS = frozenset({"agents", "tasks", "mode", "max_parallel_tasks"})


# The request is wrong; `message` says what to fix, `param` where.
BadInput = InvalidInputError


@dataclass
class ChatConfig:
    """The agent that answers: `FlowAI.agent("Chat Assistant", "Help users")`
    unless told otherwise. Requests may choose role, goal, provider and model;
    `api_key`, `base_url` and `options` apply to the configured provider only.
    `agents` keeps the agents built for requests, one per request shape."""

    role: str = "Chat Assistant"
    goal: str = "Help users"
    provider: str | None = None
    model: str | None = None
    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    settings: Settings | None = None
    # Agents hold no state of a request: one per shape serves every request of that shape.
    agents: dict[tuple[Any, ...], tuple[Settings, Agent]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )


def _text(value: Any, name: str, limit: int = MAX_FIELD) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadInput(f"{name} must be a string", name)
    value = value.strip()
    if len(value) > limit:
        raise BadInput(f"{name} is longer than {limit} characters", name)
    return value or None


def chat_task(value: Any, web: WebSettings, name: str = "task") -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise BadInput(f"{name} is required: say what the agent should do, e.g. ?task=Hello", name)
    if len(text) > web.max_task_length:
        raise BadInput(
            f"{name} is {len(text)} characters long; the limit is {web.max_task_length} "
            "(LARAFLOWAI_MAX_TASK_LENGTH)",
            name,
        )
    return text


def build_agent(
    chat: ChatConfig,
    *,
    role: Any = None,
    goal: Any = None,
    provider: Any = None,
    model: Any = None,
    where: str = "",
) -> Agent:
    """An agent as a request asks for it, on the server's configuration."""
    role = _text(role, f"{where}role")
    goal = _text(goal, f"{where}goal")
    wanted = _text(provider, f"{where}provider")
    model = _text(model, f"{where}model")
    settings = chat.settings if chat.settings is not None else get_settings()
    default = (chat.provider or default_provider_name(settings)).lower()
    name = (wanted or default).lower()
    if name not in provider_names():
        available = ", ".join(provider_names())
        raise BadInput(f"unknown provider {wanted!r}; available: {available}", f"{where}provider")
    own = name == default
    # Settings are part of the key: FlowAI.configure() makes a new object.
    key = (role, goal, name, model, id(settings))
    kept = chat.agents.get(key)
    if kept is not None and kept[0] is settings:
        return kept[1]
    try:
        agent = Agent(
            role or chat.role,
            goal or chat.goal,
            name,
            model or (chat.model if own else None),
            api_key=chat.api_key if own else None,
            base_url=chat.base_url if own else None,
            settings=chat.settings,
            **(chat.options if own else {}),
        )
    except ConfigurationError as error:
        raise BadInput(error.message, f"{where}provider") from None
    if len(chat.agents) >= _MAX_AGENTS_KEPT:
        del chat.agents[next(iter(chat.agents))]
    chat.agents[key] = (settings, agent)
    return agent


def build_crew(raw: str | bytes, chat: ChatConfig, web: WebSettings) -> Crew:
    """A crew from its JSON description:

    {"agents": [{"name": "editor", "role": "Editor", "goal": "Review", "provider": "openai",
                 "model": "..."}],
     "tasks": ["Write an article", {"description": "Review it", "agent": "editor"}],
     "mode": "sequential" | "parallel", "max_parallel_tasks": 2}
    """
    if len(raw) > MAX_SPEC_BYTES:
        raise BadInput(f"the crew description is over {MAX_SPEC_BYTES} bytes", "crew")
    try:
        spec = json.loads(raw)
    except ValueError as error:
        raise BadInput(f"the crew description is not valid JSON ({error})", "crew") from None
    if not isinstance(spec, dict):
        raise BadInput("the crew description must be a JSON object", "crew")
    _known(spec, _CREW_KEYS, "crew")
    agents_spec, tasks_spec = spec.get("agents"), spec.get("tasks")
    if not isinstance(agents_spec, list) or not 0 < len(agents_spec) <= MAX_AGENTS:
        raise BadInput(f"agents must be a list of 1 to {MAX_AGENTS} agents", "agents")
    if not isinstance(tasks_spec, list) or not 0 < len(tasks_spec) <= MAX_TASKS:
        raise BadInput(f"tasks must be a list of 1 to {MAX_TASKS} tasks", "tasks")
    named: dict[str, Agent] = {}
    agents: list[Agent] = []
    for index, item in enumerate(agents_spec):
        where = f"agents[{index}]."
        if not isinstance(item, dict):
            raise BadInput("each agent must be an object with role and goal", f"agents[{index}]")
        _known(item, _AGENT_KEYS, f"agents[{index}]")
        for key in ("role", "goal"):
            if not _text(item.get(key), f"{where}{key}"):
                raise BadInput(f"{where}{key} is required", f"{where}{key}")
        agent = build_agent(
            chat,
            role=item["role"],
            goal=item["goal"],
            provider=item.get("provider"),
            model=item.get("model"),
            where=where,
        )
        agents.append(agent)
        named[_text(item.get("name"), f"{where}name") or agent.role] = agent
    tasks = [_task(item, index, named, web) for index, item in enumerate(tasks_spec)]
    try:
        return Crew(
            agents,
            tasks,
            execution_mode=spec.get("mode", "sequential"),
            max_parallel_tasks=spec.get("max_parallel_tasks"),
        )
    except ConfigurationError as error:
        raise BadInput(error.message, "crew") from None


def _task(item: Any, index: int, named: Mapping[str, Agent], web: WebSettings) -> Task:
    where = f"tasks[{index}]"
    if isinstance(item, str):
        return Task(chat_task(item, web, where))
    if not isinstance(item, dict):
        raise BadInput("each task must be a description or an object", where)
    _known(item, _TASK_KEYS, where)
    description = chat_task(item.get("description"), web, f"{where}.description")
    agent = None
    wanted = item.get("agent")
    if wanted is not None:
        agent = named.get(wanted) if isinstance(wanted, str) else None
        if agent is None:
            raise BadInput(
                f"{where}.agent names no agent of this crew; use one of {', '.join(named)}",
                f"{where}.agent",
            )
    context = item.get("context")
    if context is not None and not (
        isinstance(context, str)
        or (isinstance(context, list) and all(isinstance(part, str) for part in context))
    ):
        raise BadInput(f"{where}.context must be a string or a list of strings", where)
    if context is not None and len(json.dumps(context)) > web.max_task_length:
        raise BadInput(f"{where}.context is over {web.max_task_length} characters", where)
    return Task(description, agent=agent, context=context)


def _known(spec: Mapping[str, Any], keys: frozenset[str], where: str) -> None:
    unknown = sorted(set(spec) - keys)
    if unknown:
        raise BadInput(
            f"{where} has unknown field(s) {', '.join(map(repr, unknown))}; "
            f"it takes {', '.join(sorted(keys))}",
            where,
        )
