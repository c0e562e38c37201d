"""The reader of a stream: between the provider and the drivers, with the
stream cache and in-flight sharing.

A request's key is looked up in the flights in progress first (join it: every
event from the start), then in the store (replay it, with its original delta
boundaries), and only then sent to the provider. A stream is stored when it
ended normally with a final finish reason ("stop", "tool_calls" or
"content_filter": never "length", "pause" or a word we do not know), carried
no error or warning, and was not cancelled because every reader left.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import httpx2 as httpx

from .._config import Settings
from .._exceptions import CacheError
from ..cache import Store, decode_events, encode_events, open_store, request_key
from ..providers import ChatRequest, Provider
from ..wire import Event, Finished, StreamError
from ._cancel import Cancel
from ._inflight import (
    AsyncFlight,
    AsyncFlightReader,
    DirectAsyncReader,
    Flight,
    FlightReader,
    Registry,
    aiter_list,
    loop_registry,
)
from ._source import aiter_events, iter_events
from ._state import StreamCounts, StreamState

__all__ = ["open_async_reader", "open_reader"]

logger = logging.getLogger("laraflowai")

_flights: Registry[Flight] = Registry()


def open_reader(
    provider: Provider,
    settings: Settings,
    cache: bool,
    client: httpx.Client | None,
    request: ChatRequest,
    state: StreamState,
) -> FlightReader:
    """A reader of the request's events, shared and cached when `cache` is true.
    The agent's part comes first, the answer's last: an agent's step is
    `functools.partial(open_reader, provider, settings, cache, client)`."""
    live = functools.partial(_live, provider, request, settings, state.counts, client)
    if not cache:
        reader = Flight(live).join()
        assert reader is not None
        return reader
    store = open_store(settings)
    key = request_key(provider, request)

    def start() -> Flight:
        def upstream(cancel: Cancel) -> Iterator[list[Event]]:
            stored = _lookup(store, key)
            if stored is not None:
                flight.cached = True
                return iter([stored] if stored else [])
            return live(cancel)

        def complete(events: list[Event]) -> None:
            if not flight.cached and _storable(events, settings):
                store.set(key, encode_events(events), settings.cache_ttl)

        flight = Flight(
            upstream,
            on_complete=complete,
            on_end=lambda ended: _flights.discard(key, ended),
        )
        return flight

    joined, state.counts.shared = _flights.join_or_start(key, start)
    assert isinstance(joined, FlightReader)
    return joined


def open_async_reader(
    provider: Provider,
    settings: Settings,
    cache: bool,
    client: httpx.AsyncClient | None,
    request: ChatRequest,
    state: StreamState,
) -> AsyncFlightReader | DirectAsyncReader:
    """The async twin of open_reader(), shared on the running event loop."""
    # A partial, not a closure: 2 objects per open stream for the collector to walk, not 7.
    live = functools.partial(_alive, provider, request, settings, state.counts, client)
    if not cache:
        return DirectAsyncReader(live)
    store = open_store(settings)
    key = request_key(provider, request)
    flights = loop_registry()

    # A function of the module's, not a closure that names itself: that would be
    # a cycle holding this request's state for the cycle collector.
    start = functools.partial(_start_flight, live, store, key, settings, flights)
    joined, state.counts.shared = flights.join_or_start(key, start)
    assert isinstance(joined, AsyncFlightReader)
    return joined


def _live(
    provider: Provider,
    request: ChatRequest,
    settings: Settings,
    counts: StreamCounts,
    client: httpx.Client | None,
    cancel: Cancel,
) -> Iterator[list[Event]]:
    return iter_events(provider, request, settings, counts, cancel, client)


async def _alive(
    provider: Provider,
    request: ChatRequest,
    settings: Settings,
    counts: StreamCounts,
    client: httpx.AsyncClient | None,
    cancel: Cancel,
) -> AsyncIterator[Event]:
    return aiter_events(provider, request, settings, counts, cancel, client)


def _start_flight(
    live: Callable[[Cancel], Awaitable[AsyncIterator[Event]]],
    store: Store,
    key: str,
    settings: Settings,
    flights: Registry[AsyncFlight],
) -> AsyncFlight:
    async def upstream(cancel: Cancel) -> AsyncIterator[Event]:
        stored = await _alookup(store, key)
        if stored is not None:
            flight.cached = True
            return aiter_list(stored)
        return await live(cancel)

    async def complete(events: list[Event]) -> None:
        if not flight.cached and _storable(events, settings):
            data = encode_events(events)
            if store.blocking:
                await asyncio.to_thread(store.set, key, data, settings.cache_ttl)
            else:
                store.set(key, data, settings.cache_ttl)

    # upstream and complete close over the flight; it drops them when it is over.
    flight = AsyncFlight(
        upstream, on_complete=complete, on_end=lambda ended: flights.discard(key, ended)
    )
    again = functools.partial(_start_flight, live, store, key, settings, flights)
    flight.rejoin = functools.partial(_rejoin, flights, key, again)
    return flight


def _rejoin(
    flights: Registry[AsyncFlight], key: str, start: Callable[[], AsyncFlight]
) -> AsyncFlightReader | None:
    reader, _ = flights.join_or_start(key, start)
    return reader if isinstance(reader, AsyncFlightReader) else None


async def _alookup(store: Store, key: str) -> list[Event] | None:
    if store.blocking:
        return await asyncio.to_thread(_lookup, store, key)
    return _lookup(store, key)


def _lookup(store: Store, key: str) -> list[Event] | None:
    try:
        data = store.get(key)
    except CacheError as error:
        logger.warning("%s; asking the provider instead", error.message)
        return None
    if data is None:
        return None
    try:
        return decode_events(data)
    except ValueError:
        logger.warning("a cached stream could not be read; asking the provider instead")
        return None


def _storable(events: list[Event], settings: Settings) -> bool:
    """Only an answer that ended for good is stored: "stop", "tool_calls" or
    "content_filter". Not "length" (cut short), "pause" (asking again goes on)
    or a provider's word laraflowai does not know (it may mean either)."""
    if settings.cache_ttl <= 0:
        return False
    finish: Finished | None = None
    for event in events:
        match event:
            case Finished():
                finish = event
            case StreamError():
                return False
    return finish is not None and finish.reason in ("stop", "tool_calls", "content_filter")
