"""Checking generation options before they cost a round trip."""

from __future__ import annotations

from typing import Any

from .._exceptions import ConfigurationError

__all__ = ["check_number", "check_positive_int", "split_system"]


def check_number(name: str, value: Any, low: float, high: float) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigurationError(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")
    return value


def check_positive_int(name: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be a positive whole number, got {value!r}")
    return value


def split_system(messages: list[Any]) -> tuple[str | None, list[Any]]:
    """The system prompt (all system messages joined) and the other messages."""
    system = [
        m["content"] if isinstance(m["content"], str) else "".join(p["text"] for p in m["content"])
        for m in messages
        if m["role"] == "system"
    ]
    rest = [m for m in messages if m["role"] != "system"]
    return ("\n\n".join(system) if system else None), rest
