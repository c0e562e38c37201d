"""Builders of Ollama native `/api/chat` NDJSON lines and error replies (WIRE-FORMATS.md §6, §7).

Everything here is pure: lines are `bytes`, replies are `Reply` objects for `ProviderServer`.
Each line is one compact UTF-8 JSON object followed by `\\n`, as Ollama's Go server writes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from .openai_wire import dumps, json_reply, stream_reply
from .provider_server import Reply, Step

__all__ = [
    "ndjson_reply",
    "ollama_error_line",
    "ollama_error_reply",
    "ollama_line",
    "ollama_lines",
]

_START = datetime(2026, 8, 1, 10, 0, 0)
_STEP_NS = 100_000_000  # each line is stamped 0.1 s after the previous one

# The durations (ns) of the final object, as in the WIRE-FORMATS.md example.
_TOTAL_DURATION = 412_000_000
_LOAD_DURATION = 2_100_000
_PROMPT_EVAL_DURATION = 90_000_000
_EVAL_DURATION = 300_000_000


def _created_at(number: int) -> str:
    """Go's RFC3339Nano for the `number`-th line: trailing zeros of the fraction trimmed."""
    seconds, nanos = divmod(number * _STEP_NS, 1_000_000_000)
    text = (_START + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    return text + "Z"


def ollama_line(payload: Mapping[str, Any]) -> bytes:
    """One NDJSON line: compact JSON plus `\\n`."""
    return dumps(payload) + b"\n"


def ollama_lines(
    texts: Sequence[str] = (),
    *,
    thinking: Sequence[str] = (),
    tool_calls: Sequence[tuple[str, Mapping[str, Any]]] = (),
    model: str = "llama3.2",
    done_reason: str | None = "stop",
    prompt_eval_count: int = 26,
    eval_count: int | None = None,
    done: bool = True,
) -> list[bytes]:
    """The NDJSON lines of one streamed chat reply.

    One line per thinking piece (`message.thinking`, `content: ""`), one per text piece, then one
    line holding every tool call whole (`tool_calls: [{"function": {"index": i, "name": …,
    "arguments": {…}}}]`), then the final `done: true` object with `done_reason` (left out when
    None), durations in ns, `prompt_eval_count` and `eval_count` (default: the number of text
    pieces; zero counts are left out, as Ollama omits zero values). `done=False` leaves out the
    final object, to imitate a cut stream. Lines are stamped 0.1 s apart from 2026-08-01T10:00:00Z.
    """
    messages: list[dict[str, Any]] = []
    for piece in thinking:
        messages.append({"role": "assistant", "content": "", "thinking": piece})
    for piece in texts:
        messages.append({"role": "assistant", "content": piece})
    if tool_calls:
        calls = [
            {"function": {"index": index, "name": name, "arguments": dict(arguments)}}
            for index, (name, arguments) in enumerate(tool_calls)
        ]
        messages.append({"role": "assistant", "content": "", "tool_calls": calls})

    lines = [
        ollama_line(
            {"model": model, "created_at": _created_at(number), "message": message, "done": False}
        )
        for number, message in enumerate(messages, start=1)
    ]
    if done:
        final: dict[str, Any] = {
            "model": model,
            "created_at": _created_at(len(messages) + 1),
            "message": {"role": "assistant", "content": ""},
            "done": True,
        }
        if done_reason is not None:
            final["done_reason"] = done_reason
        final["total_duration"] = _TOTAL_DURATION
        final["load_duration"] = _LOAD_DURATION
        if prompt_eval_count:
            final["prompt_eval_count"] = prompt_eval_count
        final["prompt_eval_duration"] = _PROMPT_EVAL_DURATION
        count = len(texts) if eval_count is None else eval_count
        if count:
            final["eval_count"] = count
        final["eval_duration"] = _EVAL_DURATION
        lines.append(ollama_line(final))
    return lines


def ollama_error_line(message: str) -> bytes:
    """The last line of a stream that failed after output began: `{"error":"…"}\\n`."""
    return ollama_line({"error": message})


def ollama_error_reply(status: int, message: str, *, signin_url: str | None = None) -> Reply:
    """A non-2xx `application/json` reply `{"error":"…"}` (401 may add `signin_url`)."""
    payload: dict[str, Any] = {"error": message}
    if signin_url is not None:
        payload["signin_url"] = signin_url
    return json_reply(payload, status=status)


def ndjson_reply(
    lines: Sequence[bytes],
    *,
    split: int | None = None,
    delay: float = 0.0,
    then: Sequence[Step] = (),
) -> Reply:
    """`stream_reply` with `Content-Type: application/x-ndjson`; one Write per line unless `split`.

    `then` is appended, e.g. `[Drop()]` after a cut stream.
    """
    return stream_reply(
        lines,
        split=split,
        delay=delay,
        then=then,
        headers={"Content-Type": "application/x-ndjson"},
    )
