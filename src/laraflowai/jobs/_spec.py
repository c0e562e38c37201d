"""What a job carries through the queue: the task and the agent's shape, never
a key or a base URL (a worker uses the provider settings of its own
environment)."""

from __future__ import annotations

from typing import Any

import orjson

from .._exceptions import ConfigurationError

__all__ = ["agent_spec"]

_FIELDS = ("role", "goal", "provider", "model")


def agent_spec(
    task: str, options: dict[str, Any] | None = None, **agent: str | None
) -> dict[str, Any]:
    """A job's description, checked here so that a bad one fails now, not in a worker."""
    if not isinstance(task, str) or not task.strip():
        raise ConfigurationError("a job needs a task: a non-empty string")
    unknown = sorted(set(agent) - set(_FIELDS))
    if unknown:
        raise ConfigurationError(
            f"a job's agent takes {', '.join(_FIELDS)}; not {', '.join(unknown)}"
        )
    for name, value in agent.items():
        if value is not None and not isinstance(value, str):
            raise ConfigurationError(f"{name} must be a string, got {type(value).__name__}")
    options = dict(options or {})
    try:
        orjson.dumps(options)
    except TypeError as exc:
        raise ConfigurationError(f"a job's options must be JSON values: {exc}") from None
    return {"task": task, "options": options, **{k: v for k, v in agent.items() if v}}
