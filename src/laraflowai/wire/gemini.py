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
- `usageMetadata` is cumulative on every chunk: a snapshot.
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

__all__ = ["GeminiStreamDecoder"]

_FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length"}
# Finish reasons that mean the answer was withheld: an error, never a quiet stop.
_BLOCKED = {
    "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "LANGUAGE",
}  # fmt: skip


class GeminiStreamDecoder(SSEJSONDecoder):
    __slots__ = ("_calls", "model")

    def __init__(self) -> None:
        super().__init__()
        self._calls = 0
        self.model: str | None = None

    def _event(self, sse: ServerSentEvent, out: list[Event]) -> None:
        data = sse.raw
        try:
            chunk = loads(data)
        except ValueError:
            out.append(StreamError("protocol", f"Gemini sent a malformed event: {data[:200]!r}"))
            return
        if type(chunk) is not dict:
            return
        error = chunk.get("error")
        if error:
            out.append(_error(error))
            return
        self.model = chunk.get("modelVersion", self.model)
        feedback = chunk.get("promptFeedback") or {}
        candidates = chunk.get("candidates")
        if not candidates:
            if feedback.get("blockReason"):
                reason = feedback["blockReason"]
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
        candidate = candidates[0]
        for part in (candidate.get("content") or {}).get("parts") or ():
            self._part(part, out)
        self._usage(chunk, out)
        raw = candidate.get("finishReason")
        if raw:
            self._finish(raw, candidate, out)

    def _part(self, part: dict[str, Any], out: list[Event]) -> None:
        text = part.get("text")
        if text:
            out.append(ReasoningDelta(text) if part.get("thought") else TextDelta(text))
        call = part.get("functionCall")
        if call:
            index = self._calls
            self._calls += 1
            arguments = call.get("args") or {}
            out.append(
                ToolCallDelta(index, call.get("id"), call.get("name"), json.dumps(arguments))
            )
            if isinstance(arguments, dict) and call.get("name"):
                out.append(ToolCall(index, call.get("id"), call["name"], arguments))
            else:
                out.append(
                    StreamError(
                        "malformed_tool_call", f"Gemini sent a malformed function call: {call!r}"
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
            out.append(
                Usage(
                    usage.get("promptTokenCount"),
                    usage.get("candidatesTokenCount"),
                    usage.get("totalTokenCount"),
                    usage.get("thoughtsTokenCount"),
                    usage.get("cachedContentTokenCount"),
                )
            )


def _categories(holder: dict[str, Any]) -> str:
    """ ", category: HARM_CATEGORY_X" for the ratings that blocked, else the worst one."""
    ratings = holder.get("safetyRatings") or []
    blocked = [r.get("category") for r in ratings if r.get("blocked")]
    if not blocked:
        blocked = [r.get("category") for r in ratings if r.get("probability") in ("HIGH", "MEDIUM")]
    names = [name for name in blocked if name]
    return f", category: {', '.join(names)}" if names else ""


def _error(error: Any) -> StreamError:
    if not isinstance(error, dict):
        return StreamError("server", str(error))
    code = error.get("code")
    status = code if isinstance(code, int) else None
    kind = classify_error(status, error.get("status"), _reason(error))
    message = str(error.get("message") or error.get("status") or "Gemini reported an error")
    return StreamError(kind, message, status, error.get("status"), error)


def _reason(error: dict[str, Any]) -> str | None:
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and detail.get("reason"):
            return str(detail["reason"])
    return None
