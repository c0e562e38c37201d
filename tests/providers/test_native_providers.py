"""Anthropic, Gemini and Ollama stream natively from a real local server that
replays each provider's documented bytes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from laraflowai import (
    AuthenticationError,
    ContentBlockedError,
    FlowAI,
    ProviderOverloadedError,
    RateLimitError,
    ToolCall,
    Usage,
)
from laraflowai._config import reset_settings
from tests.servers import ProviderServer, Reply, Sleep, Write, stream_reply

FIXTURES = Path(__file__).parent.parent / "fixtures" / "wire"
ANSWER = "Ol\u00e1! \u041f\u0440\u0438\u0432\u0456\u0442 \U0001f44b\U0001f3fd\U0001f1fa\U0001f1e6"
KEY = "provider-key-0123456789abcdef"
GOOGLE_RPC = "type.googleapis.com/google.rpc"
WEATHER = ToolCall(0, None, "get_weather", {"city": "\u041a\u0438\u0457\u0432"})


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def json_error(
    status: int, body: Any, headers: dict[str, str] | None = None, indent: int | None = None
) -> Reply:
    data = body if isinstance(body, bytes) else json.dumps(body, indent=indent).encode()
    merged = {"content-type": "application/json", **(headers or {})}
    return Reply(status=status, headers=merged, steps=[Write(data)], framing="length")


@pytest.fixture
def env(server: ProviderServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"{server.url}/anthropic")
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.setenv("GEMINI_BASE_URL", f"{server.url}/gemini/v1beta")
    monkeypatch.setenv("OLLAMA_HOST", server.url.removeprefix("http://"))
    reset_settings()
    yield


async def read(provider: str, sync: bool, **options: Any) -> Any:
    agent = FlowAI.agent("Assistant", "Help", provider, **options)
    if sync:
        response: Any = agent.stream("Say hello")
        chunks = list(response.set_buffer_size(1))
    else:
        response = agent.astream("Say hello")
        chunks = [chunk async for chunk in response.set_buffer_size(1)]
    return response, chunks


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_anthropic_streams_text_thinking_and_tool_use(
    server: ProviderServer, env: None, sync: bool, async_clients: None
) -> None:
    server.enqueue(stream_reply([fixture("anthropic/thinking_text_tool.sse")], split=7))
    response, chunks = await read("anthropic", sync, max_tokens=300, thinking_budget=1024)
    assert "".join(chunks) == ANSWER and len(chunks) > 1
    assert response.reasoning.endswith("\U0001f914") and "\U0001f914" not in "".join(chunks)
    assert response.tool_calls == [ToolCall(2, "toolu_01", "get_weather", WEATHER.arguments)]
    assert response.usage == Usage(14, 42, 56)
    assert response.finish_reason == "tool_calls"
    request = server.requests[0]
    assert request.path == "/anthropic/v1/messages"
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers
    body = request.json()
    assert body["model"] == "claude-sonnet-4-5" and body["stream"] is True
    assert body["max_tokens"] == 300
    assert body["system"].startswith("You are Assistant.")
    assert [m["role"] for m in body["messages"]] == ["user"]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}


def test_anthropic_max_tokens_is_always_sent(server: ProviderServer, env: None) -> None:
    server.enqueue(stream_reply([fixture("anthropic/thinking_text_tool.sse")]))
    FlowAI.agent("A", "B", "anthropic").stream("x").get_content()
    assert server.requests[0].json()["max_tokens"] == 4096


def test_anthropic_overloaded_event_after_text_keeps_the_partial(
    server: ProviderServer, env: None
) -> None:
    server.enqueue(stream_reply([fixture("anthropic/overloaded_midway.sse")]))
    response = FlowAI.agent("A", "B", "anthropic").stream("x").set_buffer_size(1)
    with pytest.raises(ProviderOverloadedError, match="Overloaded") as caught:
        list(response)
    assert caught.value.partial_content == "Ol"
    assert server.request_count == 1


def test_anthropic_http_errors_are_typed(server: ProviderServer, env: None) -> None:
    FlowAI.configure(max_retries=0)
    server.enqueue(
        json_error(
            401,
            {
                "type": "error",
                "error": {"type": "authentication_error", "message": "invalid x-api-key"},
                "request_id": "req_011",
            },
            {"request-id": "req_011"},
        ),
        json_error(
            429,
            {
                "type": "error",
                "error": {"type": "rate_limit_error", "message": "Too many tokens per minute"},
            },
            {"retry-after": "12"},
        ),
    )
    with pytest.raises(AuthenticationError, match="ANTHROPIC_API_KEY") as auth:
        FlowAI.agent("A", "B", "anthropic").stream("x").get_content()
    assert auth.value.request_id == "req_011"
    with pytest.raises(RateLimitError) as limited:
        FlowAI.agent("A", "B", "anthropic").stream("x").get_content()
    assert limited.value.retry_after == 12


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_gemini_streams_thoughts_and_text(
    server: ProviderServer, env: None, sync: bool, async_clients: None
) -> None:
    server.enqueue(stream_reply([fixture("gemini/thought_and_text.sse")], split=11))
    response, chunks = await read("gemini", sync, max_tokens=100, include_thoughts=True)
    assert "".join(chunks) == ANSWER
    assert response.reasoning == "Let me think \U0001f914"
    # Thinking tokens count as output, as OpenAI and Anthropic count them.
    assert response.usage == Usage(8, 23, 31, 20, None)
    assert response.finish_reason == "stop"
    request = server.requests[0]
    assert request.path == "/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert request.query == {"alt": "sse"}
    assert request.headers["x-goog-api-key"] == KEY
    assert KEY not in request.target
    body = request.json()
    assert body["systemInstruction"]["parts"][0]["text"].startswith("You are Assistant.")
    assert body["contents"] == [{"role": "user", "parts": [{"text": "Say hello"}]}]
    assert body["generationConfig"] == {
        "maxOutputTokens": 100,
        "thinkingConfig": {"includeThoughts": True},
    }


def test_gemini_first_chunk_arrives_before_the_last_write(
    server: ProviderServer, env: None
) -> None:
    data = fixture("gemini/thought_and_text.sse")
    cut = data.index(b"data: ", 10) + 20  # inside the second event
    server.enqueue(
        Reply(steps=[Write(data[:5]), Write(data[5:cut]), Sleep(0.5), Write(data[cut:])])
    )
    response = FlowAI.agent("A", "B", "gemini").stream("x").set_buffer_size(1)
    events = response.events()
    first = next(event for event in events if type(event).__name__ == "ReasoningDelta")
    assert first.text == "Let me think \U0001f914"  # type: ignore[attr-defined]
    assert not server.exchange(0).completed  # the last write is still to come
    assert response.get_content() == ANSWER


def test_gemini_function_call_and_safety_block(server: ProviderServer, env: None) -> None:
    server.enqueue(
        stream_reply([fixture("gemini/function_call.sse")]),
        stream_reply([fixture("gemini/safety_block.sse")]),
    )
    calls = FlowAI.agent("A", "B", "gemini").stream("x")
    calls.get_content()
    assert calls.tool_calls == [WEATHER] and calls.finish_reason == "tool_calls"
    # The same request again: cache=False, or the first answer is replayed from the cache.
    blocked = FlowAI.agent("A", "B", "gemini").stream("x", cache=False).set_buffer_size(1)
    with pytest.raises(ContentBlockedError, match="HARM_CATEGORY_DANGEROUS_CONTENT") as caught:
        blocked.get_content()
    assert caught.value.partial_content == "Partial "
    assert server.request_count == 2  # a block is never retried


def test_gemini_http_errors_with_details(server: ProviderServer, env: None) -> None:
    FlowAI.configure(max_retries=0)
    server.enqueue(
        json_error(
            400,
            {
                "error": {
                    "code": 400,
                    "message": "API key not valid. Please pass a valid API key.",
                    "status": "INVALID_ARGUMENT",
                    "details": [{"@type": f"{GOOGLE_RPC}.ErrorInfo", "reason": "API_KEY_INVALID"}],
                }
            },
            indent=2,  # Google's error bodies span several lines
        ),
        json_error(
            429,
            {
                "error": {
                    "code": 429,
                    "message": "Resource has been exhausted",
                    "status": "RESOURCE_EXHAUSTED",
                    "details": [{"@type": f"{GOOGLE_RPC}.RetryInfo", "retryDelay": "7s"}],
                }
            },
        ),
    )
    with pytest.raises(AuthenticationError, match="GEMINI_API_KEY"):
        FlowAI.agent("A", "B", "gemini").stream("x").get_content()
    with pytest.raises(RateLimitError) as limited:
        FlowAI.agent("A", "B", "gemini").stream("x").get_content()
    assert limited.value.retry_after == 7


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_ollama_streams_ndjson_with_thinking_tools_and_usage(
    server: ProviderServer, env: None, sync: bool, async_clients: None
) -> None:
    server.enqueue(
        stream_reply(
            [fixture("ollama/thinking_text_tool.ndjson")],
            split=9,
            headers={"content-type": "application/x-ndjson"},
        )
    )
    response, chunks = await read("ollama", sync, max_tokens=64, think=True)
    assert "".join(chunks) == ANSWER
    assert response.reasoning == "\u0425\u043c, \u0434\u0443\u043c\u0430\u044e"
    assert response.tool_calls == [WEATHER]
    assert response.usage == Usage(26, 3, 29)
    request = server.requests[0]
    assert request.path == "/api/chat"
    assert "authorization" not in request.headers
    body = request.json()
    assert (body["model"], body["stream"], body["think"]) == ("llama3.2", True, True)
    assert body["options"] == {"num_predict": 64}
    assert body["messages"][0]["role"] == "system"


def test_ollama_error_body_and_error_line(server: ProviderServer, env: None) -> None:
    from laraflowai import InvalidRequestError, ProviderError

    FlowAI.configure(max_retries=0)
    server.enqueue(
        json_error(404, b'{"error":"model \\"nope\\" not found, try pulling it first"}'),
        stream_reply([fixture("ollama/error_midway.ndjson")]),
    )
    with pytest.raises(InvalidRequestError, match="try pulling it first"):
        FlowAI.agent("A", "B", "ollama", "nope").stream("x").get_content()
    with pytest.raises(ProviderError, match="unexpectedly stopped") as caught:
        FlowAI.agent("A", "B", "ollama").stream("x").get_content()
    assert caught.value.partial_content == ANSWER


NATIVE = [
    ("anthropic", "anthropic/thinking_text_tool.sse"),
    ("gemini", "gemini/thought_and_text.sse"),
    ("ollama", "ollama/thinking_text_tool.ndjson"),
]


@pytest.mark.parametrize(("provider", "name"), NATIVE, ids=[p for p, _ in NATIVE])
def test_drop_midway_raises_interrupted_with_the_text_so_far(
    server: ProviderServer, env: None, provider: str, name: str
) -> None:
    from laraflowai import StreamInterruptedError
    from tests.servers import Drop

    data = fixture(name)
    cut = data.index("\u041f\u0440\u0438".encode()) + 3  # inside a Cyrillic letter
    server.enqueue(Reply(steps=[Write(data[:cut]), Sleep(0.05), Drop()]))
    response = FlowAI.agent("A", "B", provider).stream("x").set_buffer_size(1)
    with pytest.raises(StreamInterruptedError) as caught:
        list(response)
    assert caught.value.partial_content == "Ol"
    assert server.request_count == 1


@pytest.mark.parametrize(("provider", "name"), NATIVE, ids=[p for p, _ in NATIVE])
def test_stall_raises_idle_timeout_with_the_text_so_far(
    server: ProviderServer, env: None, provider: str, name: str
) -> None:
    from laraflowai import StreamTimeoutError
    from tests.servers import Hang

    FlowAI.configure(idle_timeout=0.3)
    data = fixture(name)
    cut = data.index("\u041f\u0440\u0438".encode())
    server.enqueue(Reply(steps=[Write(data[:cut]), Hang()]))
    with pytest.raises(StreamTimeoutError) as caught:
        FlowAI.agent("A", "B", provider).stream("x").get_content()
    assert caught.value.limit == "idle"
    assert caught.value.partial_content == "Ol"
    assert server.wait_for_disconnect(0, timeout=2)


PIECES = [
    "\u041a\u0438\u0457\u0432 ",
    "\u2014 ",
    "\u0441\u0442\u043e\u043b\u0438\u0446\u044f ",
    "\U0001f1fa\U0001f1e6\U0001f44d\U0001f3ff",
]


def _builder_reply(provider: str) -> Reply:
    from tests.servers import anthropic_events, gemini_events, ndjson_reply, ollama_lines

    if provider == "anthropic":
        return stream_reply(anthropic_events(PIECES, pad=True), split=3)
    if provider == "gemini":
        return stream_reply(gemini_events(PIECES), split=5)
    return ndjson_reply(ollama_lines(PIECES), split=4)


@pytest.mark.parametrize("provider", ["anthropic", "gemini", "ollama"])
def test_builder_streams_split_every_few_bytes_arrive_exactly(
    server: ProviderServer, env: None, provider: str
) -> None:
    server.enqueue(_builder_reply(provider))
    response = FlowAI.agent("A", "B", provider).stream("x").set_buffer_size(1)
    assert list(response) == PIECES
    assert response.finish_reason == "stop"
    assert response.usage is not None and response.usage.input_tokens


def test_ollama_api_key_from_the_environment_is_a_bearer_token(
    server: ProviderServer, env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_API_KEY", KEY)
    reset_settings()
    server.enqueue(stream_reply([fixture("ollama/thinking_text_tool.ndjson")]))
    agent = FlowAI.agent("A", "B", "ollama")
    assert agent.stream("x", cache=False).get_content() == ANSWER
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in repr(agent.provider)
