"""Closing a crew's stream early (leaving the loop, aclose(), a cancelled
consumer) closes every upstream connection still open, as the server sees."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import pytest

from laraflowai import Agent, CrewEvent, FlowAI
from tests.servers import Hang, ProviderServer, openai_chunks, stream_reply

MakeAgent = Callable[..., Agent]


def hang_after_first_chunk(server: ProviderServer) -> None:
    server.set_handler(
        lambda request: stream_reply(openai_chunks(["first chunk"])[:1], then=[Hang()])
    )


def assert_every_connection_closed(server: ProviderServer) -> None:
    for index in range(server.request_count):
        assert server.wait_for_disconnect(index, timeout=2), f"request {index} still open"
    assert server.wait_until_idle(timeout=2)


def test_breaking_out_of_a_sequential_crew_stream_closes_the_upstream_connection(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    hang_after_first_chunk(server)
    crew = FlowAI.crew(agents=[make_agent()], tasks=["Write", "Review"])

    for event in crew.stream():
        assert (event.kind, event.chunk) == ("chunk", "first chunk")
        break

    assert_every_connection_closed(server)
    assert server.request_count == 1  # the second task never started


def test_breaking_out_of_a_parallel_crew_stream_closes_every_upstream_connection(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    hang_after_first_chunk(server)
    crew = FlowAI.crew(agents=[make_agent()], tasks=["A", "B", "C"], execution_mode="parallel")

    for event in crew.stream():
        assert event.kind == "chunk"
        # Every task's request is open, each blocked reading in its thread.
        assert server.wait_for_requests(3, timeout=2)
        break

    assert server.request_count == 3
    assert_every_connection_closed(server)


@pytest.mark.parametrize("mode", ["sequential", "parallel"])
async def test_aclose_on_a_crew_astream_closes_every_upstream_connection(
    server: ProviderServer, make_agent: MakeAgent, mode: str, async_clients: None
) -> None:
    hang_after_first_chunk(server)
    crew = FlowAI.crew(
        agents=[make_agent()],
        tasks=["A", "B", "C"],
        execution_mode=mode,  # type: ignore[arg-type]
    )

    stream = crew.astream()
    first = await anext(stream)
    assert first.kind == "chunk"
    if mode == "parallel":
        assert server.wait_for_requests(3, timeout=2)
    await stream.aclose()

    assert server.request_count == (3 if mode == "parallel" else 1)
    assert_every_connection_closed(server)


async def test_a_cancelled_consumer_closes_every_upstream_connection(
    server: ProviderServer, make_agent: MakeAgent, async_clients: None
) -> None:
    """A web client that disconnects cancels the task reading the crew's stream."""
    hang_after_first_chunk(server)
    crew = FlowAI.crew(agents=[make_agent()], tasks=["A", "B"], execution_mode="parallel")
    seen: list[CrewEvent] = []
    both_streaming = asyncio.Event()

    async def consume() -> None:
        async for event in crew.astream():
            seen.append(event)
            if len(seen) == 2:
                both_streaming.set()

    reader = asyncio.create_task(consume())
    await both_streaming.wait()
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader

    assert {event.task_index for event in seen} == {0, 1}
    assert_every_connection_closed(server)
