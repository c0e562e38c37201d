"""Builders of Anthropic Messages stream bytes and error replies (WIRE-FORMATS.md §4, §7).

Everything here is pure: events are `bytes`, replies are `Reply` objects for `ProviderServer`.
Each event is `event: <type>\\ndata: <json>\\n\\n`; the JSON is compact and UTF-8, except `ping`,
which Anthropic sends as `{"type": "ping"}`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .openai_wire import dumps
from .provider_server import Reply, Write

__all__ = [
    "ANTHROPIC_PING",
    "ANTHROPIC_SIGNATURE",
    "anthropic_error_event",
    "anthropic_error_reply",
    "anthropic_event",
    "anthropic_events",
]

# Byte for byte as recorded: the one event Anthropic writes with a space after the colon.
ANTHROPIC_PING = b'event: ping\ndata: {"type": "ping"}\n\n'

# An opaque stand-in for the base64 signature that closes a thinking block.
ANTHROPIC_SIGNATURE = "bGFyYWZsb3dhaS10ZXN0LXRoaW5raW5nLXNpZ25hdHVyZQ=="

_DEFAULT_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

# Widths of the space runs recorded before the final `}` (cycled, so output stays deterministic).
_PADDING = (4, 7, 1, 13, 2, 6, 15, 3, 9, 5)


def anthropic_event(payload: Mapping[str, Any], *, pad: int = 0) -> bytes:
    """One event named after `payload["type"]`; `pad` spaces go before the JSON's last `}`."""
    data = dumps(payload)
    if pad:
        data = data[:-1] + b" " * pad + b"}"
    return b"event: " + str(payload["type"]).encode("utf-8") + b"\ndata: " + data + b"\n\n"


def anthropic_events(
    texts: Sequence[str] = (),
    *,
    thinking: Sequence[str] = (),
    tool_calls: Sequence[tuple[str, str, Sequence[str]]] = (),
    server_tools: Sequence[tuple[str, str, Sequence[str], Any]] = (),
    message_content: Sequence[Mapping[str, Any]] = (),
    start_stop_reason: str | None = None,
    model: str = "claude-sonnet-4-5",
    input_tokens: int = 14,
    output_tokens: int | None = None,
    stop_reason: str | None = "end_turn",
    stop_sequence: str | None = None,
    ping: bool = True,
    stop: bool = True,
    pad: bool = False,
    signature: str = ANTHROPIC_SIGNATURE,
    id: str = "msg_01Ab",
) -> list[bytes]:
    """The SSE events of one streamed message, one `event:`/`data:` pair per element.

    Blocks come in the order thinking (one block: a `thinking_delta` per piece, then a
    `signature_delta`), the tools Anthropic runs itself (per `(id, name, partial_json fragments,
    result content)` a `server_tool_use` block, then its `<name>_tool_result` block holding the
    content whole), text (one block: a `text_delta` per piece; left out when `texts` is empty)
    and one `tool_use` block per `(id, name, partial_json fragments)`, each block framed by
    `content_block_start`/`content_block_stop` with a consecutive `index`. `message_content`
    puts whole blocks in `message_start` itself (their indexes come first) and
    `start_stop_reason` its stop reason, as Anthropic sends a message that is already complete.
    `message_start` reports `output_tokens: 1`; `message_delta` reports the cumulative
    `output_tokens` (default: one per delta event, at least 1). `stop_reason=None` leaves out
    `message_delta` and `stop=False` leaves out `message_stop`, to imitate streams cut short.
    `ping` puts one `ping` after the first block start (after `message_start` when there is no
    block). `pad` adds the recorded runs of spaces before the last `}` of every data JSON but the
    ping's.
    """
    payloads: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {
                "id": id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [dict(block) for block in message_content],
                "stop_reason": start_stop_reason,
                "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": 1},
            },
        }
    ]
    deltas = 0

    def block(start: Mapping[str, Any], pieces: Sequence[Mapping[str, Any]]) -> None:
        nonlocal deltas
        index = len(message_content) + sum(
            1 for payload in payloads if payload["type"] == "content_block_start"
        )
        payloads.append({"type": "content_block_start", "index": index, "content_block": start})
        for delta in pieces:
            payloads.append({"type": "content_block_delta", "index": index, "delta": dict(delta)})
        deltas += len(pieces)
        payloads.append({"type": "content_block_stop", "index": index})

    if thinking:
        block(
            {"type": "thinking", "thinking": "", "signature": ""},
            [{"type": "thinking_delta", "thinking": piece} for piece in thinking]
            + [{"type": "signature_delta", "signature": signature}],
        )
    for call_id, name, fragments, result in server_tools:
        block(
            {"type": "server_tool_use", "id": call_id, "name": name, "input": {}},
            [{"type": "input_json_delta", "partial_json": fragment} for fragment in fragments],
        )
        block({"type": f"{name}_tool_result", "tool_use_id": call_id, "content": result}, [])
    if texts:
        block(
            {"type": "text", "text": ""},
            [{"type": "text_delta", "text": piece} for piece in texts],
        )
    for call_id, name, fragments in tool_calls:
        block(
            {"type": "tool_use", "id": call_id, "name": name, "input": {}},
            [{"type": "input_json_delta", "partial_json": fragment} for fragment in fragments],
        )

    if stop_reason is not None:
        payloads.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
                "usage": {
                    "output_tokens": max(1, deltas) if output_tokens is None else output_tokens
                },
            }
        )
    if stop:
        payloads.append({"type": "message_stop"})

    events = [
        anthropic_event(payload, pad=_PADDING[number % len(_PADDING)] if pad else 0)
        for number, payload in enumerate(payloads)
    ]
    if ping:
        starts = [n for n, p in enumerate(payloads) if p["type"] == "content_block_start"]
        events.insert(starts[0] + 1 if starts else 1, ANTHROPIC_PING)
    return events


def anthropic_error_event(type: str = "overloaded_error", message: str = "Overloaded") -> bytes:
    """An `error` event inside a 200 stream (no `message_stop` follows it)."""
    return anthropic_event({"type": "error", "error": {"type": type, "message": message}})


def anthropic_error_reply(
    status: int,
    *,
    type: str | None = None,
    message: str,
    retry_after: float | None = None,
    request_id: str = "req_011CSHoEeqs5C35K2UUqR7Fy",
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """A non-2xx reply with Anthropic's error object, `request-id` and optional `retry-after`.

    `type` defaults from the status (e.g. 529 → overloaded_error; other 4xx →
    invalid_request_error, other 5xx → api_error). Headers given in `headers` are added last
    and win.
    """
    if type is None:
        type = _DEFAULT_ERROR_TYPES.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
    merged: dict[str, str] = {"content-type": "application/json", "request-id": request_id}
    if retry_after is not None:
        merged["retry-after"] = (
            str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
        )
    lowered = {name.lower(): name for name in merged}
    for name, value in (headers or {}).items():
        merged.pop(lowered.get(name.lower(), name), None)
        merged[name] = value
    body = dumps(
        {"type": "error", "error": {"type": type, "message": message}, "request_id": request_id}
    )
    return Reply(status=status, headers=merged, steps=[Write(body)], framing="length")
