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
- errors can arrive inside a 200 stream as `data: {"error": {...}}`;
- `delta.content` may be a list of typed parts (Mistral's magistral models:
  `text` parts, and `thinking` parts holding text parts); unknown part types
  are skipped like unknown fields (docs.mistral.ai/capabilities/reasoning);
- Groq's compound systems report the tools they ran themselves in
  `delta.executed_tools`, first with the arguments, then with the output
  (groq-python `types/chat/chat_completion_chunk.py`): ProviderToolCall and
  ProviderToolResult, never a ToolCall;
- xAI's `completion_tokens` leaves the reasoning tokens out (its total adds
  them); `output_tokens` counts them, as OpenAI's `completion_tokens` does.
"""

from __future__ import annotations

import json
from typing import Any

from ._errors import classify_error
from ._json import loads
from ._shape import (
    MAX_TOOL_ARGUMENTS_DEPTH,
    arguments_too_large,
    bad,
    count,
    dumps_arguments,
    nested_deeper_than,
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
    StreamError,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from .sse import ServerSentEvent

__all__ = ["OpenAIChatDecoder", "openai_usage"]

_FINISH_REASONS = {"function_call": "tool_calls"}
# The fields of a Groq executed tool that hold its result.
_EXECUTED_RESULTS = ("output", "search_results", "code_results", "browser_results")


class _ToolBuffer:
    __slots__ = ("id", "name", "arguments", "size")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name: str | None = None
        self.arguments: list[str] = []
        self.size = 0


class OpenAIChatDecoder(SSEJSONDecoder):
    """feed(bytes) -> events; finish() -> the last events. `complete` says whether
    the provider ended the stream itself."""

    __slots__ = ("_finish_reason", "_finished_sent", "_tools", "_executed", "model", "id")

    provider = "the OpenAI-compatible provider"

    def __init__(self, **limits: int) -> None:
        super().__init__(**limits)
        self._finish_reason: str | None = None
        self._finished_sent = False
        self._tools: dict[int, _ToolBuffer | None] = {}
        # Indexes of the provider's own tool calls already reported.
        self._executed: set[int] = set()
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
        except ValueError as exc:
            out.append(not_json(self.provider, exc, data))
            return
        if type(chunk) is not dict:
            bad("the event", chunk, "an object")
        error = chunk.get("error")
        if error:
            out.append(_stream_error(error))
            return
        if self.id is None:
            id_, model = chunk.get("id"), chunk.get("model")
            self.id = id_ if type(id_) is str else None
            self.model = model if type(model) is str else None
        choices = chunk.get("choices")
        if choices:
            if type(choices) is not list:
                bad("choices", choices, "a list")
            for choice in choices:
                if type(choice) is not dict:
                    bad("choices[]", choice, "an object")
                if choice.get("index", 0) == 0:
                    self._choice(choice, out)
        usage = chunk.get("usage")
        groq = chunk.get("x_groq")
        if groq:
            if type(groq) is not dict:
                bad("x_groq", groq, "an object")
            usage = usage or groq.get("usage")
            if groq.get("error"):
                out.append(StreamError("server", str(groq["error"])))
        if usage:
            if type(usage) is not dict:
                bad("usage", usage, "an object")
            out.append(openai_usage(usage))

    def _choice(self, choice: dict[str, Any], out: list[Event]) -> None:
        delta = choice.get("delta")
        if delta:
            if type(delta) is not dict:
                bad("choices[].delta", delta, "an object")
            content = delta.get("content")
            # Most chunks carry one piece of text and nothing else: one test
            # skips the look-ups of every other field (about 100 ns a chunk).
            if len(delta) == 1 and type(content) is str:
                if content:
                    out.append(TextDelta(content))
            else:
                self._delta(delta, content, out)
        reason = choice.get("finish_reason")
        if reason:
            if type(reason) is not str:
                bad("choices[].finish_reason", reason, "a string")
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

    def _delta(self, delta: dict[str, Any], content: Any, out: list[Event]) -> None:
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning:
            if type(reasoning) is not str:
                bad("choices[].delta.reasoning_content", reasoning, "a string")
            out.append(ReasoningDelta(reasoning))
        executed = delta.get("executed_tools")
        if executed:
            if type(executed) is not list:
                bad("choices[].delta.executed_tools", executed, "a list")
            self._executed_tools(executed, out)
        if content:
            if type(content) is str:
                out.append(TextDelta(content))
            elif type(content) is list:
                _content_parts(content, out)
            else:
                bad("choices[].delta.content", content, "a string or a list of parts")
        refusal = delta.get("refusal")
        if refusal:
            if type(refusal) is not str:
                bad("choices[].delta.refusal", refusal, "a string")
            out.append(TextDelta(refusal))
        tool_calls = delta.get("tool_calls")
        if tool_calls:
            if type(tool_calls) is not list:
                bad("choices[].delta.tool_calls", tool_calls, "a list")
            self._tool_deltas(tool_calls, out)

    def _executed_tools(self, tools: list[Any], out: list[Event]) -> None:
        for position, tool in enumerate(tools):
            if type(tool) is not dict:
                bad("executed_tools[]", tool, "an object")
            index = tool.get("index", position)
            if type(index) is not int:
                bad("executed_tools[].index", index, "a whole number")
            name = tool.get("type")
            if type(name) is not str:
                bad("executed_tools[].type", name, "a string")
            if index not in self._executed:
                self._executed.add(index)
                arguments = text_or_none(tool.get("arguments"), "executed_tools[].arguments")
                if arguments and len(arguments) > self._max_tool_arguments:
                    out.append(arguments_too_large(self.provider, index, self._max_tool_arguments))
                else:
                    call = assemble_tool_call(index, None, name, arguments or "")
                    if type(call) is ToolCall:
                        call = ProviderToolCall(None, name, call.arguments)
                    out.append(call)
            result = {key: tool[key] for key in _EXECUTED_RESULTS if tool.get(key) is not None}
            if shallow(result, "executed_tools[]"):
                out.append(ProviderToolResult(None, name, result))

    def _tool_deltas(self, deltas: list[Any], out: list[Event]) -> None:
        for position, delta in enumerate(deltas):
            if type(delta) is not dict:
                bad("tool_calls[]", delta, "an object")
            index = delta.get("index", position)
            if type(index) is not int:
                bad("tool_calls[].index", index, "a whole number")
            function = object_or_none(delta.get("function"), "tool_calls[].function") or {}
            id_ = text_or_none(delta.get("id"), "tool_calls[].id") or None
            name = text_or_none(function.get("name"), "tool_calls[].function.name") or None
            arguments: str | None = function.get("arguments") or ""
            if type(arguments) is not str:  # some servers send the object itself
                arguments = dumps_arguments(arguments)
            if index in self._tools:
                buffer = self._tools[index]
                if buffer is None:  # dropped, already reported
                    continue
            else:
                buffer = self._tools[index] = _ToolBuffer()
            if arguments is None:
                self._tools[index] = None
                out.append(too_deep(name or buffer.name, index))
                continue
            if id_:
                buffer.id = id_
            if name:
                buffer.name = name
            if arguments:
                buffer.size += len(arguments)
                if buffer.size > self._max_tool_arguments:
                    self._tools[index] = None
                    out.append(arguments_too_large(self.provider, index, self._max_tool_arguments))
                    continue
                buffer.arguments.append(arguments)
            out.append(ToolCallDelta(index, id_, name, arguments))

    def _emit_tool_calls(self, out: list[Event]) -> None:
        for index, buffer in sorted(self._tools.items()):
            if buffer is not None:
                arguments = "".join(buffer.arguments)
                out.append(assemble_tool_call(index, buffer.id, buffer.name, arguments))
        self._tools.clear()

    def _emit_finished(self, out: list[Event]) -> None:
        self._emit_tool_calls(out)
        raw = self._finish_reason
        self._finished_sent = True
        out.append(Finished(_FINISH_REASONS.get(raw, raw) if raw else None, raw))


def assemble_tool_call(index: int, id: str | None, name: str | None, arguments: str) -> Event:
    """A complete ToolCall, or a StreamError when its arguments are not a JSON object.

    The message names the call and what is wrong, never the arguments
    themselves: they may hold anything, and this layer cannot redact.
    """
    label = name or "<unnamed>"
    if not name:
        return StreamError("malformed_tool_call", f"tool call #{index} arrived without a name")
    try:
        parsed = json.loads(arguments) if arguments.strip() else {}
    except RecursionError:
        parsed = None
    except ValueError as exc:
        reason = getattr(exc, "msg", None) or type(exc).__name__
        return StreamError(
            "malformed_tool_call",
            f"tool call {label!r} has malformed JSON arguments "
            f"({reason}; {len(arguments)} characters)",
        )
    if parsed is None or nested_deeper_than(parsed, MAX_TOOL_ARGUMENTS_DEPTH):
        return too_deep(name, index)
    if not isinstance(parsed, dict):
        return StreamError(
            "malformed_tool_call", f"tool call {label!r} arguments are not a JSON object"
        )
    return ToolCall(index, id, name, parsed)


def _content_parts(parts: list[Any], out: list[Event]) -> None:
    for part in parts:
        if type(part) is not dict:
            bad("choices[].delta.content[]", part, "an object")
        kind = part.get("type")
        if kind == "text":
            text = part.get("text")
            if type(text) is not str:
                bad("choices[].delta.content[].text", text, "a string")
            if text:
                out.append(TextDelta(text))
        elif kind == "thinking":
            thinking = part.get("thinking")
            if type(thinking) is str:
                if thinking:
                    out.append(ReasoningDelta(thinking))
            elif type(thinking) is list:
                for inner in thinking:
                    if type(inner) is not dict:
                        bad("choices[].delta.content[].thinking[]", inner, "an object")
                    if inner.get("type") == "text":
                        text = inner.get("text")
                        if type(text) is not str:
                            bad("choices[].delta.content[].thinking[].text", text, "a string")
                        if text:
                            out.append(ReasoningDelta(text))
            elif thinking is not None:
                bad("choices[].delta.content[].thinking", thinking, "a string or a list")
        elif type(kind) is not str:
            bad("choices[].delta.content[].type", kind, "a string")


def too_deep(name: str | None, index: int) -> StreamError:
    label = repr(name) if name else f"#{index}"
    return StreamError(
        "malformed_tool_call",
        f"tool call {label} has arguments nested more than {MAX_TOOL_ARGUMENTS_DEPTH} levels deep",
    )


def openai_usage(usage: dict[str, Any]) -> Usage:
    prompt_details = (
        object_or_none(usage.get("prompt_tokens_details"), "usage.prompt_tokens_details") or {}
    )
    completion_details = (
        object_or_none(usage.get("completion_tokens_details"), "usage.completion_tokens_details")
        or {}
    )
    cached = prompt_details.get("cached_tokens")
    if cached is None:
        cached = usage.get("prompt_cache_hit_tokens")
    prompt = count(usage.get("prompt_tokens"), "usage.prompt_tokens")
    completion = count(usage.get("completion_tokens"), "usage.completion_tokens")
    total = count(usage.get("total_tokens"), "usage.total_tokens")
    reasoning = count(
        completion_details.get("reasoning_tokens"),
        "usage.completion_tokens_details.reasoning_tokens",
    )
    # xAI: the total holds reasoning tokens the completion count leaves out.
    if (
        reasoning
        and prompt is not None
        and completion is not None
        and total == prompt + completion + reasoning
    ):
        completion += reasoning
    return Usage(
        input_tokens=prompt,
        output_tokens=completion,
        total_tokens=total,
        reasoning_tokens=reasoning,
        cached_input_tokens=count(cached, "usage.prompt_tokens_details.cached_tokens"),
    )


def _stream_error(error: Any) -> StreamError:
    if type(error) is not dict:
        return StreamError("server", str(error))
    type_ = text_or_none(error.get("type"), "error.type")
    message = text_or_none(error.get("message"), "error.message")
    code = error.get("code")
    if not (code is None or type(code) is int or type(code) is str):
        bad("error.code", code, "a string or a number")
    status = code if type(code) is int else None
    text_code = code if type(code) is str else None
    kind = classify_error(status, type_, text_code)
    return StreamError(
        kind, message or type_ or "the provider reported an error", status, text_code, error
    )
