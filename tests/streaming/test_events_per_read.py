"""Many events in one piece of data, and deltas that are chunks as they are.

A sync stream hands out the events of one read from a list, and a delta that
is a chunk as it is (every delta at buffer size 1) skips the ready queue: the
order of the chunks, the callbacks, an error among the events and a cancel
between them behave as they do one event at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from laraflowai import Agent, FlowAI, ProviderOverloadedError, StreamCancelledError, Task
from tests.servers import Hang, ProviderServer, in_stream_error, openai_chunks, stream_reply

MakeAgent = Callable[..., Agent]


def one_write(events: list[bytes], **options: Any) -> Any:
    """A reply whose events all go out in one write, so one read gets them all."""
    return stream_reply([b"".join(events)], **options)


async def read_until_error(response: Any, sync: bool) -> tuple[list[str], BaseException]:
    received: list[str] = []
    try:
        if sync:
            for chunk in response:
                received.append(chunk)
        else:
            async for chunk in response:
                received.append(chunk)
    except Exception as error:
        return received, error
    raise AssertionError(f"no error after {received!r}")


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_text_before_an_error_in_the_same_read_comes_out_first(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    FlowAI.configure(buffer_size=1, max_retries=2)
    deltas = ["One ", "two ", "three"]
    events = openai_chunks(deltas, finish_reason=None, include_done=False)
    server.enqueue(one_write([*events, in_stream_error("Overloaded", "overloaded_error")]))
    agent = make_agent()
    response = agent.stream("Go") if sync else agent.astream("Go")

    received, error = await read_until_error(response, sync)

    assert received == deltas
    assert isinstance(error, ProviderOverloadedError)
    assert error.partial_content == "One two three"
    assert server.request_count == 1  # text was out: never retried


def test_a_sync_stream_cancelled_between_events_of_one_read_hands_out_no_more(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    FlowAI.configure(buffer_size=1)
    deltas = [f"word{number} " for number in range(20)]
    events = openai_chunks(deltas, finish_reason=None, include_done=False)
    server.enqueue(one_write(events, then=[Hang()]))
    response = make_agent().stream("Go")
    received = [next(response), next(response)]

    response.cancel()
    with pytest.raises(StreamCancelledError) as caught:
        next(response)

    assert received == deltas[:2]
    assert caught.value.partial_content == "".join(deltas[:2])
    assert server.wait_for_disconnect(0, timeout=2)


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_deltas_straight_out_and_coalesced_keep_order_and_callbacks(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    # Buffer size 3: "ab" waits, "cdef" releases "abcdef", "ghi" is a chunk as it
    # is, "j" waits, "klmn" releases "jklmn", "op" waits for the end.
    FlowAI.configure(buffer_size=3, flush_interval=60_000)
    server.enqueue(one_write(openai_chunks(["ab", "cdef", "ghi", "j", "klmn", "op"])))
    seen: list[tuple[str, str]] = []
    task = Task("Go").stream(lambda chunk, content: seen.append((chunk, content)))
    agent = make_agent()
    if sync:
        response: Any = agent.stream(task)
        chunks = list(response)
    else:
        response = agent.astream(task)
        chunks = [chunk async for chunk in response]

    assert chunks == ["abcdef", "ghi", "jklmn", "op"]
    assert seen == [
        ("abcdef", "abcdef"),
        ("ghi", "abcdefghi"),
        ("jklmn", "abcdefghijklmn"),
        ("op", "abcdefghijklmnop"),
    ]
    stats = response.get_stats()
    assert stats["chunk_count"] == 4 and stats["content_length"] == 16
    assert response.get_content_length() == 16 and response.is_complete()


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_every_delta_straight_out_reaches_the_callbacks_at_buffer_size_one(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    FlowAI.configure(buffer_size=1)
    deltas = [f"w{number} " for number in range(50)]
    server.enqueue(one_write(openai_chunks(deltas)))
    seen: list[tuple[str, str]] = []
    agent = make_agent()
    response: Any = agent.stream("Go") if sync else agent.astream("Go")
    response.on_chunk(lambda chunk, content: seen.append((chunk, content)))
    chunks = list(response) if sync else [chunk async for chunk in response]

    assert chunks == deltas
    assert seen == [(delta, "".join(deltas[: index + 1])) for index, delta in enumerate(deltas)]
    assert response.get_stats()["chunk_count"] == 50
