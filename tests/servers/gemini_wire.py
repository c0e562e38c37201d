"""Builders of Gemini `streamGenerateContent?alt=sse` bytes and error replies (WIRE-FORMATS.md §5).

Everything here is pure: events are `bytes`, replies are `Reply` objects for `ProviderServer`.
Stream JSON is written in the recorded style: `": "` after keys, a bare `,` between items, UTF-8
(`{"candidates": [{"content": {"parts": [{"text": "Ol"}],"role": "model"},"index": 0}],...}`),
and each event ends in CRLF CRLF. Error bodies are pretty-printed over several lines.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .provider_server import Reply, Write

__all__ = [
    "GEMINI_HARM_CATEGORIES",
    "gemini_dumps",
    "gemini_error_reply",
    "gemini_event",
    "gemini_events",
    "gemini_in_stream_error",
]

# The categories a `safetyRatings` list reports, in the order Gemini sends them.
GEMINI_HARM_CATEGORIES = (
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
)

# google.rpc.Code names by HTTP status.
_DEFAULT_STATUS_TEXTS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def gemini_dumps(payload: Any) -> bytes:
    """UTF-8 JSON in the recorded stream style: `"key": value`, items joined by a bare `,`."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ": ")).encode("utf-8")


def gemini_event(payload: Any, *, crlf: bool = True) -> bytes:
    """One `data:` event ended by a blank line, with CRLF (recorded) or LF line endings."""
    end = b"\r\n" if crlf else b"\n"
    return b"data: " + gemini_dumps(payload) + end + end


def gemini_events(
    texts: Sequence[str] = (),
    *,
    thoughts: Sequence[str] = (),
    function_calls: Sequence[tuple[str, Mapping[str, Any]]] = (),
    parts: Sequence[Mapping[str, Any]] = (),
    finish_reason: str | None = "STOP",
    prompt_tokens: int = 8,
    thoughts_tokens: int | None = None,
    model_version: str = "gemini-2.5-flash",
    response_id: str = "q1Zx",
    crlf: bool = True,
    block_reason: str | None = None,
    safety_category: str | None = None,
) -> list[bytes]:
    """The SSE events of one streamed GenerateContentResponse, one `data:` event per element.

    One chunk per thought piece (`{"text": …, "thought": true}`), then one chunk holding `parts` as
    given (e.g. the `executableCode` and `codeExecutionResult` parts of a tool Gemini runs itself),
    then one per text piece, then one chunk holding every function call whole
    (`{"functionCall": {"name": …, "args": {…}}}`); with none of these, a single empty-text
    chunk. The last chunk carries `finishReason` (none when `finish_reason` is None, to imitate
    a cut stream); there is no terminal marker.

    Every chunk carries cumulative `usageMetadata`: one candidate token per text piece and function
    call (`candidatesTokenCount` is left out while 0, as recorded), `thoughtsTokenCount` =
    `thoughts_tokens` on every chunk, or else one per thought piece so far when there are thoughts,
    and `totalTokenCount` = prompt + candidates + thoughts.

    `safety_category` appends a chunk without content whose `finishReason` is `SAFETY` and whose
    `safetyRatings` mark that category `HIGH` and `blocked`. `block_reason` returns a single
    chunk without `candidates`, with `promptFeedback.blockReason`.
    """
    tail: dict[str, Any] = {"modelVersion": model_version, "responseId": response_id}
    if block_reason is not None:
        if texts or thoughts or function_calls or parts or safety_category is not None:
            raise ValueError("a blocked prompt gets no candidates")
        prompt_only = {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens}
        blocked = {
            "promptFeedback": {"blockReason": block_reason},
            "usageMetadata": prompt_only,
            **tail,
        }
        return [gemini_event(blocked, crlf=crlf)]

    # (parts, candidate tokens, thought tokens) per chunk; finishReason is added afterwards.
    steps: list[tuple[list[dict[str, Any]] | None, int, int]] = []
    for piece in thoughts:
        steps.append(([{"text": piece, "thought": True}], 0, 1))
    if parts:
        steps.append(([dict(part) for part in parts], len(parts), 0))
    for piece in texts:
        steps.append(([{"text": piece}], 1, 0))
    if function_calls:
        calls = [
            {"functionCall": {"name": name, "args": dict(args)}} for name, args in function_calls
        ]
        steps.append((calls, len(calls), 0))
    if safety_category is not None:
        steps.append((None, 0, 0))
    elif not steps:
        steps.append(([{"text": ""}], 0, 0))

    payloads: list[dict[str, Any]] = []
    candidates_total = thoughts_total = 0
    for number, (chunk_parts, candidate_tokens, thought_tokens) in enumerate(steps):
        candidates_total += candidate_tokens
        thoughts_total += thought_tokens
        candidate: dict[str, Any] = {}
        if chunk_parts is not None:
            candidate["content"] = {"parts": chunk_parts, "role": "model"}
        if number == len(steps) - 1:
            if safety_category is not None:
                candidate["finishReason"] = "SAFETY"
            elif finish_reason is not None:
                candidate["finishReason"] = finish_reason
        candidate["index"] = 0
        if chunk_parts is None and safety_category is not None:
            candidate["safetyRatings"] = _safety_ratings(safety_category)

        thoughts_count = thoughts_tokens if thoughts_tokens is not None else thoughts_total
        usage: dict[str, int] = {"promptTokenCount": prompt_tokens}
        if candidates_total:
            usage["candidatesTokenCount"] = candidates_total
        usage["totalTokenCount"] = prompt_tokens + candidates_total + thoughts_count
        if thoughts or thoughts_tokens is not None:
            usage["thoughtsTokenCount"] = thoughts_count
        payloads.append({"candidates": [candidate], "usageMetadata": usage, **tail})
    return [gemini_event(payload, crlf=crlf) for payload in payloads]


def _safety_ratings(blocked_category: str) -> list[dict[str, Any]]:
    categories = list(GEMINI_HARM_CATEGORIES)
    if blocked_category not in categories:
        categories.append(blocked_category)
    ratings: list[dict[str, Any]] = []
    for category in categories:
        if category == blocked_category:
            ratings.append({"category": category, "probability": "HIGH", "blocked": True})
        else:
            ratings.append({"category": category, "probability": "NEGLIGIBLE"})
    return ratings


def gemini_in_stream_error(code: int, message: str, status: str, *, crlf: bool = True) -> bytes:
    """An error event in a 200 stream: `data: {"error": {"code": …,"message": …,"status": …}}`."""
    return gemini_event({"error": {"code": code, "message": message, "status": status}}, crlf=crlf)


def gemini_error_reply(
    status: int,
    *,
    message: str,
    status_text: str | None = None,
    reason: str | None = None,
    retry_delay: float | str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """A non-2xx reply with Google's error object, pretty-printed (indent 2) as Google sends it.

    `status_text` defaults from the status (e.g. 429 → RESOURCE_EXHAUSTED). `reason` adds an
    ErrorInfo detail (e.g. `API_KEY_INVALID`), `retry_delay` a RetryInfo detail (`7` → `"7s"`);
    `details` is left out when there are none. Headers given in `headers` are added last and win.
    """
    if status_text is None:
        status_text = _DEFAULT_STATUS_TEXTS.get(status, "UNKNOWN")
    details: list[dict[str, Any]] = []
    if reason is not None:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
            }
        )
    if retry_delay is not None:
        if isinstance(retry_delay, str):
            delay = retry_delay
        else:
            delay = f"{int(retry_delay)}s" if float(retry_delay).is_integer() else f"{retry_delay}s"
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay})
    error: dict[str, Any] = {"code": status, "message": message, "status": status_text}
    if details:
        error["details"] = details
    body = json.dumps({"error": error}, ensure_ascii=False, indent=2) + "\n"
    merged: dict[str, str] = {"content-type": "application/json; charset=UTF-8"}
    lowered = {name.lower(): name for name in merged}
    for name, value in (headers or {}).items():
        merged.pop(lowered.get(name.lower(), name), None)
        merged[name] = value
    return Reply(
        status=status, headers=merged, steps=[Write(body.encode("utf-8"))], framing="length"
    )
