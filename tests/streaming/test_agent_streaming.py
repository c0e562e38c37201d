"""Agents stream an OpenAI-compatible answer from a real local server.

The document's "Agent Streaming" and "Task Streaming Configuration" examples,
in Python, sync and async.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from laraflowai import (
    Agent,
    AsyncStreamingResponse,
    ConfigurationError,
    Finished,
    FlowAI,
    StreamingResponse,
    TextDelta,
    Usage,
)
from tests.conftest import API_KEY
from tests.servers import ProviderServer, openai_chunks, stream_reply

DELTAS = ["Laravel", " is", " a", " PHP", " framework", " \u0434\u043b\u044f", " web \U0001f680."]
USAGE = {"prompt_tokens": 21, "completion_tokens": 7, "total_tokens": 28}

MakeAgent = Callable[..., Agent]


async def drain_doc_loop(response: StreamingResponse | AsyncStreamingResponse) -> list[str]:
    """The document's `while hasMoreChunks(): getNextChunk()` loop, for either driver."""
    chunks: list[str] = []
    if isinstance(response, StreamingResponse):
        while response.has_more_chunks():
            chunk = response.get_next_chunk()
            if chunk is not None:
                chunks.append(chunk)
    else:
        while await response.has_more_chunks():
            chunk = await response.get_next_chunk()
            if chunk is not None:
                chunks.append(chunk)
    return chunks


async def content_of(response: StreamingResponse | AsyncStreamingResponse) -> str:
    if isinstance(response, StreamingResponse):
        return response.get_content()
    return await response.get_content()


def open_stream(agent: Agent, task: Any, sync: bool) -> StreamingResponse | AsyncStreamingResponse:
    return agent.stream(task) if sync else agent.astream(task)


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_agent_streaming_example_streams_chunks_in_order_with_stats(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    server.enqueue(stream_reply(openai_chunks(DELTAS, usage=USAGE), delay=0.01))
    FlowAI.configure(buffer_size=1)
    agent = make_agent("Content Writer", "Create engaging content", "openai")
    task = FlowAI.task("Write a blog post about Laravel")

    response = open_stream(agent, task, sync)
    chunks = await drain_doc_loop(response)

    assert chunks == DELTAS
    assert await content_of(response) == "".join(DELTAS)
    stats = response.get_stats()
    assert stats["chunk_count"] == len(DELTAS)
    assert stats["content_length"] == len("".join(DELTAS))
    assert 0 < stats["time_to_first_chunk"] <= stats["execution_time"]
    assert (stats["input_tokens"], stats["output_tokens"]) == (21, 7)
    assert stats["finish_reason"] == "stop"
    assert stats["is_complete"] is True and response.is_complete()
    assert stats["agent_role"] == "Content Writer" == response.get_agent_role()
    assert (stats["provider"], stats["model"]) == ("openai", "gpt-4o-mini")

    request = server.requests[0]
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    body = request.json()
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"][0]["role"] == "system"
    assert "Content Writer" in body["messages"][0]["content"]
    assert body["messages"][1] == {"role": "user", "content": "Write a blog post about Laravel"}


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_task_stream_callback_gets_each_chunk_and_the_content_so_far(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    server.enqueue(stream_reply(openai_chunks(DELTAS, usage=USAGE)))
    seen: list[tuple[str, str]] = []
    task = FlowAI.task("Explain AI concepts").stream(lambda chunk, full: seen.append((chunk, full)))
    agent = make_agent("AI Expert", "Explain concepts clearly")

    response = open_stream(agent, task, sync)
    content = await content_of(response)

    assert content == "".join(DELTAS)
    assert "".join(chunk for chunk, _ in seen) == content
    running = ""
    for chunk, full in seen:
        running += chunk
        assert full == running
    # The default buffer (10 characters) coalesces the small deltas.
    assert all(len(chunk) >= 10 for chunk, _ in seen[:-1])
    assert response.get_stats()["chunk_count"] == len(seen)


def test_on_chunk_callback_and_iteration(server: ProviderServer, make_agent: MakeAgent) -> None:
    server.enqueue(stream_reply(openai_chunks(DELTAS)))
    lengths: list[int] = []
    response = make_agent().stream("Go").set_buffer_size(1)
    response.on_chunk(lambda chunk, full: lengths.append(len(full)))
    assert list(response) == DELTAS
    assert lengths[-1] == len("".join(DELTAS)) == response.get_content_length()
    assert response.get_next_chunk() is None and not response.has_more_chunks()


def test_buffer_methods_behave_as_documented(server: ProviderServer, make_agent: MakeAgent) -> None:
    server.enqueue(stream_reply(openai_chunks(["ab", "cd", "ef", "gh"])))
    response = make_agent().stream("Go").set_buffer_size(20)
    assert response.get_buffer() == ""
    events = response.events()
    assert next(events) == TextDelta("ab")
    assert response.get_buffer() == "ab"  # arrived, waiting for the buffer to fill
    response.clear_buffer()  # released as the next chunk, never dropped
    assert next(events) == TextDelta("cd")
    assert response.get_content_length() == 2
    assert response.get_buffer() == "cd"
    assert len(list(events)) == 3  # ef, gh, finished
    assert response.get_content() == "abcdefgh"
    with pytest.raises(ConfigurationError, match="at least 1"):
        response.set_buffer_size(0)


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_events_expose_typed_stream(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    server.enqueue(stream_reply(openai_chunks(["Hi", " there"], usage=USAGE)))
    agent = make_agent()
    if sync:
        response: Any = agent.stream("Go")
        events = list(response.events())
        content = response.get_content()
    else:
        response = agent.astream("Go")
        events = [event async for event in response.events()]
        content = await response.get_content()
    assert events == [
        TextDelta("Hi"),
        TextDelta(" there"),
        Usage(21, 7, 28),
        Finished("stop", "stop"),
    ]
    assert content == "Hi there"
    assert response.is_complete()


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_handle_returns_a_whole_response(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    server.enqueue(stream_reply(openai_chunks(DELTAS, usage=USAGE)))
    agent = make_agent()
    response = agent.handle("Go") if sync else await agent.ahandle("Go")
    assert response.get_content() == str(response) == "".join(DELTAS)
    assert response.usage == Usage(21, 7, 28)
    assert response.finish_reason == "stop"
    assert response.get_stats()["is_complete"] is True


def test_to_response_after_partial_reading_keeps_everything(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    server.enqueue(stream_reply(openai_chunks(DELTAS)))
    response = make_agent().stream("Go").set_buffer_size(1)
    first = response.get_next_chunk()
    whole = response.to_response()
    assert first == DELTAS[0]
    assert whole.content == "".join(DELTAS)


def test_streaming_disabled_gives_the_answer_as_one_chunk(
    server: ProviderServer, make_agent: MakeAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LARAFLOWAI_STREAMING_ENABLED", "false")
    server.enqueue(stream_reply(openai_chunks(DELTAS)))
    response = make_agent().stream("Go")
    assert isinstance(response, StreamingResponse)
    assert list(response) == ["".join(DELTAS)]


def test_max_chunk_size_splits_large_deltas_never_inside_a_character(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    big = "\u041f\u0440\u0438\u0432\u0456\u0442\U0001f30d" * 300
    server.enqueue(stream_reply(openai_chunks([big])))
    FlowAI.configure(max_chunk_size=1000)
    chunks = list(make_agent().stream("Go"))
    assert "".join(chunks) == big
    assert len(chunks) == 3 and all(len(chunk) <= 1000 for chunk in chunks)


def test_agent_options_reach_the_request(server: ProviderServer, make_agent: MakeAgent) -> None:
    server.enqueue(stream_reply(openai_chunks(["ok"])))
    agent = make_agent(model="gpt-4.1", temperature=0.2, max_tokens=50, backstory="Terse.")
    agent.stream(FlowAI.task("Summarise", context=["First draft", "Notes"])).get_content()
    body = server.requests[0].json()
    assert body["model"] == "gpt-4.1"
    assert body["temperature"] == 0.2
    # A custom base URL is a compatible server: it gets the classic field name.
    assert body["max_tokens"] == 50
    assert body["messages"][0]["content"].endswith("Terse.")
    assert body["messages"][1]["content"] == "Summarise\n\nContext:\nFirst draft\n\nNotes"


def test_closing_early_closes_the_upstream_connection(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    from tests.servers import Hang

    server.enqueue(stream_reply(openai_chunks(["first chunk here", "never"])[:1], then=[Hang()]))
    with make_agent().stream("Go") as response:
        assert response.get_next_chunk() == "first chunk here"
    assert server.wait_for_disconnect(0, timeout=2)
    assert response.get_content() == "first chunk here"
    assert not response.is_complete()


async def test_async_close_closes_the_upstream_connection(
    server: ProviderServer, make_agent: MakeAgent, async_clients: None
) -> None:
    from tests.servers import Hang

    server.enqueue(stream_reply(openai_chunks(["first chunk here"])[:1], then=[Hang()]))
    async with make_agent().astream("Go") as response:
        assert await response.get_next_chunk() == "first chunk here"
    assert server.wait_for_disconnect(0, timeout=2)
