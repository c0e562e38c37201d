"""In-flight sharing: identical requests made while the first is still streaming
share one upstream request; every reader gets every chunk from the start; one
leaving does not disturb the others; the last one leaving closes the upstream.
Issue 6."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from laraflowai import Agent, FlowAI
from tests.servers import Hang, ProviderServer, openai_chunks, stream_reply

MakeAgent = Callable[..., Agent]
WORDS = [f"word{number} " for number in range(20)]
TEXT = "".join(WORDS)
READERS = 10


def in_threads(work: Callable[[int], Any], count: int = READERS) -> list[Any]:
    """Run work(0..count-1) in threads that start reading together."""
    results: list[Any] = [None] * count
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(number: int) -> None:
        try:
            start.wait(5)
            results[number] = work(number)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(number,)) for number in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    return results


def test_ten_concurrent_identical_requests_share_one_upstream(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    FlowAI.configure(max_retries=0, buffer_size=1)
    server.enqueue(stream_reply(openai_chunks(WORDS), delay=0.02))
    agent = make_agent()

    def read(number: int) -> tuple[list[str], dict[str, Any]]:
        response = agent.stream("Go")
        return list(response), response.get_stats()

    results = in_threads(read)
    assert [chunks for chunks, _ in results] == [WORDS] * READERS
    assert server.request_count == 1 and server.max_concurrent_requests == 1
    assert sorted(stats["shared"] for _, stats in results) == [False] + [True] * (READERS - 1)
    assert all(stats["is_complete"] for _, stats in results)


async def test_ten_concurrent_identical_async_requests_share_one_upstream(
    server: ProviderServer, make_agent: MakeAgent, async_clients: None
) -> None:
    FlowAI.configure(max_retries=0, buffer_size=1)
    server.enqueue(stream_reply(openai_chunks(WORDS), delay=0.02))
    agent = make_agent()

    async def read() -> tuple[list[str], bool]:
        response = agent.astream("Go")
        return [chunk async for chunk in response], response.get_stats()["shared"]

    results = await asyncio.gather(*(read() for _ in range(READERS)))
    assert [chunks for chunks, _ in results] == [WORDS] * READERS
    assert sorted(shared for _, shared in results) == [False] + [True] * (READERS - 1)
    assert server.request_count == 1


def test_a_late_reader_gets_every_chunk_from_the_start(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    FlowAI.configure(buffer_size=1)
    server.enqueue(stream_reply(openai_chunks(WORDS), delay=0.01))
    early = make_agent().stream("Go")
    assert [early.get_next_chunk() for _ in range(5)] == WORDS[:5]
    late = make_agent().stream("Go")
    assert list(late) == WORDS
    assert early.get_content() == TEXT
    assert server.request_count == 1


@pytest.mark.parametrize("buffer_size", [1, 10], ids=["unbuffered", "buffered"])
def test_when_nine_leave_early_the_tenth_still_gets_everything(
    server: ProviderServer, make_agent: MakeAgent, buffer_size: int
) -> None:
    FlowAI.configure(max_retries=0, buffer_size=buffer_size)
    server.enqueue(stream_reply(openai_chunks(WORDS), delay=0.02))
    agent = make_agent()
    stayer = agent.stream("Go")
    first = stayer.get_next_chunk() or ""

    def leave_early(number: int) -> str | None:
        with agent.stream("Go") as response:
            return response.get_next_chunk()

    assert in_threads(leave_early, READERS - 1) == [first] * (READERS - 1)
    assert first + stayer.get_content()[len(first) :] == TEXT
    assert stayer.get_content() == TEXT and stayer.get_stats()["is_complete"]
    assert server.request_count == 1
    exchange = server.exchange(0)
    assert exchange.completed and not exchange.client_closed_during_reply


async def test_when_nine_async_readers_leave_early_the_tenth_still_gets_everything(
    server: ProviderServer, make_agent: MakeAgent, async_clients: None
) -> None:
    FlowAI.configure(max_retries=0, buffer_size=1)
    server.enqueue(stream_reply(openai_chunks(WORDS), delay=0.02))
    agent = make_agent()
    stayer = agent.astream("Go")
    assert await stayer.get_next_chunk() == WORDS[0]

    async def leave_early() -> None:
        async with agent.astream("Go") as response:
            assert await response.get_next_chunk() == WORDS[0]

    await asyncio.gather(*(leave_early() for _ in range(READERS - 1)))
    cancelled = asyncio.create_task(agent.astream("Go").get_content())
    await asyncio.sleep(0.05)
    cancelled.cancel()  # a reader whose task is cancelled leaves too
    assert await stayer.get_content() == TEXT
    assert server.request_count == 1
    assert server.wait_for_completion(0, timeout=2.0)


@pytest.mark.parametrize("buffer_size", [1, 10], ids=["unbuffered", "buffered"])
def test_when_every_reader_leaves_the_upstream_connection_is_closed(
    server: ProviderServer, make_agent: MakeAgent, buffer_size: int
) -> None:
    # Buffered readers wait at most the flush interval, so a thread reads
    # upstream for them: leaving must wake that thread's blocked read too.
    FlowAI.configure(max_retries=0, buffer_size=buffer_size)
    server.enqueue(stream_reply(openai_chunks(["Hello"])[:1], then=[Hang()]))
    agent = make_agent()

    def read(number: int) -> str | None:
        with agent.stream("Go") as response:
            return response.get_next_chunk()

    assert in_threads(read) == ["Hello"] * READERS
    assert server.wait_for_disconnect(0, timeout=2)
    assert server.request_count == 1


async def test_when_every_async_reader_leaves_the_upstream_connection_is_closed(
    server: ProviderServer, make_agent: MakeAgent, async_clients: None
) -> None:
    server.enqueue(stream_reply(openai_chunks(["Hello"])[:1], then=[Hang()]))
    agent = make_agent()

    async def read() -> str | None:
        async with agent.astream("Go") as response:
            return await response.get_next_chunk()

    assert await asyncio.gather(*(read() for _ in range(READERS))) == ["Hello"] * READERS
    assert server.wait_for_disconnect(0, timeout=2)
    assert server.request_count == 1


def test_a_dropped_response_closes_its_upstream(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    server.enqueue(stream_reply(openai_chunks(["Hello there"])[:1], then=[Hang()]))
    response = make_agent().stream("Go")
    assert response.get_next_chunk() == "Hello there"
    del response  # no close(): dropping the last reference is enough
    assert server.wait_for_disconnect(0, timeout=2)


async def test_a_lone_async_reader_reads_its_upstream_in_its_own_task(
    server: ProviderServer, make_agent: MakeAgent, async_clients: None
) -> None:
    # No producer task while nobody shares the stream: the chunks come to
    # the reading task straight from the upstream, and the answer is cached.
    FlowAI.configure(max_retries=0, buffer_size=1)
    server.enqueue(stream_reply(openai_chunks(WORDS[:3]), delay=0.02))
    agent = make_agent()
    before = asyncio.all_tasks()
    async with agent.astream("Go") as response:
        chunks = [await response.get_next_chunk() for _ in range(3)]
        assert asyncio.all_tasks() == before
        assert await response.get_content() == "".join(WORDS[:3])
    assert chunks == WORDS[:3]
    async with agent.astream("Go") as replay:
        assert await replay.get_content() == "".join(WORDS[:3])
    assert replay.get_stats()["cached"] and server.request_count == 1


async def test_a_reader_joining_a_read_its_lone_reader_abandons_starts_afresh(
    server: ProviderServer, make_agent: MakeAgent, async_clients: None
) -> None:
    # The first reader is inside a read when an identical request joins; then
    # the first reader's task is cancelled in that read, which breaks the
    # upstream. The joiner had been handed nothing: it gets a whole answer of
    # its own from a fresh request, not half of a broken one.
    FlowAI.configure(max_retries=0, buffer_size=1)
    events = openai_chunks(["broken "], finish_reason=None, include_done=False)
    server.enqueue(stream_reply(events, then=[Hang()]))
    server.enqueue(stream_reply(openai_chunks(["fresh ", "answer"]), delay=0.02))
    agent = make_agent()
    first = agent.astream("Go")
    assert await first.get_next_chunk() == "broken "
    inside = asyncio.create_task(first.get_next_chunk())  # waits in the hanging read
    await asyncio.sleep(0.1)
    second = agent.astream("Go")
    joined = asyncio.create_task(second.get_content())
    await asyncio.sleep(0.1)
    assert not joined.done() and second.get_stats()["shared"]
    inside.cancel()
    assert await asyncio.wait_for(joined, timeout=5) == "fresh answer"
    assert server.request_count == 2
    assert await asyncio.to_thread(server.wait_for_disconnect, 0, 2)
    await first.aclose()
    await second.aclose()
