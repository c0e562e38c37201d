"""Checking the shape of decoded JSON as the decoders read it.

A provider (or anything between us and it) can send valid JSON of the wrong
shape: `{"choices": [1]}`, a token count that is a string. The decoders check
the type of each field they read, in line on the hot path (`type(x) is dict`
costs about 20 ns) and through the helpers below elsewhere, and raise
`ShapeError`; the code that calls a decoder's event handler catches it, and any
generic error a check missed, and turns it into a protocol `StreamError`.

Messages name the field and the JSON type found, never the value: the event may
hold anything, an echoed API key included, and wire/ cannot redact.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

from .events import StreamError

__all__ = [
    "DEFAULT_MAX_EVENT_SIZE",
    "DEFAULT_MAX_TOOL_ARGUMENTS_SIZE",
    "MAX_TOOL_ARGUMENTS_DEPTH",
    "UNREADABLE",
    "arguments_too_large",
    "ShapeError",
    "bad",
    "check_limit",
    "count",
    "dumps_arguments",
    "nested_deeper_than",
    "not_json",
    "object_or_none",
    "protocol_error",
    "shallow",
    "text_or_none",
]

DEFAULT_MAX_EVENT_SIZE = 4 * 1024 * 1024
DEFAULT_MAX_TOOL_ARGUMENTS_SIZE = 1024 * 1024
# Deeper tool arguments are refused: the cache and the web encoders (orjson
# stops at 255 levels) and user code walking them recursively would fail later.
MAX_TOOL_ARGUMENTS_DEPTH = 128
_MAX_EVENT_IN_BODY = 64 * 1024


def check_limit(name: str, value: int) -> int:
    """A size limit given to a decoder: a whole number of at least 1."""
    if type(value) is not int or value < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")
    return value


class ShapeError(Exception):
    """A field of a decoded event has the wrong JSON type."""

    def __init__(self, where: str, value: Any, expected: str) -> None:
        super().__init__(f"`{where}` is {json_type(value)}, expected {expected}")


# What a handler may raise on an event it cannot read: ShapeError from the
# checks, the others from a check we missed (caught so that no event, however
# odd, escapes the decoder as anything but a StreamError).
UNREADABLE = (
    ShapeError,
    AttributeError,
    IndexError,
    KeyError,
    OverflowError,
    RecursionError,
    TypeError,
    ValueError,
)


def bad(where: str, value: Any, expected: str) -> NoReturn:
    raise ShapeError(where, value, expected)


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def object_or_none(value: Any, where: str) -> dict[str, Any] | None:
    if value is None or type(value) is dict:
        return value
    bad(where, value, "an object")


def text_or_none(value: Any, where: str) -> str | None:
    if value is None or type(value) is str:
        return value
    bad(where, value, "a string")


def count(value: Any, where: str) -> int | None:
    """A token count: absent, or a whole number of at least 0."""
    if value is None or (type(value) is int and value >= 0):
        return value
    bad(where, value, "a whole number of at least 0")


def protocol_error(provider: str, exc: Exception) -> StreamError:
    """The StreamError for an event its handler could not read."""
    if isinstance(exc, ShapeError):
        detail = f"of the wrong shape: {exc}"
    elif isinstance(exc, RecursionError):
        detail = "nested too deeply to read"
    else:
        detail = f"of an unexpected shape ({type(exc).__name__})"
    return StreamError("protocol", f"{provider} sent an event {detail}")


def not_json(provider: str, exc: ValueError, data: bytes) -> StreamError:
    """The StreamError for an event that is not JSON. The message holds the
    parser's complaint and position only; the event itself goes in `body`, for
    the layer that can redact it before showing any of it: whole, never cut (a
    cut could leave the head of a key no redaction recognises), and only up to
    64 KiB, above which redacting it would cost more than it is worth."""
    reason = getattr(exc, "msg", None) or type(exc).__name__
    position = getattr(exc, "pos", None)
    where = f" at character {position}" if isinstance(position, int) else ""
    body: dict[str, Any] = {"event_bytes": len(data)}
    if len(data) <= _MAX_EVENT_IN_BODY:
        body["event"] = data.decode("utf-8", "replace")
    return StreamError(
        "protocol",
        f"{provider} sent an event that is not JSON ({reason}{where}; {len(data)} bytes)",
        body=body,
    )


def arguments_too_large(provider: str, index: int, limit: int) -> StreamError:
    return StreamError(
        "protocol",
        f"{provider} sent tool call #{index} with arguments longer than {limit} characters "
        "(max_tool_arguments_size)",
    )


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether decoded JSON nests lists and objects more than `limit` levels."""
    level: list[Any] = [value]
    for _ in range(limit + 1):
        nested = [
            item
            for container in level
            if isinstance(container, dict | list)
            for item in (container.values() if isinstance(container, dict) else container)
            if isinstance(item, dict | list)
        ]
        if not nested:
            return False
        level = nested
    return True


def shallow(value: Any, where: str) -> Any:
    """JSON sent about a tool the provider ran (its input, its result), kept as
    sent; deeper than MAX_TOOL_ARGUMENTS_DEPTH levels it is refused, as tool
    arguments are."""
    if nested_deeper_than(value, MAX_TOOL_ARGUMENTS_DEPTH):
        bad(where, value, f"JSON nested at most {MAX_TOOL_ARGUMENTS_DEPTH} levels deep")
    return value


def dumps_arguments(arguments: Any) -> str | None:
    """Tool arguments that arrived as an object, as JSON text; None when they
    nest too deeply to be used."""
    if nested_deeper_than(arguments, MAX_TOOL_ARGUMENTS_DEPTH):
        return None
    return json.dumps(arguments)
