"""All network I/O of the HTTP providers, sync and async, in one place.

The provider builds the request and names the decoder; here we send it, read
bytes as they arrive, feed the decoder and map every httpx error to ours at
this single boundary.

Requests go through the client the agent was given (`http_client=`,
`async_http_client=`), else the one set with `set_http_client()` /
`set_async_http_client()`, else a shared default (one sync client, one async
client per event loop). A client given by the user is never closed here.

The time limits and cancelling hold on any client: the read timeouts are set per
request; a sync read is woken by shutting its socket down when the transport
exposes one (httpx's own transport does, through the `network_stream`
extension), and otherwise ends as the next data arrives, where the limits and
the Cancel are checked. Async reads wait inside `asyncio.timeout`, which needs
no socket.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, contextmanager

import httpx2 as httpx

from .._config import Settings
from .._exceptions import (
    ConfigurationError,
    LaraFlowAIError,
    ProviderConnectionError,
    StreamInterruptedError,
)
from ..providers import ChatRequest, HTTPProvider, error_from_report
from ..wire import Event, StreamDecoder, StreamError
from ._limits import CONTENT, Limits

__all__ = [
    "aclose_clients",
    "aiter_http_events",
    "check_async_client",
    "check_client",
    "close_clients",
    "iter_http_events",
    "set_async_http_client",
    "set_http_client",
]

_MAX_ERROR_BODY = 64 * 1024
_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=40, keepalive_expiry=30)

_sync_lock = threading.Lock()
_sync_client: httpx.Client | None = None
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


_user_sync: httpx.Client | None = None
_user_async: httpx.AsyncClient | None = None


def check_client(client: object) -> httpx.Client | None:
    if client is not None and not isinstance(client, httpx.Client):
        raise ConfigurationError(
            f"http_client must be an httpx2.Client, got {type(client).__name__}"
            + (
                " (use async_http_client= for an AsyncClient)"
                if isinstance(client, httpx.AsyncClient)
                else ""
            )
        )
    return client


def check_async_client(client: object) -> httpx.AsyncClient | None:
    if client is not None and not isinstance(client, httpx.AsyncClient):
        raise ConfigurationError(
            f"async_http_client must be an httpx2.AsyncClient, got {type(client).__name__}"
        )
    return client


def set_http_client(client: httpx.Client | None) -> None:
    """Send every sync request of agents given no `http_client=` through `client`
    (None: back to the shared default). The client stays yours to close."""
    global _user_sync
    _user_sync = check_client(client)


def set_async_http_client(client: httpx.AsyncClient | None) -> None:
    """The async twin of set_http_client(). An AsyncClient belongs to the event
    loop it was first used on: use it from that loop only."""
    global _user_async
    _user_async = check_async_client(client)


def _client() -> httpx.Client:
    global _sync_client
    if _user_sync is not None:
        return _user_sync
    if _sync_client is None:
        with _sync_lock:
            if _sync_client is None:
                _sync_client = httpx.Client(limits=_LIMITS, follow_redirects=False)
    return _sync_client


def _async_client() -> httpx.AsyncClient:
    if _user_async is not None:
        return _user_async
    # An AsyncClient's pool belongs to one event loop: keep one per loop.
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = _async_clients[loop] = httpx.AsyncClient(limits=_LIMITS, follow_redirects=False)
    return client


def close_clients() -> None:
    """Close the shared sync client (its pooled connections); never a user's."""
    global _sync_client
    with _sync_lock:
        client, _sync_client = _sync_client, None
    if client is not None:
        client.close()


async def aclose_clients() -> None:
    """Close the shared async client of the running event loop; never a user's."""
    client = _async_clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()


def _timeout(settings: Settings, limits: Limits) -> httpx.Timeout:
    read = limits.head_read_timeout()
    write = min(settings.idle_timeout, settings.timeout)
    return httpx.Timeout(
        connect=settings.connect_timeout, read=read, write=write, pool=settings.connect_timeout
    )


def iter_http_events(
    provider: HTTPProvider,
    request: ChatRequest,
    settings: Settings,
    limits: Limits,
    client: httpx.Client | None = None,
) -> Iterator[list[Event]]:
    """The provider's events in batches, each the events of one piece of data
    (a reader serves them from a list, with no generator to resume per event)."""
    spec = provider.build_request(request)
    cancel = limits.cancel
    with (
        _mapped_errors(provider, limits),
        (client or _client()).stream(
            spec.method,
            spec.url,
            headers=spec.headers,
            content=spec.body,
            timeout=_timeout(settings, limits),
        ) as response,
    ):
        if cancel.reason is not None:  # fired while the head was awaited
            raise _cancelled(limits)
        if response.status_code >= 300:
            body = _read_limited(response.iter_bytes())
            raise provider.error_from_reply(response.status_code, response.headers, body)
        decoder = provider.new_decoder()
        limits.body_started(response, watchdog=True)
        try:
            waiting = limits.waiting
            total_at, first_at = limits.total_at, limits.first_at
            for data in response.iter_bytes():
                now = time.monotonic()
                if now > total_at or (waiting and now > first_at) or cancel.reason is not None:
                    limits.check(now)
                    if cancel.reason is not None:
                        raise _cancelled(limits)
                events, error, waiting = _screened(provider, limits, decoder.feed(data), waiting)
                if events:
                    yield events
                if error is not None:
                    raise error
        finally:
            limits.body_ended()
        events = _finish(provider, decoder)
        if events:
            yield events


async def aiter_http_events(
    provider: HTTPProvider,
    request: ChatRequest,
    settings: Settings,
    limits: Limits,
    client: httpx.AsyncClient | None = None,
) -> AsyncIterator[Event]:
    spec = provider.build_request(request)
    cancel = limits.cancel
    cancel.bind_loop()
    with _mapped_errors(provider, limits):
        async with AsyncExitStack() as stack:
            try:
                async with asyncio.timeout(None) as head:
                    cancel.watch(head)
                    if cancel.reason is not None:
                        raise _cancelled(limits)
                    response = await stack.enter_async_context(
                        (client or _async_client()).stream(
                            spec.method,
                            spec.url,
                            headers=spec.headers,
                            content=spec.body,
                            timeout=_timeout(settings, limits),
                        )
                    )
            except TimeoutError:
                error = limits.cancelled()
                if error is None:
                    raise
                raise error from None
            if response.status_code >= 300:
                body = await _aread_limited(response.aiter_bytes())
                raise provider.error_from_reply(response.status_code, response.headers, body)
            decoder = provider.new_decoder()
            limits.body_started(response, watchdog=False)
            chunks = response.aiter_bytes()
            waiting = limits.waiting
            try:
                while True:
                    limit, deadline = limits.nearest()
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise limits.error(limit)
                    try:
                        async with asyncio.timeout(remaining) as timeout:
                            cancel.reading = timeout  # what firing the Cancel expires
                            if cancel.reason is not None:
                                raise _cancelled(limits)
                            data = await anext(chunks)
                    except StopAsyncIteration:
                        break
                    except TimeoutError:
                        raise limits.cancelled() or limits.error(limit) from None
                    events, error, waiting = _screened(
                        provider, limits, decoder.feed(data), waiting
                    )
                    for event in events:
                        yield event
                    if error is not None:
                        raise error
            finally:
                # Close httpx's byte iterator here, in this task: left to the
                # garbage collector, its nested generators are finalised in an
                # order that raises "async generator already executing".
                await chunks.aclose()
            for event in _finish(provider, decoder):
                yield event


def _screened(
    provider: HTTPProvider, limits: Limits, events: list[Event], waiting: bool
) -> tuple[list[Event], LaraFlowAIError | None, bool]:
    """One read's events: those to hand out, the error to raise after them
    (a StreamError that is not a warning ends them), and whether the first
    piece of the answer is still awaited (`limits` is told when it came)."""
    if not events:
        return events, None, waiting
    kinds = set(map(type, events))
    if StreamError not in kinds and (not waiting or kinds.isdisjoint(CONTENT)):
        return events, None, waiting  # most reads: nothing to look at event by event
    for index, event in enumerate(events):
        if type(event) is StreamError and not _is_warning(event):
            return events[:index], _reported(provider, event), waiting
        if waiting and type(event) in CONTENT:
            waiting = False
            limits.content_arrived()
    return events, None, waiting


def _cancelled(limits: Limits) -> LaraFlowAIError:
    error = limits.cancelled()
    assert error is not None
    return error


def _finish(provider: HTTPProvider, decoder: StreamDecoder) -> list[Event]:
    events = decoder.finish()
    for event in events:
        if type(event) is StreamError:
            _raise_unless_warning(provider, event)
    if not decoder.complete:
        raise StreamInterruptedError(
            f"the connection to {provider.label} ended before the answer was complete",
            provider=provider.name,
            model=provider.model,
        )
    return events


def _raise_unless_warning(provider: HTTPProvider, event: StreamError) -> None:
    if not _is_warning(event):
        raise _reported(provider, event)


def _is_warning(event: StreamError) -> bool:
    # A malformed tool call is reported as an event; the answer itself is fine.
    return event.kind == "malformed_tool_call"


def _reported(provider: HTTPProvider, event: StreamError) -> LaraFlowAIError:
    return error_from_report(
        provider,
        event.kind,
        event.message,
        status=event.status,
        body=event.body,
    )


def _read_limited(chunks: Iterator[bytes]) -> bytes:
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) >= _MAX_ERROR_BODY:
            break
    return bytes(body)


async def _aread_limited(chunks: AsyncIterator[bytes]) -> bytes:
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) >= _MAX_ERROR_BODY:
            break
    return bytes(body)


@contextmanager
def _mapped_errors(provider: HTTPProvider, limits: Limits) -> Iterator[None]:
    """Translate httpx's errors into ours, once, here."""
    try:
        yield
    except LaraFlowAIError:
        raise
    except httpx.ReadTimeout:
        raise limits.error(limits.read_limit) from None
    except httpx.HTTPError as exc:
        # A fired Cancel shut the connection down (a reader left, the watchdog).
        raise limits.cancelled() or _mapped(provider, exc) from None


def _mapped(provider: HTTPProvider, exc: httpx.HTTPError) -> LaraFlowAIError:
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return ProviderConnectionError(
            f"could not connect to {provider.label} at {provider.base_url} ({_describe(exc)}); "
            "check the network and the base URL",
            provider=provider.name,
            model=provider.model,
        )
    if isinstance(
        exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError | httpx.WriteTimeout
    ):
        return StreamInterruptedError(
            f"the connection to {provider.label} was lost before the answer was complete "
            f"({_describe(exc)})",
            provider=provider.name,
            model=provider.model,
        )
    return ProviderConnectionError(
        f"talking to {provider.label} failed ({_describe(exc)})",
        provider=provider.name,
        model=provider.model,
    )


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
