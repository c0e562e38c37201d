"""The three time limits, each with its own setting, its own message and the
text that arrived: the whole stream, the first piece of the answer, and silence
between pieces. Issue 6."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from laraflowai import Agent, FlowAI, StreamTimeoutError
from tests.servers import (
    Hang,
    ProviderServer,
    Sleep,
    Write,
    openai_chunks,
    sse_comment,
    stream_reply,
)
from tests.servers.provider_server import Reply

MakeAgent = Callable[..., Agent]


async def read_until_error(agent: Agent, sync: bool) -> tuple[list[str], StreamTimeoutError]:
    received: list[str] = []
    with pytest.raises(StreamTimeoutError) as caught:
        if sync:
            with agent.stream("Go") as response:
                for chunk in response:
                    received.append(chunk)
        else:
            async with agent.astream("Go") as aresponse:
                async for chunk in aresponse:
                    received.append(chunk)
    return received, caught.value


def _silent_after_head() -> Reply:
    return Reply(steps=[Write(b""), Hang()])


def _keep_alives_only() -> Reply:
    return stream_reply([sse_comment()] * 40, delay=0.05)


def _no_head_at_all() -> Reply:
    return Reply(steps=[Hang()])


@pytest.mark.parametrize(
    "reply",
    [_silent_after_head, _keep_alives_only, _no_head_at_all],
    ids=["silent-after-head", "keep-alives-only", "no-head"],
)
@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_first_chunk_limit(
    server: ProviderServer,
    make_agent: MakeAgent,
    reply: Callable[[], Reply],
    sync: bool,
    async_clients: None,
) -> None:
    FlowAI.configure(first_chunk_timeout=0.3, idle_timeout=5, max_retries=0)
    server.enqueue(reply())
    received, error = await read_until_error(make_agent(), sync)
    assert received == [] and error.partial_content == ""
    assert error.limit == "first_chunk" and error.seconds == 0.3
    assert "LARAFLOWAI_STREAMING_FIRST_CHUNK_TIMEOUT" in str(error)
    assert "no part of the answer within 0.3 s" in str(error)
    assert server.wait_for_disconnect(0, timeout=2)


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_idle_limit(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    FlowAI.configure(idle_timeout=0.3, buffer_size=1)
    server.enqueue(stream_reply(openai_chunks(["before the silence"])[:1], then=[Hang()]))
    received, error = await read_until_error(make_agent(), sync)
    assert received == ["before the silence"] and error.partial_content == "before the silence"
    assert error.limit == "idle"
    assert "sent nothing for 0.3 s (LARAFLOWAI_STREAMING_IDLE_TIMEOUT)" in str(error)
    assert server.wait_for_disconnect(0, timeout=2)


@pytest.mark.parametrize("trickle", [True, False], ids=["trickling", "silent"])
@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_whole_stream_limit(
    server: ProviderServer, make_agent: MakeAgent, trickle: bool, sync: bool, async_clients: None
) -> None:
    FlowAI.configure(timeout=0.4, idle_timeout=5, buffer_size=1)
    if trickle:
        server.enqueue(stream_reply(openai_chunks(["tick "] * 40), delay=0.05))
    else:  # silent past the limit, which is shorter than the idle limit
        server.enqueue(stream_reply(openai_chunks(["tick "])[:1], then=[Hang()]))
    received, error = await read_until_error(make_agent(), sync)
    assert received and error.partial_content == "".join(received)
    assert error.partial_content.startswith("tick ")
    assert error.limit == "total"
    assert "took longer than the 0.4 s limit (LARAFLOWAI_STREAMING_TIMEOUT)" in str(error)
    assert server.wait_for_disconnect(0, timeout=2)


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_the_first_chunk_limit_ends_once_the_answer_starts(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    FlowAI.configure(first_chunk_timeout=0.2, idle_timeout=3, buffer_size=1)
    events = openai_chunks(["early", " late"])
    server.enqueue(stream_reply(events[:1], then=[Sleep(0.5), *stream_reply(events[1:]).steps]))
    if sync:
        assert make_agent().stream("Go").get_content() == "early late"
    else:
        assert await make_agent().astream("Go").get_content() == "early late"
