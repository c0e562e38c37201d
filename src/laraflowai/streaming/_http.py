"""All network I/O of the HTTP providers, sync and async, in one place.

The provider builds the request and names the decoder; here we send it, read
bytes as they arrive, feed the decoder and map every httpx error to ours at
this single boundary.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import httpx2 as httpx

from .._config import Settings
from .._exceptions import (
    LaraFlowAIError,
    ProviderConnectionError,
    StreamInterruptedError,
)
from ..providers._errors import error_from_report
from ..providers.base import ChatRequest, HTTPProvider
from ..wire import Event, StreamDecoder, StreamError
from ._abort import abortable, raise_if_aborted
from ._limits import CONTENT, Limits

__all__ = ["aclose_clients", "aiter_http_events", "close_clients", "iter_http_events"]

_MAX_ERROR_BODY = 64 * 1024
_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=40, keepalive_expiry=30)

_sync_lock = threading.Lock()
_sync_client: httpx.Client | None = None
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


def _client() -> httpx.Client:
    global _sync_client
    if _sync_client is None:
        with _sync_lock:
            if _sync_client is None:
                _sync_client = httpx.Client(limits=_LIMITS, follow_redirects=False)
    return _sync_client


def _async_client() -> httpx.AsyncClient:
    # An AsyncClient's pool belongs to one event loop: keep one per loop.
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = _async_clients[loop] = httpx.AsyncClient(limits=_LIMITS, follow_redirects=False)
    return client


def close_clients() -> None:
    """Close the shared sync client (its pooled connections)."""
    global _sync_client
    with _sync_lock:
        client, _sync_client = _sync_client, None
    if client is not None:
        client.close()


async def aclose_clients() -> None:
    """Close the async client of the running event loop."""
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
    provider: HTTPProvider, request: ChatRequest, settings: Settings, limits: Limits
) -> Iterator[Event]:
    spec = provider.build_request(request)
    raise_if_aborted(provider.label)
    with (
        _mapped_errors(provider, limits),
        _client().stream(
            spec.method,
            spec.url,
            headers=spec.headers,
            content=spec.body,
            timeout=_timeout(settings, limits),
        ) as response,
        abortable(response.extensions.get("network_stream"), provider.label),
    ):
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
                if now > total_at or (waiting and now > first_at):
                    limits.check()
                for event in decoder.feed(data):
                    if type(event) is StreamError:
                        _raise_unless_warning(provider, event)
                    elif waiting and type(event) in CONTENT:
                        waiting = False
                        limits.content_arrived()
                    yield event
        finally:
            limits.body_ended()
        yield from _finish(provider, decoder)


async def aiter_http_events(
    provider: HTTPProvider, request: ChatRequest, settings: Settings, limits: Limits
) -> AsyncIterator[Event]:
    spec = provider.build_request(request)
    with _mapped_errors(provider, limits):
        async with _async_client().stream(
            spec.method,
            spec.url,
            headers=spec.headers,
            content=spec.body,
            timeout=_timeout(settings, limits),
        ) as response:
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
                        async with asyncio.timeout(remaining):
                            data = await anext(chunks)
                    except StopAsyncIteration:
                        break
                    except TimeoutError:
                        raise limits.error(limit) from None
                    for event in decoder.feed(data):
                        if type(event) is StreamError:
                            _raise_unless_warning(provider, event)
                        elif waiting and type(event) in CONTENT:
                            waiting = False
                            limits.content_arrived()
                        yield event
            finally:
                # Close httpx's byte iterator here, in this task: left to the
                # garbage collector, its nested generators are finalised in an
                # order that raises "async generator already executing".
                await chunks.aclose()
            for event in _finish(provider, decoder):
                yield event


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
    # A malformed tool call is reported as an event; the answer itself is fine.
    if event.kind == "malformed_tool_call":
        return
    raise error_from_report(
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
        reason = limits.abort.reason
        if reason in ("total", "first_chunk"):  # the watchdog shut the connection down
            raise limits.error(reason) from None
        if reason is not None:
            raise StreamInterruptedError(
                f"the stream from {provider.label} was closed by its reader",
                provider=provider.name,
                model=provider.model,
            ) from None
        raise _mapped(provider, exc) from None


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
