"""A complete, successful stream is replayed for an identical request without
calling the provider: same text, same chunk boundaries; anything less is never
stored. Issue 6."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from laraflowai import Agent, FlowAI, LaraFlowAIError, TextDelta
from tests.servers import Drop, Hang, ProviderServer, in_stream_error, openai_chunks, stream_reply

MakeAgent = Callable[..., Agent]
DELTAS = ["Stre", "aming ", "is ", "a ", "feature", " \U0001f44b\U0001f3fd"]
USAGE = {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15}


async def read(
    agent: Agent, sync: bool, prompt: str = "Go", **options: Any
) -> tuple[list[str], Any]:
    if sync:
        response: Any = agent.stream(prompt, **options).set_buffer_size(1)
        return list(response), response
    response = agent.astream(prompt, **options).set_buffer_size(1)
    return [chunk async for chunk in response], response


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_an_identical_request_is_replayed_from_the_cache_without_the_provider(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    server.enqueue(stream_reply(openai_chunks(DELTAS, usage=USAGE)))
    first_chunks, first = await read(make_agent(), sync)
    second_chunks, second = await read(make_agent(), sync)

    assert first_chunks == second_chunks == DELTAS  # the original boundaries
    assert server.request_count == 1
    assert first.get_stats()["cached"] is False
    stats = second.get_stats()
    assert stats["cached"] is True and stats["is_complete"] is True
    assert (stats["input_tokens"], stats["output_tokens"]) == (9, 6)
    assert stats["finish_reason"] == "stop"


def test_a_replay_is_shaped_like_any_stream(server: ProviderServer, make_agent: MakeAgent) -> None:
    server.enqueue(stream_reply(openai_chunks(DELTAS)))
    make_agent().stream("Go").get_content()
    replay = make_agent().stream("Go").set_buffer_size(12)
    events = list(replay.events())
    assert [event.text for event in events if type(event) is TextDelta] == DELTAS
    chunks = list(make_agent().stream("Go").set_buffer_size(12))
    assert "".join(chunks) == "".join(DELTAS)
    assert all(len(chunk) >= 12 for chunk in chunks[:-1])
    assert server.request_count == 1


def test_after_the_time_to_live_the_provider_is_asked_again(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    FlowAI.configure(cache_ttl=1)
    server.enqueue(stream_reply(openai_chunks(["first"])), stream_reply(openai_chunks(["second"])))
    assert make_agent().stream("Go").get_content() == "first"
    assert make_agent().stream("Go").get_content() == "first"
    time.sleep(1.05)
    assert make_agent().stream("Go").get_content() == "second"
    assert server.request_count == 2


def _failed_midway() -> Any:
    events = openai_chunks(["Some ", "text"], finish_reason=None, include_done=False)
    return stream_reply(events, then=[Drop()])


def _error_event() -> Any:
    events = openai_chunks(["Some text"], finish_reason=None, include_done=False)
    return stream_reply([*events, in_stream_error("The server is overloaded", "overloaded_error")])


@pytest.mark.parametrize(
    "reply",
    [
        _failed_midway,
        _error_event,
        lambda: stream_reply(openai_chunks(["Cut"], finish_reason="length")),
    ],
    ids=["failed-midway", "error-event", "finish-length"],
)
@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_failed_and_truncated_streams_are_not_cached(
    server: ProviderServer,
    make_agent: MakeAgent,
    reply: Callable[[], Any],
    sync: bool,
    async_clients: None,
) -> None:
    FlowAI.configure(max_retries=0)
    server.enqueue(reply(), stream_reply(openai_chunks(["fresh"])))
    with contextlib.suppress(LaraFlowAIError):
        await read(make_agent(), sync)
    chunks, response = await read(make_agent(), sync)
    assert chunks == ["fresh"]
    assert response.get_stats()["cached"] is False
    assert server.request_count == 2


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_a_stream_closed_early_is_not_cached(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    server.enqueue(
        stream_reply(openai_chunks(["first chunk", "never"])[:1], then=[Hang()]),
        stream_reply(openai_chunks(["whole answer"])),
    )
    if sync:
        with make_agent().stream("Go") as response:
            assert response.get_next_chunk() == "first chunk"
    else:
        async with make_agent().astream("Go") as aresponse:
            assert await aresponse.get_next_chunk() == "first chunk"
    assert server.wait_for_disconnect(0, timeout=2)
    chunks, _ = await read(make_agent(), sync)
    assert chunks == ["whole answer"]
    assert server.request_count == 2


def test_cache_false_asks_the_provider(server: ProviderServer, make_agent: MakeAgent) -> None:
    server.enqueue(*(stream_reply(openai_chunks([word])) for word in ("one", "two", "three")))
    assert make_agent().stream("Go").get_content() == "one"
    assert make_agent().stream("Go", cache=False).get_content() == "two"
    assert make_agent(cache=False).stream("Go").get_content() == "three"
    assert make_agent().stream("Go").get_content() == "one"
    assert server.request_count == 3
    assert all("cache" not in request.json() for request in server.requests)


def test_the_cache_setting_turns_caching_off(
    server: ProviderServer, make_agent: MakeAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LARAFLOWAI_STREAMING_CACHE", "false")
    server.enqueue(stream_reply(openai_chunks(["one"])), stream_reply(openai_chunks(["two"])))
    assert make_agent().stream("Go").get_content() == "one"
    assert make_agent().stream("Go").get_content() == "two"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({}, {"temperature": 0.5}),
        ({"temperature": 0.5}, {"temperature": 0.7}),
        ({}, {"model": "gpt-4.1"}),
    ],
    ids=["option-added", "option-changed", "model"],
)
def test_a_different_model_options_or_task_is_a_different_request(
    server: ProviderServer, make_agent: MakeAgent, first: dict[str, Any], second: dict[str, Any]
) -> None:
    server.enqueue(*(stream_reply(openai_chunks([word])) for word in ("one", "two", "three")))
    assert make_agent(**first).stream("Go").get_content() == "one"
    assert make_agent(**second).stream("Go").get_content() == "two"
    assert make_agent(**second).stream("Other task").get_content() == "three"
    assert make_agent(**first).stream("Go").get_content() == "one"
    assert server.request_count == 3


def test_the_memory_store(server: ProviderServer, make_agent: MakeAgent) -> None:
    FlowAI.configure(cache_store="memory")
    server.enqueue(stream_reply(openai_chunks(DELTAS)))
    assert make_agent().stream("Go").get_content() == make_agent().stream("Go").get_content()
    assert server.request_count == 1


def test_an_unreachable_cache_never_stops_a_stream(
    server: ProviderServer, make_agent: MakeAgent, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    FlowAI.configure(cache_store="redis", redis_url=f"redis://127.0.0.1:{port}/0")
    server.enqueue(stream_reply(openai_chunks(["one"])), stream_reply(openai_chunks(["two"])))
    with caplog.at_level(logging.WARNING, logger="laraflowai"):
        assert make_agent().stream("Go").get_content() == "one"
        assert make_agent().stream("Go").get_content() == "two"
    assert "asking the provider instead" in caplog.text
    assert "could not store a stream" in caplog.text


def test_cache_clear_and_info_commands(
    server: ProviderServer, make_agent: MakeAgent, tmp_path: Path
) -> None:
    server.enqueue(stream_reply(openai_chunks(["one"])), stream_reply(openai_chunks(["two"])))
    assert make_agent().stream("Go").get_content() == "one"

    def run(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "laraflowai", "cache", *args],
            env=dict(os.environ),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    info = run("info")
    assert "entries: 1" in info and str(tmp_path / "user-cache") in info
    assert "removed 1 cached stream from the sqlite store" in run("clear")
    assert make_agent().stream("Go").get_content() == "two"
    assert server.request_count == 2


def test_a_corrupt_entry_is_a_miss(
    server: ProviderServer, make_agent: MakeAgent, caplog: pytest.LogCaptureFixture
) -> None:
    from laraflowai.cache import open_store, request_key
    from laraflowai.crew.task import Task
    from laraflowai.providers.base import ChatRequest

    agent = make_agent()
    key = request_key(agent.provider, ChatRequest(agent.messages(Task("Go")), {}))
    open_store(FlowAI.settings()).set(key, b"not a stream", 60)
    server.enqueue(stream_reply(openai_chunks(["fresh"])))
    with caplog.at_level(logging.WARNING, logger="laraflowai"):
        assert agent.stream("Go").get_content() == "fresh"
    assert "could not be read" in caplog.text
    replay = agent.stream("Go")
    assert replay.get_content() == "fresh"
    assert replay.get_stats()["cached"] is True  # stored over the bad entry


def test_every_kind_of_event_survives_the_store() -> None:
    from laraflowai import Finished, ReasoningDelta, ToolCall, ToolCallDelta, Usage
    from laraflowai.cache import decode_events, encode_events

    events = [
        ReasoningDelta("think"),
        TextDelta("h\u00e9llo \U0001f44b\U0001f3fd"),
        ToolCallDelta(0, "call_1", "weather", '{"city":'),
        ToolCall(0, "call_1", "weather", {"city": "Kyiv", "days": [1, 2]}),
        Usage(10, 5, 15, 2, 3),
        Finished("tool_calls", "tool_calls"),
    ]
    assert decode_events(encode_events(events)) == events
