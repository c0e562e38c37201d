"""Tests of the Anthropic, Gemini and Ollama wire builders, parsed with the stdlib only."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest

from . import (
    ANTHROPIC_PING,
    Drop,
    ProviderServer,
    Write,
    anthropic_error_event,
    anthropic_error_reply,
    anthropic_events,
    gemini_error_reply,
    gemini_events,
    gemini_in_stream_error,
    ndjson_reply,
    ollama_error_line,
    ollama_error_reply,
    ollama_lines,
)

# WIRE-FORMATS.md section 4, byte for byte.
SPEC_ANTHROPIC_STREAM = (
    "event: message_start\n"
    'data: {"type":"message_start","message":{"id":"msg_01Ab","type":"message","role":"assistant",'
    '"model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,'
    '"usage":{"input_tokens":14,"output_tokens":1}}}\n\n'
    "event: content_block_start\n"
    'data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
    "event: ping\n"
    'data: {"type": "ping"}\n\n'
    "event: content_block_delta\n"
    'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Ol"}}\n\n'
    "event: content_block_delta\n"
    'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"á!"}}\n\n'
    "event: content_block_stop\n"
    'data: {"type":"content_block_stop","index":0}\n\n'
    "event: message_delta\n"
    'data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},'
    '"usage":{"output_tokens":6}}\n\n'
    "event: message_stop\n"
    'data: {"type":"message_stop"}\n\n'
).encode()

# WIRE-FORMATS.md section 5, the first event byte for byte.
SPEC_GEMINI_FIRST_EVENT = (
    b'data: {"candidates": [{"content": {"parts": [{"text": "Ol"}],"role": "model"},"index": 0}],'
    b'"usageMetadata": {"promptTokenCount": 8,"candidatesTokenCount": 1,"totalTokenCount": 29,'
    b'"thoughtsTokenCount": 20},"modelVersion": "gemini-2.5-flash","responseId": "q1Zx"}\r\n\r\n'
)

# WIRE-FORMATS.md section 6, byte for byte.
SPEC_OLLAMA_STREAM = (
    '{"model":"llama3.2","created_at":"2026-08-01T10:00:00.1Z",'
    '"message":{"role":"assistant","content":"Ol"},"done":false}\n'
    '{"model":"llama3.2","created_at":"2026-08-01T10:00:00.2Z",'
    '"message":{"role":"assistant","content":"á!"},"done":false}\n'
    '{"model":"llama3.2","created_at":"2026-08-01T10:00:00.3Z",'
    '"message":{"role":"assistant","content":""},"done":true,"done_reason":"stop",'
    '"total_duration":412000000,"load_duration":2100000,"prompt_eval_count":26,'
    '"prompt_eval_duration":90000000,"eval_count":3,"eval_duration":300000000}\n'
).encode()


# --- stdlib parsers ----------------------------------------------------------------------------


def parse_anthropic(events: list[bytes]) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data JSON) per element; each element must be exactly one LF-framed event."""
    parsed = []
    for event in events:
        assert event.endswith(b"\n\n") and b"\r" not in event
        lines = event[:-2].split(b"\n")
        assert len(lines) == 2, event
        assert lines[0].startswith(b"event: ") and lines[1].startswith(b"data: ")
        parsed.append((lines[0][7:].decode(), json.loads(lines[1][6:])))
    return parsed


def parse_gemini(events: list[bytes]) -> list[dict[str, Any]]:
    """The data JSON of each element; each must be one CRLF-framed `data:` line."""
    parsed = []
    for event in events:
        assert event.endswith(b"\r\n\r\n")
        line = event[:-4]
        assert b"\r" not in line and b"\n" not in line
        assert line.startswith(b"data: ")
        parsed.append(json.loads(line[6:]))
    return parsed


def parse_ollama(lines: list[bytes]) -> list[dict[str, Any]]:
    """Each element must be one compact JSON object and one `\\n`."""
    parsed = []
    for line in lines:
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        obj = json.loads(line)
        assert isinstance(obj, dict)
        compact = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
        assert line[:-1] == compact
        parsed.append(obj)
    return parsed


def check_anthropic_blocks(parsed: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Check names, block nesting and index order; return the assembled content blocks."""
    for name, data in parsed:
        assert data["type"] == name
    names = [name for name, _ in parsed if name != "ping"]
    assert names[0] == "message_start"
    blocks: list[dict[str, Any]] = []
    open_index: int | None = None
    for name, data in parsed:
        if name == "content_block_start":
            assert open_index is None and data["index"] == len(blocks)
            open_index = data["index"]
            blocks.append({**data["content_block"], "json": ""})
        elif name == "content_block_delta":
            assert data["index"] == open_index
            delta, block = data["delta"], blocks[data["index"]]
            kind = delta["type"]
            if kind == "text_delta":
                block["text"] += delta["text"]
            elif kind == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif kind == "signature_delta":
                block["signature"] += delta["signature"]
            else:
                assert kind == "input_json_delta"
                block["json"] += delta["partial_json"]
        elif name == "content_block_stop":
            assert data["index"] == open_index
            open_index = None
        elif name in ("message_delta", "message_stop"):
            assert open_index is None
    assert open_index is None
    return blocks


# --- Anthropic ---------------------------------------------------------------------------------


def test_anthropic_events_match_the_spec_example() -> None:
    assert b"".join(anthropic_events(["Ol", "á!"], output_tokens=6)) == SPEC_ANTHROPIC_STREAM


def test_anthropic_blocks_come_in_order_with_consistent_indexes() -> None:
    events = anthropic_events(
        ["Hel", "lo"],
        thinking=["Let me", " think"],
        tool_calls=[
            ("toolu_01", "weather", ['{"lo', 'cation": "Fl', 'orence"}']),
            ("toolu_02", "clock", []),
        ],
        stop_reason="tool_use",
    )
    parsed = parse_anthropic(events)
    blocks = check_anthropic_blocks(parsed)
    assert [block["type"] for block in blocks] == ["thinking", "text", "tool_use", "tool_use"]
    assert blocks[0]["thinking"] == "Let me think" and blocks[0]["signature"]
    assert blocks[1]["text"] == "Hello"
    assert (blocks[2]["id"], blocks[2]["name"]) == ("toolu_01", "weather")
    assert json.loads(blocks[2]["json"]) == {"location": "Florence"}
    assert blocks[3]["json"] == ""  # parsed as {} by clients
    # The signature closes the thinking block.
    thinking_deltas = [
        d["delta"]["type"] for n, d in parsed if d.get("index") == 0 and "delta" in d
    ]
    assert thinking_deltas == ["thinking_delta", "thinking_delta", "signature_delta"]
    # One ping, right after the first block start.
    names = [name for name, _ in parsed]
    assert names.count("ping") == 1 and names[1:3] == ["content_block_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    assert parsed[-2][1]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}


def test_anthropic_usage_is_cumulative() -> None:
    parsed = parse_anthropic(anthropic_events(["a", "b", "c"], thinking=["t"], input_tokens=40))
    start = parsed[0][1]["message"]["usage"]
    assert start == {"input_tokens": 40, "output_tokens": 1}
    finals = [data["usage"]["output_tokens"] for name, data in parsed if name == "message_delta"]
    # Default: one token per delta event (3 text, 1 thinking, 1 signature).
    assert finals == [5] and finals[0] >= start["output_tokens"]
    parsed = parse_anthropic(anthropic_events(["a"], output_tokens=99))
    assert [d["usage"] for n, d in parsed if n == "message_delta"] == [{"output_tokens": 99}]


def test_anthropic_cut_streams_and_options() -> None:
    names = [n for n, _ in parse_anthropic(anthropic_events(["a"], stop=False))]
    assert "message_stop" not in names and names[-1] == "message_delta"
    names = [n for n, _ in parse_anthropic(anthropic_events(["a"], stop_reason=None, stop=False))]
    assert names[-1] == "content_block_stop"
    names = [n for n, _ in parse_anthropic(anthropic_events(["a"], ping=False))]
    assert "ping" not in names
    names = [n for n, _ in parse_anthropic(anthropic_events())]
    assert names == ["message_start", "ping", "message_delta", "message_stop"]
    parsed = parse_anthropic(
        anthropic_events(["a"], stop_reason="stop_sequence", stop_sequence="END", model="m", id="x")
    )
    assert parsed[0][1]["message"]["model"] == "m" and parsed[0][1]["message"]["id"] == "x"
    assert parsed[-2][1]["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "END"}


def test_anthropic_padding_is_optional_and_still_json() -> None:
    plain = anthropic_events(["a", "b"], tool_calls=[("t", "n", ["{}"])])
    padded = anthropic_events(["a", "b"], tool_calls=[("t", "n", ["{}"])], pad=True)
    assert parse_anthropic(padded) == parse_anthropic(plain)
    assert ANTHROPIC_PING in padded
    for event in padded:
        if event != ANTHROPIC_PING:
            assert event.endswith(b" }\n\n"), event
    assert all(not event.endswith(b" }\n\n") for event in plain)


def test_anthropic_error_event_and_reply() -> None:
    assert anthropic_error_event() == (
        b'event: error\ndata: {"type":"error","error":'
        b'{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    )
    parsed = parse_anthropic([anthropic_error_event("api_error", "Internal server error")])
    assert parsed == [
        (
            "error",
            {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}},
        )
    ]

    reply = anthropic_error_reply(529, message="Overloaded", retry_after=2)
    assert reply.status == 529 and reply.framing == "length"
    assert reply.headers == {
        "content-type": "application/json",
        "request-id": "req_011CSHoEeqs5C35K2UUqR7Fy",
        "retry-after": "2",
    }
    assert json.loads(reply.body) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
        "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
    }
    expected = {
        400: "invalid_request_error",
        401: "authentication_error",
        402: "billing_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
        422: "invalid_request_error",
        429: "rate_limit_error",
        500: "api_error",
        502: "api_error",
        529: "overloaded_error",
    }
    for status, type in expected.items():
        body = json.loads(anthropic_error_reply(status, message="m").body)
        assert body["error"]["type"] == type, status
    reply = anthropic_error_reply(
        400, type="x", message="m", request_id="req_2", headers={"Request-Id": "req_3"}
    )
    assert json.loads(reply.body)["error"]["type"] == "x"
    assert reply.headers == {"content-type": "application/json", "Request-Id": "req_3"}


# --- Gemini ------------------------------------------------------------------------------------


def test_gemini_first_event_matches_the_spec_example() -> None:
    events = gemini_events(["Ol", "á!"], thoughts_tokens=20)
    assert events[0] == SPEC_GEMINI_FIRST_EVENT
    last = parse_gemini(events)[-1]
    assert last["candidates"][0]["finishReason"] == "STOP"
    assert last["candidates"][0]["content"]["parts"] == [{"text": "á!"}]
    assert "á!".encode() in events[-1]  # UTF-8, not \u escapes


def test_gemini_uses_crlf_and_finish_reason_only_on_the_last_chunk() -> None:
    events = gemini_events(
        ["a", "b"], thoughts=["hmm", " ok"], function_calls=[("weather", {"city": "Paris"})]
    )
    body = b"".join(events)
    assert body.count(b"\n") == body.count(b"\r\n") == 2 * len(events)
    assert b"[DONE]" not in body
    chunks = parse_gemini(events)
    assert len(chunks) == 5
    candidates = [chunk["candidates"][0] for chunk in chunks]
    assert ["finishReason" in c for c in candidates] == [False] * 4 + [True]
    assert all(c["index"] == 0 and c["content"]["role"] == "model" for c in candidates)
    parts = [part for c in candidates for part in c["content"]["parts"]]
    assert parts == [
        {"text": "hmm", "thought": True},
        {"text": " ok", "thought": True},
        {"text": "a"},
        {"text": "b"},
        {"functionCall": {"name": "weather", "args": {"city": "Paris"}}},
    ]
    # Several calls arrive whole, together, in one chunk.
    two = parse_gemini(gemini_events(function_calls=[("f", {}), ("g", {"x": [1]})]))
    assert len(two) == 1
    assert [p["functionCall"]["name"] for p in two[0]["candidates"][0]["content"]["parts"]] == [
        "f",
        "g",
    ]


def test_gemini_usage_is_cumulative() -> None:
    chunks = parse_gemini(gemini_events(["a", "b", "c"], thoughts=["t", "u"], prompt_tokens=5))
    usages = [chunk["usageMetadata"] for chunk in chunks]
    assert all(u["promptTokenCount"] == 5 for u in usages)
    candidates = [u.get("candidatesTokenCount", 0) for u in usages]
    thoughts = [u["thoughtsTokenCount"] for u in usages]
    assert candidates == sorted(candidates) and candidates[-1] == 3
    assert thoughts == sorted(thoughts) and thoughts[-1] == 2
    for usage, cand, thought in zip(usages, candidates, thoughts, strict=True):
        assert usage["totalTokenCount"] == 5 + cand + thought
    fixed = parse_gemini(gemini_events(["a"], thoughts=["t"], thoughts_tokens=30))
    assert [c["usageMetadata"]["thoughtsTokenCount"] for c in fixed] == [30, 30]
    plain = parse_gemini(gemini_events(["a"]))
    assert plain[0]["usageMetadata"] == {
        "promptTokenCount": 8,
        "candidatesTokenCount": 1,
        "totalTokenCount": 9,
    }


def test_gemini_spaced_style_lf_and_cut_streams() -> None:
    event = gemini_events(["x"], crlf=False)[0]
    assert event.endswith(b"}\n\n") and b"\r" not in event
    assert event.startswith(b'data: {"candidates": [{"content": {"parts": [{"text": "x"}],"role"')
    cut = parse_gemini(gemini_events(["a", "b"], finish_reason=None))
    assert all("finishReason" not in chunk["candidates"][0] for chunk in cut)
    other = parse_gemini(gemini_events(["a"], finish_reason="MAX_TOKENS"))
    assert other[-1]["candidates"][0]["finishReason"] == "MAX_TOKENS"
    empty = parse_gemini(gemini_events())
    assert len(empty) == 1 and empty[0]["candidates"][0]["finishReason"] == "STOP"


def test_gemini_blocked_prompt_and_safety_stop() -> None:
    blocked = parse_gemini(gemini_events(block_reason="PROHIBITED_CONTENT"))
    assert len(blocked) == 1 and "candidates" not in blocked[0]
    assert blocked[0]["promptFeedback"] == {"blockReason": "PROHIBITED_CONTENT"}
    with pytest.raises(ValueError):
        gemini_events(["a"], block_reason="SAFETY")

    chunks = parse_gemini(gemini_events(["Sure"], safety_category="HARM_CATEGORY_HARASSMENT"))
    assert ["finishReason" in chunk["candidates"][0] for chunk in chunks] == [False, True]
    final = chunks[-1]["candidates"][0]
    assert final["finishReason"] == "SAFETY" and "content" not in final
    flagged = [rating for rating in final["safetyRatings"] if rating.get("blocked")]
    assert flagged == [
        {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": True}
    ]


def test_gemini_errors() -> None:
    reply = gemini_error_reply(
        400,
        message="API key not valid. Please pass a valid API key.",
        reason="API_KEY_INVALID",
    )
    assert reply.status == 400 and reply.framing == "length"
    assert reply.headers == {"content-type": "application/json; charset=UTF-8"}
    assert reply.body.count(b"\n") > 5 and reply.body.startswith(b'{\n  "error": {\n')
    assert json.loads(reply.body) == {
        "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                }
            ],
        }
    }
    limited = json.loads(gemini_error_reply(429, message="quota", retry_delay=7).body)["error"]
    assert limited["status"] == "RESOURCE_EXHAUSTED"
    assert limited["details"] == [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}
    ]
    expected = {
        403: "PERMISSION_DENIED",
        404: "NOT_FOUND",
        500: "INTERNAL",
        503: "UNAVAILABLE",
        504: "DEADLINE_EXCEEDED",
    }
    for status, text in expected.items():
        error = json.loads(gemini_error_reply(status, message="m").body)["error"]
        assert (error["code"], error["status"]) == (status, text)
        assert "details" not in error
    error = json.loads(gemini_error_reply(400, message="m", status_text="FAILED_PRECONDITION").body)
    assert error["error"]["status"] == "FAILED_PRECONDITION"

    event = gemini_in_stream_error(500, "An internal error has occurred.", "INTERNAL")
    assert event == (
        b'data: {"error": {"code": 500,"message": "An internal error has occurred.",'
        b'"status": "INTERNAL"}}\r\n\r\n'
    )
    assert parse_gemini([event])[0]["error"]["status"] == "INTERNAL"


# --- Ollama ------------------------------------------------------------------------------------


def test_ollama_lines_match_the_spec_example() -> None:
    assert b"".join(ollama_lines(["Ol", "á!"], eval_count=3)) == SPEC_OLLAMA_STREAM


def test_ollama_lines_are_compact_json_ending_with_done() -> None:
    lines = ollama_lines(
        ["It is", " sunny"],
        thinking=["Check", " weather"],
        tool_calls=[("weather", {"city": "Paris"}), ("clock", {})],
        done_reason="stop",
    )
    objects = parse_ollama(lines)
    assert [obj["done"] for obj in objects] == [False] * 5 + [True]
    assert all(obj["message"]["role"] == "assistant" for obj in objects)
    assert [obj["message"].get("thinking") for obj in objects[:2]] == ["Check", " weather"]
    assert all(obj["message"]["content"] == "" for obj in objects[:2])
    assert "".join(obj["message"]["content"] for obj in objects) == "It is sunny"
    assert objects[4]["message"]["tool_calls"] == [
        {"function": {"index": 0, "name": "weather", "arguments": {"city": "Paris"}}},
        {"function": {"index": 1, "name": "clock", "arguments": {}}},
    ]
    final = objects[-1]
    assert final["done_reason"] == "stop"
    assert (final["prompt_eval_count"], final["eval_count"]) == (26, 2)
    assert all(isinstance(final[key], int) and final[key] > 0 for key in final if "duration" in key)
    stamps = [obj["created_at"] for obj in objects]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_ollama_cut_streams_and_errors() -> None:
    cut = parse_ollama(ollama_lines(["a", "b"], done=False))
    assert len(cut) == 2 and not any(obj["done"] for obj in cut)
    final = parse_ollama(ollama_lines(["a"], done_reason=None, model="qwen3"))[-1]
    assert final["done"] is True and "done_reason" not in final and final["model"] == "qwen3"
    assert "eval_count" not in parse_ollama(ollama_lines())[-1]  # zero values are omitted

    assert ollama_error_line("model runner crashed") == b'{"error":"model runner crashed"}\n'
    reply = ollama_error_reply(404, 'model "nope" not found, try pulling it first')
    assert reply.status == 404 and reply.headers == {"Content-Type": "application/json"}
    assert json.loads(reply.body) == {"error": 'model "nope" not found, try pulling it first'}
    reply = ollama_error_reply(401, "unauthorized", signin_url="https://ollama.com/connect")
    assert json.loads(reply.body)["signin_url"] == "https://ollama.com/connect"


def test_ndjson_reply() -> None:
    lines = ollama_lines(["a"])
    reply = ndjson_reply(lines)
    assert reply.headers == {"Content-Type": "application/x-ndjson"}
    assert reply.steps == tuple(Write(line) for line in lines)
    cut = ndjson_reply(lines, split=7, then=[Drop()])
    assert cut.body == b"".join(lines) and isinstance(cut.steps[-1], Drop)
    assert all(len(step.data) <= 7 for step in cut.steps if isinstance(step, Write))


def test_builders_serve_through_the_provider_server() -> None:
    lines = ollama_lines(["Ol", "á!"], thinking=["hm"])
    with ProviderServer() as srv:
        srv.enqueue(ndjson_reply(lines, split=1), gemini_error_reply(429, message="slow down"))
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
        try:
            conn.request("POST", "/api/chat", body=b"{}")
            response = conn.getresponse()
            assert response.getheader("Content-Type") == "application/x-ndjson"
            assert response.read() == b"".join(lines)
            conn.request("POST", "/v1beta/models/m:streamGenerateContent?alt=sse", body=b"{}")
            response = conn.getresponse()
            assert response.status == 429
            assert json.loads(response.read())["error"]["status"] == "RESOURCE_EXHAUSTED"
        finally:
            conn.close()
        assert srv.errors == []
