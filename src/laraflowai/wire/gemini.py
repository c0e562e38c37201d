"""Google Gemini `streamGenerateContent?alt=sse` decoder.

Spec: WIRE-FORMATS.md section 5 (ai.google.dev/api; googleapis/python-genai).
Traps handled here:
- no terminal marker: the chunk with `finishReason` is the last, then EOF;
- events end with CRLF;
- `thought: true` parts are reasoning, never answer text;
- function calls arrive whole, `args` already an object;
- a blocked prompt is a chunk without `candidates`, with
  `promptFeedback.blockReason`; a blocked answer ends with `finishReason`
  SAFETY (and friends) and `safetyRatings` saying which category;
- `usageMetadata` is cumulative on every chunk: a snapshot; its
  `candidatesTokenCount` leaves the thinking out (`thoughtsTokenCount`), which
  `output_tokens` counts, as OpenAI and Anthropic do;
- a part holds one kind of data: text, a function call, or a tool Gemini ran
  itself, which is a ProviderToolCall/ProviderToolResult: `executableCode` /
  `codeExecutionResult` (ai.google.dev/gemini-api/docs/code-execution) and the
  `toolCall` / `toolResponse` of the other built-in tools
  (ai.google.dev/api/caching#Part).
"""

from __future__ import annotations

from typing import Any

from ._errors import classify_error
from ._json import loads
from ._shape import (
    arguments_too_large,
    bad,
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
from .openai import too_deep
from .sse import ServerSentEvent

__all__ = ["GeminiStreamDecoder"]

_FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length"}
# Finish reasons that mean the answer was withheld: an error, never a quiet stop.
_BLOCKED = {
    "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "LANGUAGE",
}  # fmt: skip


class GeminiStreamDecoder(SSEJSONDecoder):
    __slots__ = ("_calls", "model")

    provider = "Gemini"

    def __init__(self, **limits: int) -> None:
        super().__init__(**limits)
        self._calls = 0
        self.model: str | None = None

    def _event(self, sse: ServerSentEvent, out: list[Event]) -> None:
        data = sse.raw
        try:
            chunk = loads(data)
        except ValueError as exc:
            out.append(not_json(self.provider, exc, data))
            return
        if type(chunk) is not dict:
            bad("the event", chunk, "an object")
        error = chunk.get("error")
        if error:
            out.append(_error(error))
            return
        model = chunk.get("modelVersion")
        if type(model) is str:
            self.model = model
        candidates = chunk.get("candidates")
        if not candidates:
            feedback = object_or_none(chunk.get("promptFeedback"), "promptFeedback") or {}
            reason = text_or_none(feedback.get("blockReason"), "promptFeedback.blockReason")
            if reason:
                out.append(
                    StreamError(
                        "blocked",
                        f"Gemini blocked the prompt ({reason}{_categories(feedback)})",
                        code=reason,
                        body=chunk,
                    )
                )
            self._usage(chunk, out)
            return
        if type(candidates) is not list:
            bad("candidates", candidates, "a list")
        candidate = candidates[0]
        if type(candidate) is not dict:
            bad("candidates[0]", candidate, "an object")
        content = candidate.get("content")
        if content:
            if type(content) is not dict:
                bad("candidates[0].content", content, "an object")
            parts = content.get("parts")
            if parts:
                if type(parts) is not list:
                    bad("candidates[0].content.parts", parts, "a list")
                for part in parts:
                    if type(part) is not dict:
                        bad("candidates[0].content.parts[]", part, "an object")
                    self._part(part, out)
        self._usage(chunk, out)
        raw = candidate.get("finishReason")
        if raw:
            if type(raw) is not str:
                bad("candidates[0].finishReason", raw, "a string")
            self._finish(raw, candidate, out)

    def _part(self, part: dict[str, Any], out: list[Event]) -> None:
        text = part.get("text")
        if text:
            if type(text) is not str:
                bad("parts[].text", text, "a string")
            out.append(ReasoningDelta(text) if part.get("thought") else TextDelta(text))
            return
        call = part.get("functionCall")
        if call:
            if type(call) is not dict:
                bad("parts[].functionCall", call, "an object")
            # Gemini 3 checks that the step's first call comes back with it.
            signature = text_or_none(part.get("thoughtSignature"), "parts[].thoughtSignature")
            if signature:
                out.append(ReasoningSignature(signature))
            self._function_call(call, out)
        elif text is None:
            _provider_tool(part, out)

    def _function_call(self, call: dict[str, Any], out: list[Event]) -> None:
        index = self._calls
        self._calls += 1
        id_ = text_or_none(call.get("id"), "functionCall.id")
        name = text_or_none(call.get("name"), "functionCall.name")
        arguments = call.get("args") or {}
        text = dumps_arguments(arguments)
        if text is None:
            out.append(too_deep(name, index))
            return
        if len(text) > self._max_tool_arguments:
            out.append(arguments_too_large(self.provider, index, self._max_tool_arguments))
            return
        out.append(ToolCallDelta(index, id_, name, text))
        if type(arguments) is dict and name:
            out.append(ToolCall(index, id_, name, arguments))
        else:
            what = "an object" if name else "a name"
            out.append(
                StreamError(
                    "malformed_tool_call",
                    f"Gemini sent a malformed function call #{index} (without {what})",
                )
            )

    def _finish(self, raw: str, candidate: dict[str, Any], out: list[Event]) -> None:
        self._done = True
        if raw in _BLOCKED:
            out.append(
                StreamError(
                    "blocked",
                    f"Gemini stopped the answer ({raw}{_categories(candidate)})",
                    code=raw,
                    body=candidate,
                )
            )
            return
        if raw == "MALFORMED_FUNCTION_CALL":
            out.append(
                StreamError("malformed_tool_call", "Gemini produced a malformed function call")
            )
        reason = (
            "tool_calls" if self._calls and raw == "STOP" else _FINISH_REASONS.get(raw, raw.lower())
        )
        out.append(Finished(reason, raw))

    @staticmethod
    def _usage(chunk: dict[str, Any], out: list[Event]) -> None:
        usage = chunk.get("usageMetadata")
        if usage:
            if type(usage) is not dict:
                bad("usageMetadata", usage, "an object")
            counts = (
                usage.get("promptTokenCount"),
                usage.get("candidatesTokenCount"),
                usage.get("totalTokenCount"),
                usage.get("thoughtsTokenCount"),
                usage.get("cachedContentTokenCount"),
            )
            # Sent on every chunk: one loop here costs a third of a count() per field.
            for value in counts:
                if value is not None and (type(value) is not int or value < 0):
                    bad("usageMetadata.*TokenCount", value, "a whole number of at least 0")
            prompt, candidates, total, thoughts, cached = counts
            if thoughts is not None:
                candidates = (candidates or 0) + thoughts
            out.append(Usage(prompt, candidates, total, thoughts, cached))


def _provider_tool(part: dict[str, Any], out: list[Event]) -> None:
    """A part of a tool Gemini ran itself, if it is one; other parts (inline
    data, file data...) have no event."""
    code = part.get("executableCode")
    if code is not None:
        code = _object(code, "parts[].executableCode")
        arguments = {
            "language": text_or_none(code.get("language"), "executableCode.language"),
            "code": text_or_none(code.get("code"), "executableCode.code"),
        }
        id_ = text_or_none(code.get("id"), "executableCode.id")
        out.append(ProviderToolCall(id_, "code_execution", arguments))
        return
    result = part.get("codeExecutionResult")
    if result is not None:
        result = _object(result, "parts[].codeExecutionResult")
        outcome = text_or_none(result.get("outcome"), "codeExecutionResult.outcome")
        output = text_or_none(result.get("output"), "codeExecutionResult.output")
        id_ = text_or_none(result.get("id"), "codeExecutionResult.id")
        is_error = outcome is not None and outcome != "OUTCOME_OK"
        value = {"outcome": outcome, "output": output}
        out.append(ProviderToolResult(id_, "code_execution", value, is_error))
        return
    call = part.get("toolCall")
    if call is not None:
        call = _object(call, "parts[].toolCall")
        arguments = shallow(
            object_or_none(call.get("args"), "toolCall.args") or {}, "toolCall.args"
        )
        out.append(ProviderToolCall(_id(call, "toolCall"), _tool_type(call, "toolCall"), arguments))
        return
    response = part.get("toolResponse")
    if response is not None:
        response = _object(response, "parts[].toolResponse")
        name = _tool_type(response, "toolResponse")
        value = shallow(response.get("response"), "toolResponse.response")
        out.append(ProviderToolResult(_id(response, "toolResponse"), name, value))


def _object(value: Any, where: str) -> dict[str, Any]:
    if type(value) is not dict:
        bad(where, value, "an object")
    return value


def _id(holder: dict[str, Any], where: str) -> str | None:
    return text_or_none(holder.get("id"), f"{where}.id")


def _tool_type(holder: dict[str, Any], where: str) -> str:
    """The built-in tool's name: its `toolType` ("GOOGLE_SEARCH_WEB") in lower case."""
    kind = text_or_none(holder.get("toolType"), f"{where}.toolType")
    return kind.lower() if kind else "unknown"


def _categories(holder: dict[str, Any]) -> str:
    """ ", category: HARM_CATEGORY_X" for the ratings that blocked, else the worst one."""
    ratings = holder.get("safetyRatings") or []
    if type(ratings) is not list:
        bad("safetyRatings", ratings, "a list")
    for rating in ratings:
        if type(rating) is not dict:
            bad("safetyRatings[]", rating, "an object")
    blocked = [r.get("category") for r in ratings if r.get("blocked")]
    if not blocked:
        blocked = [r.get("category") for r in ratings if r.get("probability") in ("HIGH", "MEDIUM")]
    names = [name for name in blocked if name and type(name) is str]
    return f", category: {', '.join(names)}" if names else ""


def _error(error: Any) -> StreamError:
    if type(error) is not dict:
        return StreamError("server", str(error))
    code = error.get("code")
    status = code if type(code) is int else None
    status_word = text_or_none(error.get("status"), "error.status")
    message = text_or_none(error.get("message"), "error.message")
    kind = classify_error(status, status_word, _reason(error))
    return StreamError(
        kind, message or status_word or "Gemini reported an error", status, status_word, error
    )


def _reason(error: dict[str, Any]) -> str | None:
    details = error.get("details") or ()
    if type(details) is not list and details != ():
        bad("error.details", details, "a list")
    for detail in details:
        if isinstance(detail, dict) and detail.get("reason"):
            return str(detail["reason"])
    return None
