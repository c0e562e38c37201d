"""One cancel path: a sync stream blocked in a socket read, an async stream, a
crew, a cached flight with several readers and a web stream are each cancelled
through their reader's Cancel, and each closes its provider connection, as the
provider server sees. https://github.com/laraflowai/laraflowai/issues/12"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from laraflowai import Agent, FlowAI, StreamCancelledError
from laraflowai.broadcast import MemoryStreamRegistry, response_events
from tests.servers import Hang, ProviderServer, openai_chunks, stream_reply

MakeAgent = Callable[..., Agent]


@pytest.fixture(autouse=True)
def chunk_per_delta() -> None:
    FlowAI.configure(buffer_size=1, flush_interval=0)


def hang_after(server: ProviderServer, *chunks: str) -> None:
    """Every request gets `chunks`, then silence with the connection open."""
    events = openai_chunks(list(chunks), finish_reason=None, include_done=False)
    server.set_handler(lambda request: stream_reply(events, then=[Hang()]))


async def disconnected(server: ProviderServer, index: int, timeout: float = 2) -> bool:
    """Whether the server saw request `index`'s client go, waiting in a thread so
    this event loop runs on meanwhile."""
    return await asyncio.to_thread(server.wait_for_disconnect, index, timeout)


def cancel_later(cancel: Callable[[], None], delay: float = 0.2) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(delay), cancel()), daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("cache", [True, False], ids=["cached", "uncached"])
def test_a_sync_stream_blocked_in_a_socket_read_is_cancelled_from_another_thread(
    server: ProviderServer, make_agent: MakeAgent, cache: bool
) -> None:
    hang_after(server, "Hello ", "world")
    response = make_agent().stream("Go", cache=cache)
    received = [next(response), next(response)]  # the next read blocks: the model is silent

    started = time.monotonic()
    canceller = cancel_later(response.cancel)
    with pytest.raises(StreamCancelledError) as caught:
        next(response)
    canceller.join()

    assert time.monotonic() - started < 2, "the blocked read waited for a limit, not the cancel"
    assert received == ["Hello ", "world"]
    assert caught.value.partial_content == "Hello world"
    assert server.wait_for_disconnect(0, timeout=2), "upstream still open after cancel"
    assert not response.is_complete()
    assert server.request_count == 1  # never retried


@pytest.mark.parametrize("cache", [True, False], ids=["cached", "uncached"])
async def test_an_async_stream_is_cancelled_from_another_task(
    server: ProviderServer, make_agent: MakeAgent, cache: bool, async_clients: None
) -> None:
    hang_after(server, "Hello ", "world")
    response = make_agent().astream("Go", cache=cache)
    received = [await anext(response), await anext(response)]

    async def cancel_soon() -> None:
        await asyncio.sleep(0.2)
        response.cancel()

    canceller = asyncio.create_task(cancel_soon())
    with pytest.raises(StreamCancelledError) as caught:
        await anext(response)
    await canceller

    assert received == ["Hello ", "world"]
    assert caught.value.partial_content == "Hello world"
    assert await disconnected(server, 0), "upstream still open after cancel"
    await response.aclose()
    assert server.request_count == 1


def test_a_stream_cancelled_before_its_first_read_sends_nothing(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    hang_after(server, "never sent")
    response = make_agent().stream("Go")
    response.cancel()
    with pytest.raises(StreamCancelledError):
        response.get_content()
    assert server.request_count == 0


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_a_parallel_crew_cancels_every_task_stream_through_its_cancel(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    hang_after(server, "first chunk")
    crew = FlowAI.crew(agents=[make_agent()], tasks=["A", "B"], execution_mode="parallel")

    started = time.monotonic()
    if sync:
        events = crew.stream()
        assert next(events).kind == "chunk"
        assert server.wait_for_requests(2, timeout=2)
        events.close()  # both workers are blocked reading their sockets
    else:
        aevents = crew.astream()
        assert (await anext(aevents)).kind == "chunk"
        assert server.wait_for_requests(2, timeout=2)
        await aevents.aclose()

    assert time.monotonic() - started < 2
    for index in range(2):
        assert await disconnected(server, index), f"task {index} still open"
    assert server.request_count == 2


def test_a_cached_flight_is_cancelled_only_when_its_last_reader_cancels(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    hang_after(server, "shared ", "text")
    agent = make_agent()
    first, second = agent.stream("Go"), agent.stream("Go")
    assert [next(first), next(first)] == ["shared ", "text"]
    assert [next(second), next(second)] == ["shared ", "text"]
    assert second.get_stats()["shared"] and server.request_count == 1

    first.cancel()  # one reader leaves: the other still reads the same upstream
    with pytest.raises(StreamCancelledError):
        next(first)
    assert not server.wait_for_disconnect(0, timeout=0.3)

    outcome: list[BaseException] = []

    def read_blocked() -> None:
        try:
            next(second)
        except BaseException as error:
            outcome.append(error)

    reader = threading.Thread(target=read_blocked)
    reader.start()  # blocks in the shared socket read
    time.sleep(0.2)
    second.cancel()  # the last reader: the flight's Cancel shuts the socket down
    reader.join(timeout=2)

    assert not reader.is_alive(), "the blocked reader was not woken"
    assert len(outcome) == 1 and isinstance(outcome[0], StreamCancelledError)
    assert server.wait_for_disconnect(0, timeout=2), "upstream still open after every reader left"
    assert server.request_count == 1


async def test_a_cached_async_flight_is_cancelled_only_when_its_last_reader_cancels(
    server: ProviderServer, make_agent: MakeAgent, async_clients: None
) -> None:
    hang_after(server, "shared ", "text")
    agent = make_agent()
    first, second = agent.astream("Go"), agent.astream("Go")
    assert [await anext(first), await anext(first)] == ["shared ", "text"]
    assert [await anext(second), await anext(second)] == ["shared ", "text"]
    assert second.get_stats()["shared"] and server.request_count == 1

    first.cancel()
    with pytest.raises(StreamCancelledError):
        await anext(first)
    assert not await disconnected(server, 0, timeout=0.3)

    blocked = asyncio.create_task(anext(second))
    await asyncio.sleep(0.2)
    second.cancel()
    with pytest.raises(StreamCancelledError):
        await asyncio.wait_for(blocked, timeout=2)
    assert await disconnected(server, 0), "upstream still open after every reader left"
    await first.aclose()
    await second.aclose()


async def test_a_web_stream_stopped_through_the_registry_closes_its_provider_connection(
    server: ProviderServer, make_agent: MakeAgent, async_clients: None
) -> None:
    hang_after(server, "Partial ", "answer")
    registry = MemoryStreamRegistry(resume_grace=30, retention=30)
    try:
        response = make_agent().astream("Go")
        stream_id = await registry.start(response_events(response))
        subscription = await registry.subscribe(stream_id)
        seen: list[dict[str, object]] = []
        while not any(p.get("type") == "chunk" for p in seen):
            seen += [entry.payload() for entry in await subscription.next()]

        info = await registry.stop(stream_id)

        assert info.status == "stopped"
        assert await disconnected(server, 0), "upstream still open after stop"
        rest = [entry.payload() for entry in await subscription.next()]
        assert rest[-1] == {"type": "complete", "stopped": True, "reason": "stop"}
        await subscription.aclose()
    finally:
        await registry.aclose()


@pytest.mark.parametrize(
    "detail", [frozenset(), frozenset({"reasoning", "tools"})], ids=["text", "detailed"]
)
async def test_a_pump_whose_append_refuses_closes_the_request_at_once(
    server: ProviderServer, make_agent: MakeAgent, async_clients: None, detail: frozenset[str]
) -> None:
    # The producer of a stream that has already ended (push raises): the
    # provider request goes now, not when the garbage collector finds it.
    hang_after(server, "Partial ", "answer")

    class Refused(Exception):
        pass

    def append(payload: object) -> None:
        raise Refused

    events = response_events(make_agent().astream("Go"), detail=detail)
    with pytest.raises(Refused):
        await events.pump(append)  # type: ignore[attr-defined]
    assert await disconnected(server, 0), "upstream still open after the refusal"
