"""The three time limits hold for providers that run in this process (the
embedded model) too: the async path ends a wait for the first piece on time,
the sync path when the provider next yields, and the text already handed out
stays on the error."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

import pytest

from laraflowai import Agent, Settings, StreamTimeoutError
from laraflowai.providers import (
    ChatRequest,
    InProcessProvider,
    register_provider,
    unregister_provider,
)
from laraflowai.wire import Event, Finished, TextDelta

from .test_timeouts import read_until_error


class Scripted(InProcessProvider):
    """Yields `(pause, text)` steps: waits `pause` seconds, then yields the text."""

    name: ClassVar[str] = "scripted"
    label: ClassVar[str] = "Scripted"
    default_model: ClassVar[str] = "scripted-1"
    steps: ClassVar[list[tuple[float, str]]] = []
    closed: ClassVar[list[str]] = []

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
                yield TextDelta(text)
            yield Finished("stop")
        finally:
            self.closed.append("async")


@pytest.fixture
def scripted() -> Iterator[type[Scripted]]:
    register_provider("scripted", lambda **kwargs: Scripted(**kwargs), replace=True)
    Scripted.closed = []
    yield Scripted
    unregister_provider("scripted")


def agent(steps: list[tuple[float, str]], **limits: Any) -> Agent:
    Scripted.steps = steps
    settings = Settings().replace(buffer_size=1, cache_enabled=False, max_retries=0, **limits)
    return Agent("Tester", "Test limits", "scripted", settings=settings)


async def read(agent: Agent, sync: bool) -> tuple[list[str], StreamTimeoutError, float]:
    started = time.monotonic()
    received, error = await read_until_error(agent, sync)
    return received, error, time.monotonic() - started


async def test_async_waits_for_the_first_piece_no_longer_than_its_limit(
    scripted: type[Scripted],
) -> None:
    slow = agent([(5.0, "late")], first_chunk_timeout=0.2)
    received, error, took = await read(slow, sync=False)
    assert received == [] and error.limit == "first_chunk" and took < 2
    assert "LARAFLOWAI_STREAMING_FIRST_CHUNK_TIMEOUT" in error.message
    assert scripted.closed == ["async"]  # the provider was stopped, not left running


async def test_sync_enforces_the_first_piece_limit_when_the_provider_yields(
    scripted: type[Scripted],
) -> None:
    slow = agent([(0.4, "late")], first_chunk_timeout=0.1)
    received, error, _ = await read(slow, sync=True)
    assert received == [] and error.limit == "first_chunk"
    assert scripted.closed == ["sync"]


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_silence_between_pieces_and_the_whole_stream_are_limited_too(
    scripted: type[Scripted], sync: bool
) -> None:
    stalls = agent([(0, "one "), (0, "two "), (0.5, "three")], idle_timeout=0.2)
    received, error, _ = await read(stalls, sync)
    assert received == ["one ", "two "] and error.limit == "idle"
    assert error.partial_content == "one two "
    assert "LARAFLOWAI_STREAMING_IDLE_TIMEOUT" in error.message

    endless = agent([(0.05, "tick ")] * 40, timeout=0.3)
    received, error, took = await read(endless, sync)
    assert error.limit == "total" and 2 <= len(received) < 40 and took < 1.5
    assert error.partial_content == "".join(received)


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_a_provider_within_its_limits_is_untouched(
    scripted: type[Scripted], sync: bool
) -> None:
    quick = agent([(0.01, "a"), (0.01, "b")], first_chunk_timeout=1, idle_timeout=1, timeout=5)
    if sync:
        assert "".join(quick.stream("Go")) == "ab"
    else:
        assert "".join([chunk async for chunk in quick.astream("Go")]) == "ab"
