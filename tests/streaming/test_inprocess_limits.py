"""The three time limits hold for providers that run in this process (the
embedded model) too: the async path ends a wait for the first piece on time,
the sync path when the provider next yields; after the first piece a timer
watches silence and the whole stream, for a reader iterating and for
`forward` (which reads the provider's own awaitables); the text already
handed out stays on the error."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

import pytest

from laraflowai import Agent, Settings, StreamCancelledError, StreamTimeoutError
from laraflowai.providers import (
    ChatRequest,
    InProcessProvider,
    register_provider,
    unregister_provider,
)
from laraflowai.streaming import _inprocess
from laraflowai.wire import Event, Finished, TextDelta

from .test_timeouts import read_until_error


class Scripted(InProcessProvider):
    """Yields `(pause, text)` steps: waits `pause` seconds, then yields the text."""

    name: ClassVar[str] = "scripted"
    label: ClassVar[str] = "Scripted"
    default_model: ClassVar[str] = "scripted-1"
    steps: ClassVar[list[tuple[float, str]]] = []
    closed: ClassVar[list[str]] = []
    tasks: ClassVar[list[asyncio.Task[Any] | None]] = []  # where each async piece was made

    def iter_events(self, request: ChatRequest) -> Iterator[Event]:
        try:
            for pause, text in self.steps:
                time.sleep(pause)
                yield TextDelta(text)
            yield Finished("stop")
        finally:
            self.closed.append("sync")

    async def aiter_events(self, request: ChatRequest) -> AsyncIterator[Event]:
        try:
            for pause, text in self.steps:
                await asyncio.sleep(pause)
                self.tasks.append(asyncio.current_task())
                yield TextDelta(text)
            yield Finished("stop")
        finally:
            self.closed.append("async")


@pytest.fixture
def scripted() -> Iterator[type[Scripted]]:
    register_provider("scripted", lambda **kwargs: Scripted(**kwargs), replace=True)
    Scripted.closed = []
    Scripted.tasks = []
    yield Scripted
    unregister_provider("scripted")


def agent(steps: list[tuple[float, str]], **options: Any) -> Agent:
    Scripted.steps = steps
    settings = Settings().replace(
        max_retries=0, **{"buffer_size": 1, "cache_enabled": False, **options}
    )
    return Agent("Tester", "Test limits", "scripted", settings=settings)


async def read(agent: Agent, mode: str) -> tuple[list[str], StreamTimeoutError, float]:
    """Read until the limit's error: iterating (sync or async) or with `forward`."""
    started = time.monotonic()
    if mode == "forward":
        received: list[str] = []
        with pytest.raises(StreamTimeoutError) as caught:
            async with agent.astream("Go") as response:
                await response.forward(received.append)
        error = caught.value
    else:
        received, error = await read_until_error(agent, mode == "sync")
    return received, error, time.monotonic() - started


MODES = ["sync", "async", "forward"]


async def test_async_waits_for_the_first_piece_no_longer_than_its_limit(
    scripted: type[Scripted],
) -> None:
    slow = agent([(5.0, "late")], first_chunk_timeout=0.2)
    received, error, took = await read(slow, "async")
    assert received == [] and error.limit == "first_chunk" and took < 2
    assert "LARAFLOWAI_STREAMING_FIRST_CHUNK_TIMEOUT" in error.message
    assert scripted.closed == ["async"]  # the provider was stopped, not left running


async def test_sync_enforces_the_first_piece_limit_when_the_provider_yields(
    scripted: type[Scripted],
) -> None:
    slow = agent([(0.4, "late")], first_chunk_timeout=0.1)
    received, error, _ = await read(slow, "sync")
    assert received == [] and error.limit == "first_chunk"
    assert scripted.closed == ["sync"]


@pytest.mark.parametrize("mode", MODES)
async def test_silence_between_pieces_and_the_whole_stream_are_limited_too(
    scripted: type[Scripted], mode: str
) -> None:
    stalls = agent([(0, "one "), (0, "two "), (0.5, "three")], idle_timeout=0.2)
    received, error, _ = await read(stalls, mode)
    assert received == ["one ", "two "] and error.limit == "idle"
    assert error.partial_content == "one two "
    assert "LARAFLOWAI_STREAMING_IDLE_TIMEOUT" in error.message

    endless = agent([(0.05, "tick ")] * 40, timeout=0.3)
    received, error, took = await read(endless, mode)
    assert error.limit == "total" and 2 <= len(received) < 40 and took < 1.5
    assert error.partial_content == "".join(received)
    assert scripted.closed == [mode if mode == "sync" else "async"] * 2


@pytest.mark.parametrize("mode", ["async", "forward"])
async def test_steady_pieces_outlast_the_idle_limit_and_a_stop_ends_them(
    scripted: type[Scripted], mode: str
) -> None:
    # 0.6 s of pieces 0.06 s apart: longer than the idle limit, never silent for it.
    steady = agent([(0.06, "tick ")] * 10, idle_timeout=0.25)
    async with steady.astream("Go") as response:
        if mode == "forward":
            received: list[str] = []
            await response.forward(received.append)
        else:
            received = [chunk async for chunk in response]
    assert received == ["tick "] * 10

    endless = agent([(0.05, "tick ")] * 100)
    received = []
    async with endless.astream("Go") as response:

        def take(chunk: str) -> None:
            received.append(chunk)
            if len(received) == 3:
                response.cancel()

        with pytest.raises(StreamCancelledError):
            if mode == "forward":
                await response.forward(take)
            else:
                async for chunk in response:
                    take(chunk)
    assert received == ["tick "] * 3


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_a_provider_within_its_limits_is_untouched(
    scripted: type[Scripted], sync: bool
) -> None:
    quick = agent([(0.01, "a"), (0.01, "b")], first_chunk_timeout=1, idle_timeout=1, timeout=5)
    if sync:
        assert "".join(quick.stream("Go")) == "ab"
    else:
        assert "".join([chunk async for chunk in quick.astream("Go")]) == "ab"


async def test_one_watch_serves_every_stream_and_goes_with_the_last(
    scripted: type[Scripted],
) -> None:
    loop = asyncio.get_running_loop()

    async def answer(which: Agent) -> str:
        try:
            return "".join([chunk async for chunk in which.astream("Go")])
        except StreamTimeoutError as error:
            return error.limit

    steady = agent([(0.03, "x")] * 6, idle_timeout=0.2)  # (the steps are the class's)
    running = asyncio.gather(*(answer(steady) for _ in range(4)))
    await asyncio.sleep(0.08)
    assert len(_inprocess._watches[loop].streams) == 4  # one watch for all
    assert await running == ["xxxxxx"] * 4
    stalls = agent([(0, "one "), (0.6, "late")], idle_timeout=0.2)
    assert await asyncio.gather(*(answer(stalls) for _ in range(2))) == ["idle"] * 2
    watch = _inprocess._watches.get(loop)
    assert watch is None or not watch.streams  # each left it as it closed
    await asyncio.sleep(0.2)  # the next tick finds none: the timer stops
    assert loop not in _inprocess._watches


async def test_forward_flushes_held_back_text_while_the_provider_runs_on_in_its_task(
    scripted: type[Scripted],
) -> None:
    # Pauses longer than the flush interval: what came before each goes out
    # from forward's timer, and the provider's generator is never moved to
    # another task to wait with a deadline.
    pausing = agent(
        [(0, "Hel"), (0, "lo"), (0.3, " there"), (0.3, " end")], buffer_size=50,
        flush_interval=20, idle_timeout=2,
    )  # fmt: skip
    arrived: list[tuple[str, float]] = []
    started = time.monotonic()
    async with pausing.astream("Go") as response:
        await response.forward(lambda chunk: arrived.append((chunk, time.monotonic() - started)))
    assert [chunk for chunk, _ in arrived] == ["Hello", " there", " end"]
    assert arrived[0][1] < 0.25 and arrived[1][1] < 0.55  # each by the timer, before the next
    assert scripted.tasks == [asyncio.current_task()] * 4
    assert response.is_complete()


@pytest.mark.parametrize("mode", ["async", "forward"])
async def test_the_limits_hold_when_the_answer_is_read_through_the_cache(
    scripted: type[Scripted], mode: str
) -> None:
    # With the cache on, the lone reader reads through its flight, which awaits
    # the provider's own iterator and makes Timed's per-event test itself.
    cached = {"cache_enabled": True, "cache_store": "memory"}
    stalls = agent([(0, "one "), (0, "two "), (0.5, "three")], idle_timeout=0.2, **cached)
    received, error, _ = await read(stalls, mode)
    assert received == ["one ", "two "] and error.limit == "idle"
    endless = agent([(0.05, "tick ")] * 40, timeout=0.3, **cached)
    received, error, took = await read(endless, mode)
    assert error.limit == "total" and 2 <= len(received) < 40 and took < 1.5
    assert scripted.closed == ["async"] * 2
