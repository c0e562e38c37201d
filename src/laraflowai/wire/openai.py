"""OpenAI Chat Completions stream decoder (also xAI, DeepSeek, Groq and other compatibles).

Spec: WIRE-FORMATS.md sections 2, 3 and 7; the chunk shape is openai-python's
`types/chat/chat_completion_chunk.py`. Traps handled here:
- `data: [DONE]` is not JSON; EOF without it (and without a finish reason) is an
  interrupted stream, even after HTTP 200.
- usage arrives in its own `choices: []` chunk (Groq also repeats it in
  `x_groq.usage`): a snapshot, the last one wins.
- reasoning (`reasoning_content`, Groq's `reasoning`) and text can share a delta;
  reasoning goes first so the first answer token is never lost.
- xAI omits `finish_reason` on non-final chunks, Groq sends `content: null`.
- errors can arrive inside a 200 stream as `data: {"error": {...}}`.
"""

from __future__ import annotations

import json
from typing import Any

from ._errors import classify_error
from ._json import loads
from ._sse_json import SSEJSONDecoder
from .events import (
    Event,
    Finished,
    ReasoningDelta,
    StreamError,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from .sse import ServerSentEvent

__all__ = ["OpenAIChatDecoder", "openai_usage"]

_FINISH_REASONS = {"function_call": "tool_calls"}


class _ToolBuffer:
    __slots__ = ("id", "name", "arguments")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name: str | None = None
        self.arguments: list[str] = []


class OpenAIChatDecoder(SSEJSONDecoder):
    """feed(bytes) -> events; finish() -> the last events. `complete` says whether
    the provider ended the stream itself."""

    __slots__ = ("_finish_reason", "_finished_sent", "_tools", "model", "id")

    def __init__(self) -> None:
        super().__init__()
        self._finish_reason: str | None = None
        self._finished_sent = False
        self._tools: dict[int, _ToolBuffer] = {}
        self.model: str | None = None
        self.id: str | None = None

    @property
    def complete(self) -> bool:
        return self._done or self._finish_reason is not None

    def _end(self, out: list[Event]) -> None:
        if self._finish_reason is not None and not self._finished_sent:
            self._emit_finished(out)

    def _event(self, sse: ServerSentEvent, out: list[Event]) -> None:
        data = sse.raw
        if self._done:
            return
        if data == b"[DONE]":
            self._done = True
            self._emit_finished(out)
            return
        try:
            chunk = loads(data)
        except ValueError:
            out.append(
                StreamError("protocol", f"the provider sent a malformed event: {data[:200]!r}")
            )
            return
        if type(chunk) is not dict:
            return
        error = chunk.get("error")
        if error:
            out.append(_stream_error(error))
            return
        if self.id is None:
            self.id = chunk.get("id")
            self.model = chunk.get("model")
        choices = chunk.get("choices")
        if choices:
            for choice in choices:
                if choice.get("index", 0) == 0:
                    self._choice(choice, out)
        usage = chunk.get("usage")
        groq = chunk.get("x_groq")
        if groq:
            usage = usage or groq.get("usage")
            if groq.get("error"):
                out.append(StreamError("server", str(groq["error"])))
        if usage:
            out.append(openai_usage(usage))

    def _choice(self, choice: dict[str, Any], out: list[Event]) -> None:
        delta = choice.get("delta")
        if delta:
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning:
                out.append(ReasoningDelta(reasoning))
            content = delta.get("content")
            if content:
                out.append(TextDelta(content))
            refusal = delta.get("refusal")
            if refusal:
                out.append(TextDelta(refusal))
            tool_calls = delta.get("tool_calls")
            if tool_calls:
                self._tool_deltas(tool_calls, out)
        reason = choice.get("finish_reason")
        if reason:
            if reason == "insufficient_system_resource":
                out.append(
                    StreamError(
                        "overloaded",
                        "the provider ran out of capacity and cut the answer short",
                        code=reason,
                    )
                )
                return
            self._finish_reason = reason
            self._emit_tool_calls(out)

    def _tool_deltas(self, deltas: list[dict[str, Any]], out: list[Event]) -> None:
        for position, delta in enumerate(deltas):
            index = delta.get("index", position)
            buffer = self._tools.get(index)
            if buffer is None:
                buffer = self._tools[index] = _ToolBuffer()
            function = delta.get("function") or {}
            if delta.get("id"):
                buffer.id = delta["id"]
            name = function.get("name")
            if name:
                buffer.name = name
            arguments = function.get("arguments") or ""
            if not isinstance(arguments, str):  # some servers send the object itself
                arguments = json.dumps(arguments)
            if arguments:
                buffer.arguments.append(arguments)
            out.append(ToolCallDelta(index, delta.get("id"), name, arguments))

    def _emit_tool_calls(self, out: list[Event]) -> None:
        for index, buffer in sorted(self._tools.items()):
            out.append(assemble_tool_call(index, buffer.id, buffer.name, "".join(buffer.arguments)))
        self._tools.clear()

    def _emit_finished(self, out: list[Event]) -> None:
        self._emit_tool_calls(out)
        raw = self._finish_reason
        self._finished_sent = True
        out.append(Finished(_FINISH_REASONS.get(raw, raw) if raw else None, raw))


def assemble_tool_call(index: int, id: str | None, name: str | None, arguments: str) -> Event:
    """A complete ToolCall, or a StreamError when its arguments are not a JSON object."""
    label = name or "<unnamed>"
    if not name:
        return StreamError("malformed_tool_call", f"tool call #{index} arrived without a name")
    try:
        parsed = json.loads(arguments) if arguments.strip() else {}
    except ValueError as exc:
        return StreamError(
            "malformed_tool_call",
            f"tool call {label!r} has malformed JSON arguments ({exc}): {arguments[:200]!r}",
        )
    if not isinstance(parsed, dict):
        return StreamError(
            "malformed_tool_call", f"tool call {label!r} arguments are not a JSON object"
        )
    return ToolCall(index, id, name, parsed)


def openai_usage(usage: dict[str, Any]) -> Usage:
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    cached = prompt_details.get("cached_tokens")
    if cached is None:
        cached = usage.get("prompt_cache_hit_tokens")
    return Usage(
        input_tokens=usage.get("prompt_tokens"),
        output_tokens=usage.get("completion_tokens"),
        total_tokens=usage.get("total_tokens"),
        reasoning_tokens=completion_details.get("reasoning_tokens"),
        cached_input_tokens=cached,
    )


def _stream_error(error: Any) -> StreamError:
    if not isinstance(error, dict):
        return StreamError("server", str(error))
    message = str(error.get("message") or error.get("type") or "the provider reported an error")
    code = error.get("code")
    status = code if isinstance(code, int) else None
    kind = classify_error(status, error.get("type"), code if isinstance(code, str) else None)
    return StreamError(kind, message, status, None if status else code, error)
