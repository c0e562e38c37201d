"""Builders of OpenAI-compatible stream bytes and error replies (WIRE-FORMATS.md §2, §3, §7).

Everything here is pure: events are `bytes`, replies are `Reply` objects for `ProviderServer`.
JSON is compact and UTF-8 (`ensure_ascii=False`), like the providers send it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeAlias

from .provider_server import Framing, Reply, Sleep, Step, Write

__all__ = [
    "CREATED",
    "Style",
    "dumps",
    "error_body",
    "error_reply",
    "every_byte",
    "in_stream_error",
    "json_reply",
    "openai_chunks",
    "split_bytes",
    "sse_comment",
    "sse_data",
    "stream_reply",
]

Style: TypeAlias = Literal["openai", "xai", "groq", "deepseek"]

CREATED = 1760000000

_DEFAULT_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def dumps(payload: Any) -> bytes:
    """Compact UTF-8 JSON, as the providers write it."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sse_data(payload: Any) -> bytes:
    """One `data:` event; `payload` is JSON-encoded unless it is already str or bytes."""
    if isinstance(payload, bytes):
        data = payload
    elif isinstance(payload, str):
        data = payload.encode("utf-8")
    else:
        data = dumps(payload)
    return b"data: " + data + b"\n\n"


def sse_comment(text: str = "keep-alive") -> bytes:
    """An SSE comment line plus the blank line, e.g. DeepSeek's `: keep-alive`."""
    return b": " + text.encode("utf-8") + b"\n\n"


def openai_chunks(
    deltas: Sequence[str],
    *,
    model: str = "gpt-4o-mini",
    finish_reason: str | None = "stop",
    usage: Mapping[str, Any] | None = None,
    reasoning: Sequence[str] = (),
    include_done: bool = True,
    style: Style = "openai",
    id: str = "chatcmpl-1",
    created: int = CREATED,
) -> list[bytes]:
    """The SSE events of one streamed chat completion, one `data: {json}\\n\\n` per element.

    Reasoning deltas come first (DeepSeek and xAI `reasoning_content`, Groq `reasoning`; OpenAI
    streams no reasoning text), then the answer deltas, then the finish chunk (omitted when
    `finish_reason` is None, to imitate a stream cut short), the usage chunk(s) when `usage` is
    given, and `data: [DONE]` when `include_done`.
    """
    if reasoning and style == "openai":
        raise ValueError("the OpenAI style has no reasoning deltas")
    groq_id = f"req_{id}"

    def chunk(
        delta: Mapping[str, Any], finish: str | None, *, final: bool = False
    ) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "delta": dict(delta)}
        if style == "groq":
            choice["logprobs"] = None
        # xAI leaves finish_reason out until the final chunk instead of sending null.
        if style != "xai" or final:
            choice["finish_reason"] = finish
        body: dict[str, Any] = {
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [choice],
        }
        if style == "groq" and final:
            x_groq: dict[str, Any] = {"id": groq_id}
            if usage is not None:
                x_groq["usage"] = dict(usage)
                body["x_groq"], body["usage"] = x_groq, dict(usage)
            else:
                body["x_groq"] = x_groq
        elif style == "openai" and usage is not None:
            body["usage"] = None  # with include_usage every chunk but the last carries null
        return body

    reasoning_key = "reasoning" if style == "groq" else "reasoning_content"
    payloads: list[dict[str, Any]] = []
    for piece in reasoning:
        delta: dict[str, Any] = {}
        if style == "deepseek":
            delta["content"] = None
        delta[reasoning_key] = piece
        payloads.append(chunk(delta, None))
    for piece in deltas:
        payloads.append(chunk({"content": piece}, None))
    if not payloads:
        payloads.append(chunk({"content": ""}, None))
    first_delta = payloads[0]["choices"][0]["delta"]
    payloads[0]["choices"][0]["delta"] = {"role": "assistant", **first_delta}
    if style == "groq":
        payloads[0]["x_groq"] = {"id": groq_id}

    if finish_reason is not None:
        payloads.append(chunk({}, finish_reason, final=True))
    if usage is not None:
        payloads.append(
            {
                "id": id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": dict(usage),
            }
        )

    events = [sse_data(payload) for payload in payloads]
    if include_done:
        events.append(b"data: [DONE]\n\n")
    return events


def in_stream_error(message: str, type: str = "server_error", *, code: str | None = None) -> bytes:
    """An error event inside a 200 stream: `data: {"error":{"message":…,"type":…}}`."""
    error: dict[str, Any] = {"message": message, "type": type}
    if code is not None:
        error["code"] = code
    return sse_data({"error": error})


def split_bytes(data: bytes, size: int) -> list[bytes]:
    """Cut `data` every `size` bytes, with no regard for lines or UTF-8 characters."""
    if size < 1:
        raise ValueError("size must be at least 1")
    return [data[start : start + size] for start in range(0, len(data), size)]


def every_byte(data: bytes) -> list[bytes]:
    return split_bytes(data, 1)


def stream_reply(
    events: Sequence[bytes],
    *,
    split: int | None = None,
    delay: float = 0.0,
    then: Sequence[Step] = (),
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    framing: Framing = "chunked",
) -> Reply:
    """A Reply that streams `events`.

    Without `split` each event is one Write; with `split` the concatenated events are cut every
    `split` bytes (mid-line, mid-character). `delay` > 0 puts a Sleep between writes; `then` is
    appended, e.g. `[Drop()]` or `[Hang()]`.
    """
    pieces = split_bytes(b"".join(events), split) if split is not None else list(events)
    steps: list[Step] = []
    for number, piece in enumerate(pieces):
        if number and delay > 0:
            steps.append(Sleep(delay))
        steps.append(Write(piece))
    steps.extend(then)
    return Reply(status=status, headers=dict(headers or {}), steps=steps, framing=framing)


def json_reply(
    payload: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> Reply:
    """A plain JSON reply with Content-Length (a non-streamed completion, a model list, ...)."""
    merged = {"Content-Type": "application/json", **(headers or {})}
    return Reply(status=status, headers=merged, steps=[Write(dumps(payload))], framing="length")


def error_body(
    message: str,
    *,
    type: str,
    code: str | None = None,
    param: str | None = None,
    style: Style = "openai",
) -> bytes:
    """The JSON error object; Groq documents `param` as absent and `code` as optional."""
    error: dict[str, Any] = {"message": message, "type": type}
    if style == "groq":
        if code is not None:
            error["code"] = code
    else:
        error["param"] = param
        error["code"] = code
    return dumps({"error": error})


def error_reply(
    status: int,
    *,
    message: str,
    type: str | None = None,
    code: str | None = None,
    param: str | None = None,
    style: Style = "openai",
    headers: Mapping[str, str] | None = None,
    retry_after: float | None = None,
    request_id: str = "req_0123456789abcdef",
) -> Reply:
    """A non-2xx reply with the OpenAI error object, `x-request-id` and optional `retry-after`.

    `type` defaults from the status (e.g. 429 → rate_limit_error, 5xx → server_error).
    Headers given in `headers` are added last and win.
    """
    if type is None:
        type = _DEFAULT_ERROR_TYPES.get(status, "server_error" if status >= 500 else "error")
    merged: dict[str, str] = {"content-type": "application/json", "x-request-id": request_id}
    if retry_after is not None:
        merged["retry-after"] = (
            str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
        )
    lowered = {name.lower(): name for name in merged}
    for name, value in (headers or {}).items():
        merged.pop(lowered.get(name.lower(), name), None)
        merged[name] = value
    body = error_body(message, type=type, code=code, param=param, style=style)
    return Reply(status=status, headers=merged, steps=[Write(body)], framing="length")
