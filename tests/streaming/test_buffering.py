"""Buffering, splitting and pacing against the local provider server: chunks of
at least buffer_size characters, a partly filled buffer delivered while the
model pauses, big deltas split whole, streaming disabled. Issue 6."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import regex

from laraflowai import Agent, FlowAI
from tests.servers import Hang, ProviderServer, Sleep, openai_chunks, stream_reply

MakeAgent = Callable[..., Agent]
GRAPHEMES = regex.compile(r"\X")


async def read_all(agent: Agent, sync: bool, task: str = "Go") -> tuple[list[str], Any]:
    if sync:
        response: Any = agent.stream(task)
        return list(response), response
    response = agent.astream(task)
    return [chunk async for chunk in response], response


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_200_one_character_deltas_become_chunks_of_at_least_the_buffer_size(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    letters = [chr(ord("a") + number % 26) for number in range(199)] + ["\u044f"]
    server.enqueue(stream_reply(openai_chunks(letters)))
    # A flush interval far longer than the test: only the size decides here.
    FlowAI.configure(buffer_size=10, flush_interval=60_000)
    chunks, response = await read_all(make_agent(), sync)
    assert "".join(chunks) == "".join(letters)
    assert all(len(chunk) >= 10 for chunk in chunks[:-1])
    assert response.get_stats()["chunk_count"] == len(chunks) == 20


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_a_partly_filled_buffer_goes_out_while_the_model_pauses(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    events = openai_chunks(["a", "b", "c", " and the rest of it"])
    server.enqueue(stream_reply(events[:3], then=[Hang()]))
    FlowAI.configure(buffer_size=10)  # the flush interval stays at its default
    agent = make_agent()
    if sync:
        with agent.stream("Go") as response:
            first = response.get_next_chunk()
            paused = not server.exchange(0).completed
    else:
        async with agent.astream("Go") as aresponse:
            first = await aresponse.get_next_chunk()
            paused = not server.exchange(0).completed
    assert first == "abc"  # three characters, delivered although the buffer wants ten
    assert paused  # ...while the server was still in its pause
    assert server.wait_for_disconnect(0, timeout=2)


def test_a_flush_interval_of_zero_waits_for_a_full_buffer(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    events = openai_chunks(["ab", "cd", "efghijkl"])
    server.enqueue(stream_reply(events[:2], then=[Sleep(0.2), *stream_reply(events[2:]).steps]))
    FlowAI.configure(buffer_size=10, flush_interval=0)
    assert list(make_agent().stream("Go")) == ["abcdefghijkl"]


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_a_5000_character_delta_becomes_five_or_six_chunks_of_whole_words(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    text = ("Streaming answers arrive word by word, never stuck. " * 100)[:5000]
    server.enqueue(stream_reply(openai_chunks([text])))
    chunks, _ = await read_all(make_agent(), sync)
    assert "".join(chunks) == text
    assert 5 <= len(chunks) <= 6
    assert all(len(chunk) <= 1000 for chunk in chunks)
    assert all(chunk.endswith(" ") for chunk in chunks[:-1])


def test_cyrillic_flags_and_skin_tones_are_never_split(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    unit = (
        "\u041f\u0440\u0438\u0432\u0456\u0442\U0001f44b\U0001f3fd"
        "\U0001f1fa\U0001f1e6\U0001f1f5\U0001f1f1\u0441\u0432\u0456\u0442\U0001f44d\U0001f3ff"
    )
    text = unit * 200  # no whitespace at all: every cut is decided by graphemes
    server.enqueue(stream_reply(openai_chunks([text]), split=7))
    FlowAI.configure(max_chunk_size=99)
    chunks = list(make_agent().stream("Go"))
    assert "".join(chunks) == text
    assert all(len(chunk) <= 99 for chunk in chunks)
    assert [g for chunk in chunks for g in GRAPHEMES.findall(chunk)] == GRAPHEMES.findall(text)


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_streaming_disabled_gives_one_chunk_within_the_max_chunk_size(
    server: ProviderServer,
    make_agent: MakeAgent,
    monkeypatch: pytest.MonkeyPatch,
    sync: bool,
    async_clients: None,
) -> None:
    monkeypatch.setenv("LARAFLOWAI_STREAMING_ENABLED", "false")
    short = ["Just ", "one ", "chunk."]
    server.enqueue(stream_reply(openai_chunks(short), delay=0.1))
    chunks, response = await read_all(make_agent(), sync)
    assert chunks == ["Just one chunk."]  # a pause longer than the flush interval changes nothing
    assert response.get_stats()["streaming"] is False
    long = ["word " * 150] * 4  # 3000 characters
    server.enqueue(stream_reply(openai_chunks(long)))
    chunks, _ = await read_all(make_agent(), sync, "Go on")
    assert "".join(chunks) == "".join(long)
    assert [len(chunk) for chunk in chunks] == [1000, 1000, 1000]


def test_chunk_delay_paces_chunks_without_changing_them(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    server.enqueue(stream_reply(openai_chunks(["one ", "two ", "three"])))
    FlowAI.configure(chunk_delay=20, buffer_size=1)
    assert list(make_agent().stream("Go")) == ["one ", "two ", "three"]
