"""Anthropic Messages stream decoder.

Spec: WIRE-FORMATS.md section 4 (docs.anthropic.com/en/api/messages-streaming;
anthropic-sdk-python `lib/streaming/_messages.py`). Traps handled here:
- content blocks are keyed by `index`, which counts every kind of block;
- tool input arrives as `partial_json` pieces, parsed at `content_block_stop`
  (empty means `{}`);
- `message_delta.usage` is cumulative: a snapshot, not an increment;
- `ping` and unknown event types are ignored; JSON may be padded with spaces;
- an `event: error` can arrive mid-stream, with no `message_stop` after it;
- `message_start` may already hold whole content blocks and the stop reason,
  with `message_stop` straight after (no block events, no `message_delta`);
- tools Anthropic runs itself (`server_tool_use`, `mcp_tool_use`: their input
  streams like a `tool_use` block's) and their results (`*_tool_result`,
  `mcp_tool_result`, whole at block start) are ProviderToolCall and
  ProviderToolResult events, never a ToolCall the caller would run
  (docs.anthropic.com/en/docs/agents-and-tools/tool-use/web-search-tool,
  .../code-execution-tool, .../mcp-connector);
- `pause_turn` is not an end: the answer goes on when asked again.
"""

from __future__ import annotations

from typing import Any

from ._errors import classify_error
from ._json import loads
from ._shape import (
    arguments_too_large,
    bad,
    count,
    dumps_arguments,
    not_json,
    object_or_none,
    shallow,
    text_or_none,
)
from ._sse_json import SSEJSONDecoder
from .events import (
    Event,
    Finished,
    ProviderToolCall,
    ProviderToolResult,
    ReasoningDelta,
    ReasoningSignature,
    StreamError,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from .openai import assemble_tool_call, too_deep
from .sse import ServerSentEvent

__all__ = ["AnthropicMessagesDecoder"]

_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "pause",
}
# Blocks of a tool Anthropic runs itself; its result is a block whose type ends
# in "_tool_result".
_PROVIDER_TOOLS = frozenset({"server_tool_use", "mcp_tool_use"})


class _ToolBlock:
    __slots__ = ("id", "name", "parts", "size", "provider")

    def __init__(self, id: str | None, name: str | None, provider: bool) -> None:
        self.id = id
        self.name = name
        self.parts: list[str] = []
        self.size = 0
        self.provider = provider


class AnthropicMessagesDecoder(SSEJSONDecoder):
    __slots__ = (
        "_stop_reason", "_input", "_cache", "_tools", "_provider_names", "_signatures", "model",
        "id",
    )  # fmt: skip

    provider = "Anthropic"

    def __init__(self, **limits: int) -> None:
        super().__init__(**limits)
        self._stop_reason: str | None = None
        self._input: int | None = None
        self._cache: int | None = None
        # None: a block dropped for its size or depth, already reported.
        self._tools: dict[int, _ToolBlock | None] = {}
        # The names of the provider's own tool calls by id, for their results.
        self._provider_names: dict[str, str] = {}
        # A thinking block's signature, sent back with the tool calls that follow it.
        self._signatures: dict[int, str] = {}
        self.model: str | None = None
        self.id: str | None = None

    def _event(self, sse: ServerSentEvent, out: list[Event]) -> None:
        name, data = sse.event, sse.raw
        if self._done or name == "ping":
            return
        try:
            payload = loads(data)
        except ValueError as exc:
            out.append(not_json(self.provider, exc, data))
            return
        if type(payload) is not dict:
            bad("the event", payload, "an object")
        kind = payload.get("type", name)
        if kind == "content_block_delta":
            delta = payload.get("delta")
            if type(delta) is not dict:
                delta = object_or_none(delta, "content_block_delta.delta") or {}
            self._delta(_index(payload), delta, out)
        elif kind == "content_block_start":
            block = object_or_none(
                payload.get("content_block"), "content_block_start.content_block"
            )
            self._block_start(_index(payload), block or {}, out)
        elif kind == "content_block_stop":
            self._block_stop(_index(payload), out)
        elif kind == "message_start":
            message = object_or_none(payload.get("message"), "message_start.message") or {}
            id_, model = message.get("id"), message.get("model")
            self.id = id_ if type(id_) is str else None
            self.model = model if type(model) is str else None
            content = message.get("content")
            if content:
                if type(content) is not list:
                    bad("message_start.message.content", content, "a list")
                for index, block in enumerate(content):
                    if type(block) is not dict:
                        bad("message_start.message.content[]", block, "an object")
                    self._block_start(index, block, out)
                    self._block_stop(index, out)
            reason = text_or_none(message.get("stop_reason"), "message_start.message.stop_reason")
            if reason:
                self._stop_reason = reason
            self._usage(message.get("usage"), "message_start.message.usage", out)
        elif kind == "message_delta":
            delta = object_or_none(payload.get("delta"), "message_delta.delta") or {}
            reason = text_or_none(delta.get("stop_reason"), "message_delta.delta.stop_reason")
            if reason:
                self._stop_reason = reason
            self._usage(payload.get("usage"), "message_delta.usage", out)
        elif kind == "message_stop":
            self._done = True
            raw = self._stop_reason
            out.append(Finished(_FINISH_REASONS.get(raw, raw) if raw else "stop", raw))
        elif kind == "error" or name == "error":
            error = payload.get("error") or {}
            if type(error) is dict:
                type_ = text_or_none(error.get("type"), "error.type")
                text = text_or_none(error.get("message"), "error.message")
            else:
                type_, text = None, str(error)
            out.append(
                StreamError(
                    classify_error(None, type_, None),
                    text or type_ or "Anthropic reported an error",
                    code=type_,
                    body=payload,
                )
            )

    def _block_start(self, index: int, block: dict[str, Any], out: list[Event]) -> None:
        kind = block.get("type")
        if type(kind) is not str:
            if kind is not None:
                bad("content_block.type", kind, "a string")
            return
        if kind == "text":
            text = block.get("text")
            if text:
                if type(text) is not str:
                    bad("content_block.text", text, "a string")
                out.append(TextDelta(text))
        elif kind == "thinking":
            thinking = block.get("thinking")
            if thinking:
                if type(thinking) is not str:
                    bad("content_block.thinking", thinking, "a string")
                out.append(ReasoningDelta(thinking))
            signature = text_or_none(block.get("signature"), "content_block.signature")
            if signature:
                self._signatures[index] = signature
        elif kind == "redacted_thinking":
            data = text_or_none(block.get("data"), "content_block.data")
            if data:
                out.append(ReasoningSignature(data, redacted=True))
        elif kind == "tool_use" or kind in _PROVIDER_TOOLS:
            id_ = text_or_none(block.get("id"), "content_block.id")
            name = text_or_none(block.get("name"), "content_block.name")
            provider = kind != "tool_use"
            tool = self._tools[index] = _ToolBlock(id_, name, provider)
            if not provider:
                out.append(ToolCallDelta(index, id_, name, ""))
            initial = block.get("input")
            if initial:  # normally {} with the input streamed after
                arguments = dumps_arguments(initial)
                if arguments is None:
                    self._tools[index] = None
                    out.append(too_deep(name, index))
                elif self._piece(index, tool, arguments, out) and not provider:
                    out.append(ToolCallDelta(index, None, None, arguments))
        elif kind.endswith("_tool_result"):
            out.append(self._provider_result(kind, block))

    def _block_stop(self, index: int, out: list[Event]) -> None:
        signature = self._signatures.pop(index, None)
        if signature is not None:
            out.append(ReasoningSignature(signature))
        block = self._tools.pop(index, None)
        if block is None:
            return
        call = assemble_tool_call(index, block.id, block.name, "".join(block.parts))
        if block.provider and type(call) is ToolCall:
            if call.id is not None:
                self._provider_names[call.id] = call.name
            call = ProviderToolCall(call.id, call.name, call.arguments)
        out.append(call)

    def _provider_result(self, kind: str, block: dict[str, Any]) -> ProviderToolResult:
        """A result block: `content` as sent; an error when `is_error` says so
        (MCP) or the content's own type ends in "_error" (the server tools)."""
        id_ = text_or_none(block.get("tool_use_id"), "content_block.tool_use_id")
        content = shallow(block.get("content"), "content_block.content")
        is_error = block.get("is_error")
        if is_error is None:
            inner = content.get("type") if type(content) is dict else None
            is_error = type(inner) is str and inner.endswith("_error")
        elif type(is_error) is not bool:
            bad("content_block.is_error", is_error, "a boolean")
        name = (id_ and self._provider_names.get(id_)) or kind.removesuffix("_tool_result")
        return ProviderToolResult(id_, name, content, is_error)

    def _delta(self, index: int, delta: dict[str, Any], out: list[Event]) -> None:
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            if text:
                if type(text) is not str:
                    bad("delta.text", text, "a string")
                out.append(TextDelta(text))
        elif kind == "thinking_delta":
            thinking = delta.get("thinking")
            if thinking:
                if type(thinking) is not str:
                    bad("delta.thinking", thinking, "a string")
                out.append(ReasoningDelta(thinking))
        elif kind == "signature_delta":
            signature = text_or_none(delta.get("signature"), "delta.signature")
            if signature:
                self._signatures[index] = self._signatures.get(index, "") + signature
        elif kind == "input_json_delta":
            piece = text_or_none(delta.get("partial_json"), "delta.partial_json")
            block = self._tools.get(index)
            if (
                block is not None
                and piece
                and self._piece(index, block, piece, out)
                and not block.provider
            ):
                out.append(ToolCallDelta(index, None, None, piece))

    def _piece(self, index: int, block: _ToolBlock, piece: str, out: list[Event]) -> bool:
        """Add a piece of a tool's input; False when it passes the size limit."""
        block.size += len(piece)
        if block.size > self._max_tool_arguments:
            self._tools[index] = None
            out.append(arguments_too_large(self.provider, index, self._max_tool_arguments))
            return False
        block.parts.append(piece)
        return True

    def _usage(self, raw: Any, where: str, out: list[Event]) -> None:
        usage = object_or_none(raw, where)
        if not usage:
            return
        input_tokens = count(usage.get("input_tokens"), f"{where}.input_tokens")
        cache = count(usage.get("cache_read_input_tokens"), f"{where}.cache_read_input_tokens")
        output = count(usage.get("output_tokens"), f"{where}.output_tokens")
        if input_tokens is not None:
            self._input = input_tokens
        if cache is not None:
            self._cache = cache
        total = None if self._input is None or output is None else self._input + output
        out.append(Usage(self._input, output, total, None, self._cache))


def _index(payload: dict[str, Any]) -> int:
    index = payload.get("index", 0)
    if type(index) is not int:
        bad("index", index, "a whole number")
    return index
