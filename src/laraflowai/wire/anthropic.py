"""Anthropic Messages stream decoder.

Spec: WIRE-FORMATS.md section 4 (docs.anthropic.com/en/api/messages-streaming;
anthropic-sdk-python `lib/streaming/_messages.py`). Traps handled here:
- content blocks are keyed by `index`, which counts every kind of block;
- tool input arrives as `partial_json` pieces, parsed at `content_block_stop`
  (empty means `{}`);
- `message_delta.usage` is cumulative: a snapshot, not an increment;
- `ping` and unknown event types are ignored; JSON may be padded with spaces;
- an `event: error` can arrive mid-stream, with no `message_stop` after it.
"""

from __future__ import annotations

import json
from typing import Any

from ._errors import classify_error
from ._json import loads
from ._sse_json import SSEJSONDecoder
from .events import Event, Finished, ReasoningDelta, StreamError, TextDelta, ToolCallDelta, Usage
from .openai import assemble_tool_call
from .sse import ServerSentEvent

__all__ = ["AnthropicMessagesDecoder"]

_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


class _ToolBlock:
    __slots__ = ("id", "name", "parts")

    def __init__(self, id: str | None, name: str | None) -> None:
        self.id = id
        self.name = name
        self.parts: list[str] = []


class AnthropicMessagesDecoder(SSEJSONDecoder):
    __slots__ = ("_stop_reason", "_input", "_cache", "_tools", "model", "id")

    def __init__(self) -> None:
        super().__init__()
        self._stop_reason: str | None = None
        self._input: int | None = None
        self._cache: int | None = None
        self._tools: dict[int, _ToolBlock] = {}
        self.model: str | None = None
        self.id: str | None = None

    def _event(self, sse: ServerSentEvent, out: list[Event]) -> None:
        name, data = sse.event, sse.raw
        if self._done or name == "ping":
            return
        try:
            payload = loads(data)
        except ValueError:
            out.append(StreamError("protocol", f"Anthropic sent a malformed event: {data[:200]!r}"))
            return
        if type(payload) is not dict:
            return
        kind = payload.get("type", name)
        if kind == "content_block_delta":
            self._delta(payload.get("index", 0), payload.get("delta") or {}, out)
        elif kind == "content_block_start":
            self._block_start(payload.get("index", 0), payload.get("content_block") or {}, out)
        elif kind == "content_block_stop":
            block = self._tools.pop(payload.get("index", 0), None)
            if block is not None:
                arguments = "".join(block.parts)
                out.append(
                    assemble_tool_call(payload.get("index", 0), block.id, block.name, arguments)
                )
        elif kind == "message_start":
            message = payload.get("message") or {}
            self.id, self.model = message.get("id"), message.get("model")
            self._usage(message.get("usage") or {}, out)
        elif kind == "message_delta":
            reason = (payload.get("delta") or {}).get("stop_reason")
            if reason:
                self._stop_reason = reason
            self._usage(payload.get("usage") or {}, out)
        elif kind == "message_stop":
            self._done = True
            raw = self._stop_reason
            out.append(Finished(_FINISH_REASONS.get(raw, raw) if raw else "stop", raw))
        elif kind == "error" or name == "error":
            error = payload.get("error") or {}
            type_ = error.get("type") if isinstance(error, dict) else None
            message = error.get("message") if isinstance(error, dict) else str(error)
            out.append(
                StreamError(
                    classify_error(None, type_, None),
                    str(message or type_ or "Anthropic reported an error"),
                    code=type_,
                    body=payload,
                )
            )

    def _block_start(self, index: int, block: dict[str, Any], out: list[Event]) -> None:
        kind = block.get("type")
        if kind == "tool_use" or kind == "server_tool_use":
            self._tools[index] = _ToolBlock(block.get("id"), block.get("name"))
            out.append(ToolCallDelta(index, block.get("id"), block.get("name"), ""))
            initial = block.get("input")
            if initial:  # normally {} with the input streamed after
                self._tools[index].parts.append(json.dumps(initial))
        elif kind == "text" and block.get("text"):
            out.append(TextDelta(block["text"]))
        elif kind == "thinking" and block.get("thinking"):
            out.append(ReasoningDelta(block["thinking"]))

    def _delta(self, index: int, delta: dict[str, Any], out: list[Event]) -> None:
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            if text:
                out.append(TextDelta(text))
        elif kind == "thinking_delta":
            thinking = delta.get("thinking")
            if thinking:
                out.append(ReasoningDelta(thinking))
        elif kind == "input_json_delta":
            piece = delta.get("partial_json") or ""
            block = self._tools.get(index)
            if block is not None and piece:
                block.parts.append(piece)
                out.append(ToolCallDelta(index, None, None, piece))

    def _usage(self, usage: dict[str, Any], out: list[Event]) -> None:
        if not usage:
            return
        if usage.get("input_tokens") is not None:
            self._input = usage["input_tokens"]
        if usage.get("cache_read_input_tokens") is not None:
            self._cache = usage["cache_read_input_tokens"]
        output = usage.get("output_tokens")
        total = None if self._input is None or output is None else self._input + output
        out.append(Usage(self._input, output, total, None, self._cache))
