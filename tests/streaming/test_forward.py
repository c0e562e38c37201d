"""`AsyncStreamingResponse.forward(on_chunk)`: the push form of `async for`.

Servers drive answers this way (the in-memory registry does), so it must hand
out exactly what iteration hands out, in the same order, whatever the
buffering, and fail the same way, with the text that arrived kept.
"""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from collections.abc import Callable

import pytest

from laraflowai import Agent, FlowAI, StreamInterruptedError
from laraflowai.streaming._inflight import DirectAsyncReader
from tests.servers import (
    Drop,
    Hang,
    ProviderServer,
    Sleep,
    Write,
    openai_chunks,
    stream_reply,
)

DELTAS = ["Stream", "ing ", "is", " push", "ed \u0434\u043e", " you \U0001f680", "."]
USAGE = {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16}

MakeAgent = Callable[..., Agent]


async def iterated(agent: Agent) -> tuple[list[str], dict[str, object]]:
    async with agent.astream("Go") as response:
        chunks = [chunk async for chunk in response]
    return chunks, response.get_stats()


async def forwarded(agent: Agent) -> tuple[list[str], dict[str, object]]:
    chunks: list[str] = []
    async with agent.astream("Go") as response:
        await response.forward(chunks.append)
    return chunks, response.get_stats()


@pytest.mark.parametrize(
    ("shaping", "delay"),
    [
        ({"buffer_size": 1}, 0.01),
        ({"buffer_size": 12, "flush_interval": 0}, 0.0),  # coalesced, never by a timer
        ({"buffer_size": 1, "max_chunk_size": 3}, 0.01),  # split, never inside a character
        ({"buffer_size": 1, "chunk_delay": 1}, 0.01),
    ],
    ids=["as-is", "coalesced", "split", "delayed"],
)
async def test_forward_hands_out_what_iteration_does(
    server: ProviderServer,
    make_agent: MakeAgent,
    async_clients: None,
    shaping: dict[str, int],
    delay: float,
) -> None:
    FlowAI.configure(**shaping)
    agent = make_agent()
    results = []
    for read in (iterated, forwarded):
        server.enqueue(stream_reply(openai_chunks(DELTAS, usage=USAGE), split=7, delay=delay))
        results.append(await read(agent))
    (by_iteration, iteration_stats), (by_forward, forward_stats) = results
    assert "".join(by_forward) == "".join(DELTAS)
    assert by_forward == by_iteration
    for key in ("chunk_count", "content_length", "input_tokens", "output_tokens", "is_complete"):
        assert forward_stats[key] == iteration_stats[key], key
    assert forward_stats["finish_reason"] == "stop" and forward_stats["is_complete"] is True


async def test_a_partial_chunk_is_forwarded_when_its_flush_interval_passes(
    server: ProviderServer, make_agent: MakeAgent, async_clients: None
) -> None:
    FlowAI.configure(buffer_size=50, flush_interval=20)
    events = openai_chunks(["Hel", "lo", " there"], usage=USAGE)
    server.enqueue(stream_reply(events[:2], then=[Sleep(1.0), *map(Write, events[2:])]))
    arrived: list[tuple[str, float]] = []
    started = time.monotonic()
    async with make_agent().astream("Go") as response:
        await response.forward(lambda chunk: arrived.append((chunk, time.monotonic() - started)))
    assert [chunk for chunk, _ in arrived] == ["Hello", " there"]
    assert arrived[0][1] < 0.8  # by the timer, not when the rest came
    assert response.is_complete()


async def test_the_flush_timer_hands_out_held_back_text_while_the_read_goes_on(
    server: ProviderServer, make_agent: MakeAgent, async_clients: None
) -> None:
    # Each pause outlasts the flush interval: the text before it goes out from
    # the timer, in order with the rest, and the upstream stays with the one
    # reader (no producer task took it over for a read with a deadline).
    FlowAI.configure(buffer_size=50, flush_interval=20, cache_enabled=False)
    events = openai_chunks(["Hel", "lo", " there,", " and", " more"], usage=USAGE)
    steps = [Sleep(0.3), Write(events[2]), Sleep(0.3), *map(Write, events[3:])]
    server.enqueue(stream_reply(events[:2], then=steps))
    arrived: list[str] = []
    async with make_agent().astream("Go") as response:
        await response.forward(arrived.append)
        reader = response._reader
        assert isinstance(reader, DirectAsyncReader) and reader._rest is None
    assert arrived == ["Hello", " there,", " and more"]
    assert response.get_stats()["chunk_count"] == 3 and response.is_complete()


async def test_chunks_flushed_on_time_are_the_same_by_timer_and_by_iteration(
    server: ProviderServer, make_agent: MakeAgent, async_clients: None
) -> None:
    # Each delta waits out the flush interval alone: `forward` flushes it from
    # its timer, iteration from a read whose deadline passed (and reads on).
    # No cache: the second answer would be the first one replayed at once.
    FlowAI.configure(buffer_size=50, flush_interval=20, cache_enabled=False)
    agent = make_agent()
    results = []
    for read in (iterated, forwarded):
        server.enqueue(stream_reply(openai_chunks(DELTAS[:4], usage=USAGE), delay=0.15))
        results.append(await read(agent))
    (by_iteration, _), (by_forward, stats) = results
    assert by_forward == by_iteration == DELTAS[:4]
    assert stats["chunk_count"] == 4 and stats["is_complete"] is True


async def test_max_chars_reached_in_the_flush_timer_ends_the_reading_with_the_chunk_cut(
    server: ProviderServer, make_agent: MakeAgent, async_clients: None
) -> None:
    FlowAI.configure(buffer_size=50, flush_interval=20)
    server.enqueue(stream_reply(openai_chunks(["Hel", "lo"])[:2], then=[Hang()]))
    chunks: list[str] = []
    started = time.monotonic()
    async with make_agent().astream("Go") as response:
        assert await response.forward(chunks.append, 4, keep_text=False) is True
    assert chunks == ["Hell"]
    assert time.monotonic() - started < 5
    assert server.wait_for_disconnect(0, timeout=2)


async def test_max_chars_counts_what_the_flush_timer_sent_before_a_full_chunk(
    server: ProviderServer, make_agent: MakeAgent, async_clients: None
) -> None:
    # "Hel" goes out from the timer; the next delta fills the buffer and goes
    # out from the read itself, cut to the 2 characters that are left of 5.
    FlowAI.configure(buffer_size=10, flush_interval=20, cache_enabled=False)
    events = openai_chunks(["Hel", "lo, a full chunk"])
    server.enqueue(stream_reply(events[:1], then=[Sleep(0.3), Write(events[1]), Hang()]))
    chunks: list[str] = []
    async with make_agent().astream("Go") as response:
        assert await response.forward(chunks.append, 5) is True
    assert chunks == ["Hel", "lo"]
    assert response.get_stats()["content_length"] == len("Hello, a full chunk")
    assert server.wait_for_disconnect(0, timeout=2)


async def test_a_dropped_stream_raises_with_the_forwarded_text_kept(
    server: ProviderServer, make_agent: MakeAgent, async_clients: None
) -> None:
    FlowAI.configure(buffer_size=1, max_retries=0)
    server.enqueue(stream_reply(openai_chunks(DELTAS)[:3], delay=0.01, then=[Drop()]))
    chunks: list[str] = []
    async with make_agent().astream("Go") as response:
        with pytest.raises(StreamInterruptedError) as raised:
            await response.forward(chunks.append)
    assert chunks == DELTAS[:3]
    assert raised.value.partial_content == "".join(chunks)
    assert not response.is_complete()


@pytest.mark.parametrize(
    ("shaping", "deltas"),
    [({"buffer_size": 1}, DELTAS[:2]), ({"buffer_size": 50, "flush_interval": 20}, ["Hel", "lo"])],
    ids=["in-the-read", "in-the-flush-timer"],
)
async def test_an_error_from_on_chunk_ends_the_reading_and_the_request(
    server: ProviderServer,
    make_agent: MakeAgent,
    async_clients: None,
    shaping: dict[str, int],
    deltas: list[str],
) -> None:
    class Enough(Exception):
        pass

    def on_chunk(chunk: str) -> None:
        raise Enough(chunk)

    FlowAI.configure(**shaping)
    server.enqueue(stream_reply(openai_chunks(deltas)[:2], then=[Hang()]))
    started = time.monotonic()
    async with make_agent().astream("Go") as response:
        with pytest.raises(Enough, match=deltas[0]):
            await response.forward(on_chunk)
    assert time.monotonic() - started < 5  # not when the hanging provider's limit passes
    assert server.wait_for_disconnect(0, timeout=2)
    assert not response.is_complete()


@pytest.mark.parametrize(
    ("max_chars", "out"),
    [(10, "Streaming "), (9, "Streaming"), (6, "Stream"), (200, "".join(DELTAS))],
)
async def test_max_chars_ends_the_reading_with_the_last_chunk_cut_to_fit(
    server: ProviderServer, make_agent: MakeAgent, async_clients: None, max_chars: int, out: str
) -> None:
    FlowAI.configure(buffer_size=1)
    whole = max_chars >= len("".join(DELTAS))
    # A cut answer must close a request that would never end by itself.
    reply = openai_chunks(DELTAS) if whole else openai_chunks(DELTAS[:3])
    server.enqueue(stream_reply(reply, then=[] if whole else [Hang()]))
    chunks: list[str] = []
    async with make_agent().astream("Go") as response:
        cut = await response.forward(chunks.append, max_chars)
    assert "".join(chunks) == out
    assert cut is not whole
    if cut:
        assert server.wait_for_disconnect(0, timeout=2)


async def test_keep_text_false_leaves_the_content_to_the_caller_and_still_counts_it(
    server: ProviderServer, make_agent: MakeAgent, async_clients: None
) -> None:
    FlowAI.configure(buffer_size=1)
    server.enqueue(stream_reply(openai_chunks(DELTAS, usage=USAGE)))
    chunks: list[str] = []
    async with make_agent().astream("Go") as response:
        assert await response.forward(chunks.append, keep_text=False) is False
    assert "".join(chunks) == "".join(DELTAS)
    assert response.partial_content == ""
    assert response.get_content_length() == len("".join(DELTAS))
    stats = response.get_stats()
    assert stats["content_length"] == len("".join(DELTAS))
    assert stats["chunk_count"] == len(DELTAS) and stats["is_complete"] is True


async def test_keep_text_false_keeps_it_for_callbacks_that_read_it(
    server: ProviderServer, make_agent: MakeAgent, async_clients: None
) -> None:
    FlowAI.configure(buffer_size=1)
    server.enqueue(stream_reply(openai_chunks(DELTAS)))
    seen: list[str] = []
    async with make_agent().astream("Go") as response:
        response.on_chunk(lambda chunk, content: seen.append(content))
        await response.forward(lambda chunk: None, keep_text=False)
    assert response.partial_content == "".join(DELTAS) == seen[-1]


def behind(order: list[str]) -> Callable[[str], object]:
    """An on_chunk whose store is behind: it records each chunk, and returns
    an awaitable that records it as stored a little later."""

    async def catch_up(chunk: str) -> None:
        await asyncio.sleep(0.02)
        order.append(f"stored {chunk}")

    def on_chunk(chunk: str) -> object:
        order.append(chunk)
        return catch_up(chunk)

    return on_chunk


async def test_an_awaitable_from_on_chunk_is_waited_for_and_any_other_value_ignored(
    server: ProviderServer, make_agent: MakeAgent, async_clients: None
) -> None:
    # A consumer that is behind (a store catching up) returns an awaitable:
    # the next chunk comes only once it is done. A plain value (a count of
    # bytes written, say) means nothing.
    FlowAI.configure(buffer_size=1)
    order: list[str] = []
    server.enqueue(stream_reply(openai_chunks(DELTAS[:3])))
    async with make_agent().astream("Go") as response:
        await response.forward(behind(order))
    assert order == [step for d in DELTAS[:3] for step in (d, f"stored {d}")]

    server.enqueue(stream_reply(openai_chunks(DELTAS[:3])))
    written: list[str] = []
    async with make_agent().astream("Again") as response:
        await response.forward(lambda chunk: written.append(chunk) or len(chunk))
    assert written == DELTAS[:3]


async def test_an_awaitable_from_on_chunk_in_the_flush_timer_still_runs(
    server: ProviderServer, make_agent: MakeAgent, async_clients: None
) -> None:
    # The timer cannot wait for it (the read goes on): it runs on its own.
    FlowAI.configure(buffer_size=50, flush_interval=20, cache_enabled=False)
    events = openai_chunks(["Hel", "lo", " there"])
    server.enqueue(stream_reply(events[:2], then=[Sleep(0.3), *map(Write, events[2:])]))
    order: list[str] = []
    async with make_agent().astream("Go") as response:
        await response.forward(behind(order))
    assert order == ["Hello", "stored Hello", " there", "stored  there"]


@pytest.mark.parametrize("ending", ["whole", "cut", "dropped", "refused"])
async def test_forward_then_close_closes_the_answer_and_hands_its_outcome_on(
    server: ProviderServer, make_agent: MakeAgent, async_clients: None, ending: str
) -> None:
    """The registries' form: the outcome (True for the cap, False for the end,
    the error that ended the reading, not raised) goes to `then` once the
    response is closed; what on_chunk raises comes out, the response closed."""
    FlowAI.configure(buffer_size=1, max_retries=0)
    tail = {"whole": [], "cut": [Hang()], "dropped": [Drop()], "refused": [Hang()]}[ending]
    reply = openai_chunks(DELTAS) if ending == "whole" else openai_chunks(DELTAS)[:3]
    server.enqueue(stream_reply(reply, delay=0.01, then=tail))
    chunks: list[str] = []
    outcomes: list[object] = []
    gate = asyncio.Event()

    class Refused(Exception):
        pass

    def on_chunk(chunk: str) -> None:
        if ending == "refused" and chunks:
            raise Refused
        chunks.append(chunk)

    async def finish() -> None:
        await gate.wait()
        outcomes.append("finished")

    def then(outcome: object) -> object:
        outcomes.append(outcome)
        assert response.get_stats()["chunk_count"] == len(chunks)
        if ending == "cut":  # the request is closed before then() is called
            assert server.wait_for_disconnect(0, timeout=2)
        gate.set()
        return finish()  # waited for before the coroutine returns

    response = make_agent().astream("Go")
    run = response.forward_then_close(on_chunk, 6 if ending == "cut" else None, False, then)
    if ending == "refused":
        with pytest.raises(Refused):
            await run
        assert outcomes == []
    else:
        assert await run is None
        assert outcomes[-1] == "finished"
    if ending == "whole":
        assert outcomes[0] is False and "".join(chunks) == "".join(DELTAS)
        assert response.finish_reason == "stop"
    elif ending == "cut":
        assert outcomes[0] is True and "".join(chunks) == "Stream"
    elif ending == "dropped":
        assert isinstance(outcomes[0], StreamInterruptedError) and chunks == DELTAS[:3]
    assert response.partial_content == ""  # keep_text=False: the caller kept it
    if ending != "refused":  # (the refused chunk was handed out, so counted)
        assert response.get_content_length() == len("".join(chunks))
    if ending in ("cut", "refused"):  # the hanging request closed, not left to the collector
        assert server.wait_for_disconnect(0, timeout=2)


@pytest.mark.parametrize("cache", [False, True], ids=["direct", "cached"])
@pytest.mark.parametrize("shaping", [{"buffer_size": 1}, {"buffer_size": 4, "flush_interval": 20}])
async def test_a_forwarded_answer_is_freed_without_the_cycle_collector(
    server: ProviderServer,
    make_agent: MakeAgent,
    async_clients: None,
    shaping: dict[str, int],
    cache: bool,
) -> None:
    # A server finishes answers all day: one left in a reference cycle would
    # hold its state, buffers and request until a full collection.
    FlowAI.configure(**shaping, cache_enabled=cache, cache_store="memory")
    server.enqueue(stream_reply(openai_chunks(DELTAS)))
    agent = make_agent()
    chunks: list[str] = []
    gc.collect()
    gc.disable()
    try:
        response = agent.astream("Go")
        async with response:
            await response.forward(chunks.append)
        freed = weakref.ref(response)
        del response
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()  # what only the collector would have freed, kept in gc.garbage
        cyclic = {type(o).__name__ for o in gc.garbage}
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert freed() is None
    assert not cyclic & {"AsyncStreamingResponse", "StreamState", "AsyncFlight", "TextDelta"}
    assert "".join(chunks) == "".join(DELTAS)
