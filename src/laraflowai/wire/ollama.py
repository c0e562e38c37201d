"""Ollama native `/api/chat` stream decoder.

Spec: WIRE-FORMATS.md section 6 (ollama/ollama docs/api.md, server/routes.go).
One compact JSON object per line; the last has `"done": true` with the usage
(`prompt_eval_count`, `eval_count`) and `done_reason`. Tool calls arrive whole,
`arguments` already an object. After output has started an error is a last
line `{"error": "..."}` in a 200 stream, then EOF without `done`.
"""

from __future__ import annotations

import json
from typing import Any

from .events import Event, Finished, ReasoningDelta, StreamError, TextDelta, ToolCallDelta, Usage
from .ndjson import NDJSONDecoder
from .openai import assemble_tool_call

__all__ = ["OllamaChatDecoder"]

_FINISH_REASONS = {"load": "stop", "unload": "stop"}


class OllamaChatDecoder:
    __slots__ = ("_lines", "_done", "_tools")

    def __init__(self) -> None:
        self._lines = NDJSONDecoder()
        self._done = False
        self._tools = 0

    @property
    def complete(self) -> bool:
        return self._done

    def feed(self, data: bytes) -> list[Event]:
        out: list[Event] = []
        for value in self._lines.feed(data):
            self._value(value, out)
        return out

    def finish(self) -> list[Event]:
        out: list[Event] = []
        for value in self._lines.finish():
            self._value(value, out)
        return out

    def _value(self, value: Any, out: list[Event]) -> None:
        if self._done:
            return
        if isinstance(value, ValueError):
            out.append(StreamError("protocol", f"Ollama sent a line that is not JSON ({value})"))
            return
        if type(value) is not dict:
            return
        error = value.get("error")
        if error:
            out.append(StreamError("server", str(error)))
            return
        message = value.get("message") or {}
        thinking = message.get("thinking")
        if thinking:
            out.append(ReasoningDelta(thinking))
        content = message.get("content")
        if content:
            out.append(TextDelta(content))
        for call in message.get("tool_calls") or ():
            self._tool_call(call, out)
        if value.get("done"):
            self._done = True
            prompt, generated = value.get("prompt_eval_count"), value.get("eval_count")
            if prompt is not None or generated is not None:
                total = (prompt or 0) + (generated or 0)
                out.append(Usage(prompt, generated, total))
            raw = value.get("done_reason")
            raw = str(raw) if raw else None
            reason = _FINISH_REASONS.get(raw, raw) if raw else "stop"
            if self._tools and reason == "stop":
                reason = "tool_calls"
            out.append(Finished(reason, raw))

    def _tool_call(self, call: dict[str, Any], out: list[Event]) -> None:
        function = call.get("function") or {}
        index = function.get("index", self._tools)
        self._tools += 1
        arguments = function.get("arguments")
        text = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
        out.append(ToolCallDelta(index, call.get("id"), function.get("name"), text))
        out.append(assemble_tool_call(index, call.get("id"), function.get("name"), text))
