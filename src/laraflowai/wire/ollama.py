"""Ollama native `/api/chat` stream decoder.

Spec: WIRE-FORMATS.md section 6 (ollama/ollama docs/api.md, server/routes.go).
One compact JSON object per line; the last has `"done": true` with the usage
(`prompt_eval_count`, `eval_count`) and `done_reason`. Tool calls arrive whole,
`arguments` already an object. After output has started an error is a last
line `{"error": "..."}` in a 200 stream, then EOF without `done`.
"""

from __future__ import annotations

from typing import Any

from ._shape import (
    DEFAULT_MAX_EVENT_SIZE,
    DEFAULT_MAX_TOOL_ARGUMENTS_SIZE,
    UNREADABLE,
    arguments_too_large,
    bad,
    check_limit,
    count,
    dumps_arguments,
    object_or_none,
    protocol_error,
    text_or_none,
)
from .events import Event, Finished, ReasoningDelta, StreamError, TextDelta, ToolCallDelta, Usage
from .ndjson import LineTooLong, NDJSONDecoder
from .openai import assemble_tool_call, too_deep

__all__ = ["OllamaChatDecoder"]

_FINISH_REASONS = {"load": "stop", "unload": "stop"}


class OllamaChatDecoder:
    """feed(bytes) -> events; finish() -> the last events. Limits as for the
    SSE decoders: a line (one event) of at most `max_event_size` bytes, tool
    arguments of at most `max_tool_arguments_size` characters."""

    __slots__ = ("_lines", "_done", "_tools", "_max_tool_arguments")

    provider = "Ollama"

    def __init__(
        self,
        *,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
        max_tool_arguments_size: int = DEFAULT_MAX_TOOL_ARGUMENTS_SIZE,
    ) -> None:
        self._lines = NDJSONDecoder(max_event_size)
        self._done = False
        self._tools = 0
        self._max_tool_arguments = check_limit("max_tool_arguments_size", max_tool_arguments_size)

    @property
    def complete(self) -> bool:
        return self._done

    def feed(self, data: bytes) -> list[Event]:
        out: list[Event] = []
        self._read(self._lines.feed(data), out)
        return out

    def finish(self) -> list[Event]:
        out: list[Event] = []
        self._read(self._lines.finish(), out)
        return out

    def _read(self, values: list[Any], out: list[Event]) -> None:
        for value in values:
            # A try block costs nothing until it catches (Python 3.11+).
            try:
                self._value(value, out)
            except UNREADABLE as exc:
                out.append(protocol_error(self.provider, exc))

    def _value(self, value: Any, out: list[Event]) -> None:
        if self._done:
            return
        if isinstance(value, ValueError):
            out.append(
                StreamError(
                    "protocol",
                    f"Ollama sent {value} (max_event_size), dropped"
                    if type(value) is LineTooLong
                    else f"Ollama sent a line that is not JSON ({value})",
                )
            )
            return
        if type(value) is not dict:
            bad("the line", value, "an object")
        error = value.get("error")
        if error:
            out.append(StreamError("server", str(error)))
            return
        message: Any = value.get("message")
        if message:
            if type(message) is not dict:
                bad("message", message, "an object")
            thinking = message.get("thinking")
            if thinking:
                if type(thinking) is not str:
                    bad("message.thinking", thinking, "a string")
                out.append(ReasoningDelta(thinking))
            content = message.get("content")
            if content:
                if type(content) is not str:
                    bad("message.content", content, "a string")
                out.append(TextDelta(content))
            calls = message.get("tool_calls")
            if calls:
                if type(calls) is not list:
                    bad("message.tool_calls", calls, "a list")
                for call in calls:
                    if type(call) is not dict:
                        bad("message.tool_calls[]", call, "an object")
                    self._tool_call(call, out)
        if value.get("done"):
            self._done = True
            prompt = count(value.get("prompt_eval_count"), "prompt_eval_count")
            generated = count(value.get("eval_count"), "eval_count")
            if prompt is not None or generated is not None:
                total = (prompt or 0) + (generated or 0)
                out.append(Usage(prompt, generated, total))
            raw = text_or_none(value.get("done_reason"), "done_reason") or None
            reason = _FINISH_REASONS.get(raw, raw) if raw else "stop"
            if self._tools and reason == "stop":
                reason = "tool_calls"
            out.append(Finished(reason, raw))

    def _tool_call(self, call: dict[str, Any], out: list[Event]) -> None:
        function = object_or_none(call.get("function"), "tool_calls[].function") or {}
        index = function.get("index", self._tools)
        if type(index) is not int:
            bad("tool_calls[].function.index", index, "a whole number")
        id_ = text_or_none(call.get("id"), "tool_calls[].id")
        name = text_or_none(function.get("name"), "tool_calls[].function.name")
        self._tools += 1
        arguments = function.get("arguments")
        text = arguments if type(arguments) is str else dumps_arguments(arguments or {})
        if text is None:
            out.append(too_deep(name, index))
            return
        if len(text) > self._max_tool_arguments:
            out.append(arguments_too_large(self.provider, index, self._max_tool_arguments))
            return
        out.append(ToolCallDelta(index, id_, name, text))
        out.append(assemble_tool_call(index, id_, name, text))
