"""`tapped(source, tap)`: a wrapper of a stream's producer that watches its
events without hiding the source's `pump`, so the in-memory registry still
reads an agent's answer by push; iterated, the tap sees the same events, and
either way the last event waits for the tap's async work and a stop reaches
the provider request through it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest

from laraflowai import Agent, FlowAI
from laraflowai.broadcast import MemoryStreamRegistry, Tap, response_events, tapped
from tests.servers import Hang, ProviderServer, openai_chunks, stream_reply

MakeAgent = Callable[..., Agent]
DELTAS = ["Tap", "ped ", "answer"]


class Recording(Tap):
    """Every call, a chunk as its text; `last` checks that the registry has
    not ended the stream before its async work is done."""

    def __init__(self, registry: MemoryStreamRegistry) -> None:
        self.registry = registry
        self.stream_id = ""
        self.calls: list[tuple[str, ...]] = []

    def begin(self) -> None:
        self.calls.append(("begin",))

    def see(self, payload: Mapping[str, Any] | str) -> None:
        text = payload if isinstance(payload, str) else payload.get("chunk", payload["type"])
        self.calls.append(("see", text))

    async def last(self, payload: Mapping[str, Any]) -> None:
        await asyncio.sleep(0.05)
        info = await self.registry.info(self.stream_id)
        assert info is not None
        self.calls.append(("last", payload["type"], info.status))

    def done(self) -> None:
        self.calls.append(("done",))


class IterateOnly:
    """A producer the registry can only iterate: `source` without its `pump`."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def __aiter__(self) -> IterateOnly:
        return self

    def __anext__(self) -> Any:
        return self.source.__anext__()

    async def aclose(self) -> None:
        await self.source.aclose()

    def cancel(self, reason: str = "cancelled") -> None:
        self.source.cancel(reason)


async def read_all(registry: MemoryStreamRegistry, stream_id: str) -> list[dict[str, Any]]:
    subscription = await registry.subscribe(stream_id, after=0)
    payloads: list[dict[str, Any]] = []
    while not payloads or payloads[-1]["type"] not in ("complete", "error"):
        payloads += [entry.payload() for entry in await subscription.next()]
    await subscription.aclose()
    return payloads


@pytest.mark.parametrize("pushed", [True, False], ids=["pumped", "iterated"])
async def test_a_tap_sees_every_event_and_the_last_waits_for_it(
    server: ProviderServer, make_agent: MakeAgent, async_clients: None, pushed: bool
) -> None:
    FlowAI.configure(buffer_size=1, cache_enabled=False)
    server.enqueue(stream_reply(openai_chunks(DELTAS), delay=0.01))
    registry = MemoryStreamRegistry()
    tap = Recording(registry)
    source: Any = response_events(make_agent().astream("Go"))
    events = tapped(source if pushed else IterateOnly(source), tap)
    assert hasattr(events, "pump") is pushed  # the push path is kept where there is one
    try:
        tap.stream_id = await registry.start(events)
        payloads = await read_all(registry, tap.stream_id)
    finally:
        await registry.aclose()
    assert [p["chunk"] for p in payloads if p["type"] == "chunk"] == DELTAS
    assert payloads[-1]["type"] == "complete"
    seen = [("see", text) for text in DELTAS]
    assert tap.calls == [("begin",), *seen, ("last", "complete", "running"), ("done",)]


@pytest.mark.parametrize("pushed", [True, False], ids=["pumped", "iterated"])
async def test_a_stop_reaches_the_provider_request_through_a_tap(
    server: ProviderServer, make_agent: MakeAgent, async_clients: None, pushed: bool
) -> None:
    FlowAI.configure(buffer_size=1, cache_enabled=False)
    events = openai_chunks(["Partial "], finish_reason=None, include_done=False)
    server.enqueue(stream_reply(events, then=[Hang()]))
    registry = MemoryStreamRegistry()
    tap = Recording(registry)
    source: Any = response_events(make_agent().astream("Go"))
    try:
        tap.stream_id = await registry.start(tapped(source if pushed else IterateOnly(source), tap))
        subscription = await registry.subscribe(tap.stream_id)
        while ("see", "Partial ") not in tap.calls:
            await subscription.next()
        info = await registry.stop(tap.stream_id)
        assert info.status == "stopped"
        assert await asyncio.to_thread(server.wait_for_disconnect, 0, 2)
        await subscription.aclose()
    finally:
        await registry.aclose()
    # Stopped: no last event from the producer, and the tap is told it is over.
    assert tap.calls == [("begin",), ("see", "Partial "), ("done",)]


async def test_a_tapped_source_never_read_is_closed_with_it() -> None:
    class Source:
        closed = False

        def __aiter__(self) -> AsyncIterator[Mapping[str, Any]]:
            raise AssertionError("never read")

        async def __anext__(self) -> Mapping[str, Any]:
            raise AssertionError("never read")

        async def aclose(self) -> None:
            self.closed = True

    source = Source()
    events = tapped(source, Tap())
    await events.aclose()  # type: ignore[attr-defined]
    assert source.closed
