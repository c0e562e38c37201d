"""Faults on the wire: split writes, drops, stalls, HTTP errors, in-stream errors.

Every failure raises a typed error carrying the text that arrived; nothing is
repeated, nothing is lost, no key leaks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from laraflowai import (
    Agent,
    AuthenticationError,
    ConfigurationError,
    FlowAI,
    InvalidRequestError,
    ProviderConnectionError,
    ProviderOverloadedError,
    QuotaExceededError,
    RateLimitError,
    StreamInterruptedError,
    StreamTimeoutError,
)
from tests.conftest import API_KEY
from tests.servers import (
    Drop,
    Hang,
    ProviderServer,
    Sleep,
    error_reply,
    in_stream_error,
    openai_chunks,
    sse_comment,
    stream_reply,
)

MakeAgent = Callable[..., Agent]
MULTIBYTE = [
    "\u041f\u0440\u0438\u0432\u0456\u0442",
    ", \u0441\u0432\u0456\u0442 ",
    "\U0001f44b\U0001f3fd\U0001f1fa\U0001f1e6",
    " \u00e1\u00e9",
]


async def read_all(agent: Agent, sync: bool) -> tuple[list[str], Any]:
    if sync:
        response: Any = agent.stream("Go")
        return list(response), response
    response = agent.astream("Go")
    return [chunk async for chunk in response], response


@pytest.mark.parametrize("split", [1, 2, 3, 7])
@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_multibyte_text_split_across_writes_arrives_intact(
    server: ProviderServer, make_agent: MakeAgent, split: int, sync: bool, async_clients: None
) -> None:
    server.enqueue(stream_reply(openai_chunks(MULTIBYTE), split=split, delay=0.0005))
    FlowAI.configure(buffer_size=1)
    chunks, response = await read_all(make_agent(), sync)
    assert chunks == MULTIBYTE
    assert response.get_stats()["chunk_count"] == len(MULTIBYTE)


def test_event_split_mid_line_is_parsed_once(server: ProviderServer, make_agent: MakeAgent) -> None:
    events = openai_chunks(["one", "two", "three"])
    # Cut every event in the middle of its `data:` line, with pauses between writes.
    pieces: list[bytes] = []
    for event in events:
        pieces += [event[: len(event) // 2], event[len(event) // 2 :]]
    server.enqueue(stream_reply(pieces, delay=0.005))
    FlowAI.configure(buffer_size=1)
    assert list(make_agent().stream("Go")) == ["one", "two", "three"]


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_dropped_connection_raises_interrupted_with_partial_text(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    events = openai_chunks(["Hello ", "wor", "ld"], finish_reason=None, include_done=False)
    server.enqueue(stream_reply(events[:2], delay=0.01, then=[Sleep(0.02), Drop()]))
    FlowAI.configure(buffer_size=1)
    agent = make_agent()
    received: list[str] = []
    with pytest.raises(StreamInterruptedError) as caught:
        if sync:
            response: Any = agent.stream("Go")
            for chunk in response:
                received.append(chunk)
        else:
            response = agent.astream("Go")
            async for chunk in response:
                received.append(chunk)
    assert received == ["Hello ", "wor"]
    assert caught.value.partial_content == "Hello wor"
    assert "lost" in str(caught.value) or "ended" in str(caught.value)
    content = response.get_content() if sync else await response.get_content()
    assert content == "Hello wor"
    assert server.request_count == 1  # text was handed out: never retried


def test_clean_eof_without_done_is_interrupted_too(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    events = openai_chunks(["partial"], finish_reason=None, include_done=False)
    server.enqueue(stream_reply(events))
    response = make_agent().stream("Go")
    with pytest.raises(StreamInterruptedError, match="before the answer was complete") as caught:
        response.get_content()
    assert caught.value.partial_content == "partial"
    assert response.get_content() == "partial"  # raised once; what arrived is kept


def test_rate_limit_raises_typed_error_with_retry_after(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    FlowAI.configure(max_retries=0)
    server.enqueue(error_reply(429, message="Rate limit reached for gpt-4o-mini", retry_after=7))
    with pytest.raises(RateLimitError) as caught:
        make_agent().stream("Go").get_content()
    error = caught.value
    assert error.retry_after == 7
    assert error.status_code == 429
    assert error.request_id == "req_0123456789abcdef"
    assert error.provider == "openai" and error.model == "gpt-4o-mini"
    assert "retry after 7 s" in str(error)
    assert error.body["error"]["type"] == "rate_limit_error"


def test_rate_limit_before_first_chunk_is_retried(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    server.enqueue(
        error_reply(429, message="slow down", retry_after=0),
        error_reply(503, message="overloaded"),
        stream_reply(openai_chunks(["fine"])),
    )
    response = make_agent().stream("Go")
    assert response.get_content() == "fine"
    assert server.request_count == 3
    assert response.get_stats()["retries"] == 2


def test_retries_give_up_after_max_retries(server: ProviderServer, make_agent: MakeAgent) -> None:
    FlowAI.configure(max_retries=1)
    server.enqueue(
        error_reply(500, message="boom", retry_after=0),
        error_reply(503, message="busy", retry_after=0),
    )
    with pytest.raises(ProviderOverloadedError, match="overloaded"):
        make_agent().stream("Go").get_content()
    assert server.request_count == 2


@pytest.mark.parametrize(
    ("reply", "error_type", "words"),
    [
        (
            error_reply(401, message=f"Incorrect API key provided: {API_KEY}"),
            AuthenticationError,
            "OPENAI_API_KEY",
        ),
        (
            error_reply(429, message="You exceeded your quota", code="insufficient_quota"),
            QuotaExceededError,
            "retrying will not help",
        ),
        (
            error_reply(404, message="The model does not exist", code="model_not_found"),
            InvalidRequestError,
            "model name",
        ),
    ],
    ids=["401", "quota", "404"],
)
def test_non_retryable_errors_fail_at_once_with_advice_and_no_secret(
    server: ProviderServer, make_agent: MakeAgent, reply: Any, error_type: type, words: str
) -> None:
    server.enqueue(reply)
    with pytest.raises(error_type) as caught:
        make_agent().stream("Go").get_content()
    error = caught.value
    assert server.request_count == 1
    assert words in str(error)
    for text in (str(error), repr(error), str(error.body)):
        assert API_KEY not in text


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_stall_past_idle_limit_raises_timeout_with_partial(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    FlowAI.configure(idle_timeout=0.3, buffer_size=1)
    server.enqueue(stream_reply(openai_chunks(["before the stall"])[:1], then=[Hang()]))
    received: list[str] = []
    with pytest.raises(StreamTimeoutError) as caught:
        if sync:
            for chunk in make_agent().stream("Go"):
                received.append(chunk)
        else:
            async for chunk in make_agent().astream("Go"):
                received.append(chunk)
    assert received == ["before the stall"]
    assert caught.value.limit == "idle"
    assert caught.value.partial_content == "before the stall"
    assert "LARAFLOWAI_STREAMING_IDLE_TIMEOUT" in str(caught.value)
    assert server.wait_for_disconnect(0, timeout=2)


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_whole_stream_limit_ends_a_stream_that_keeps_trickling(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    FlowAI.configure(timeout=0.4, idle_timeout=5, buffer_size=1)
    server.enqueue(stream_reply(openai_chunks(["tick"] * 40), delay=0.05))
    with pytest.raises(StreamTimeoutError) as caught:
        await read_all(make_agent(), sync)
    assert caught.value.limit == "total"
    assert "LARAFLOWAI_STREAMING_TIMEOUT" in str(caught.value)
    assert caught.value.partial_content.startswith("tick")


def test_keep_alive_comments_count_as_activity(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    FlowAI.configure(idle_timeout=0.5)
    events = openai_chunks(["after the queue"])
    server.enqueue(stream_reply([sse_comment(), sse_comment(), sse_comment(), *events], delay=0.3))
    assert make_agent("R", "G", "deepseek").stream("Go").get_content() == "after the queue"


def test_in_stream_error_after_text_raises_typed_error_with_partial(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    events = openai_chunks(["Some text"], finish_reason=None, include_done=False)
    server.enqueue(
        stream_reply([*events, in_stream_error("The server is overloaded", "overloaded_error")])
    )
    with pytest.raises(ProviderOverloadedError) as caught:
        make_agent().stream("Go").get_content()
    assert caught.value.partial_content == "Some text"
    assert server.request_count == 1


def test_in_stream_error_before_any_text_is_retried(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    server.enqueue(
        stream_reply([in_stream_error("Internal error", "server_error")]),
        stream_reply(openai_chunks(["recovered"])),
    )
    assert make_agent().stream("Go").get_content() == "recovered"
    assert server.request_count == 2


def test_unreachable_server_is_a_connection_error(make_agent: MakeAgent) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    FlowAI.configure(max_retries=0)
    agent = make_agent(base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(ProviderConnectionError, match=f"127.0.0.1:{port}"):
        agent.stream("Go").get_content()


def test_missing_api_key_is_refused_before_any_request(server: ProviderServer) -> None:
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        FlowAI.agent("Writer", "Write", "openai")
    with pytest.raises(ConfigurationError, match="GROQ_API_KEY"):
        FlowAI.agent("Writer", "Write", "groq")
    assert server.request_count == 0


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: FlowAI.agent("", "Write"), "role"),
        (lambda: FlowAI.agent("Writer", "  "), "goal"),
        (lambda: FlowAI.task(""), "description"),
        (lambda: FlowAI.agent("Writer", "Write", "nope"), "unknown provider 'nope'"),
        (lambda: FlowAI.agent("W", "G", "openai", api_key="k" * 20, base_url="ftp://x"), "http"),
        (
            lambda: FlowAI.agent("W", "G", "openai", api_key="k" * 20, temperature=9).stream("x"),
            "temperature",
        ),
        (
            lambda: FlowAI.agent("W", "G", "openai", api_key="k" * 20, max_tokens=-1).stream("x"),
            "max_tokens",
        ),
        (lambda: FlowAI.agent("W", "G", "openai", api_key="k" * 20).stream(42), "Task or a string"),
    ],
    ids=["role", "goal", "task", "provider", "base_url", "temperature", "max_tokens", "task-type"],
)
def test_bad_input_is_refused_at_once_with_a_clear_message(
    call: Callable[[], Any], words: str
) -> None:
    with pytest.raises(ConfigurationError, match=words):
        call()
