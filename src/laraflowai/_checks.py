"""Checks of what callers pass, shared by every entry point: each failure is a
`ConfigurationError` that says what was wrong and how to fix it."""

from __future__ import annotations

from typing import Any

from ._exceptions import ConfigurationError

__all__ = ["text"]


def text(name: str, value: Any) -> str:
    """`value` if it is a string that can be sent (UTF-8: no unpaired surrogate)."""
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a string, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigurationError(
            f"{name} holds an unpaired surrogate ({value[exc.start]!r} at position {exc.start}), "
            "which no request can carry: decode its source with errors='replace', or remove it"
        ) from None
    return value
