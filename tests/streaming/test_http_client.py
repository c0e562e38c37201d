"""Your own HTTP client: per agent (`http_client=`, `async_http_client=`) or for
every agent (`FlowAI.configure(http_client=...)`). It carries the stream, our
shared client stays unused, it is never closed by us, and the time limits and
cancelling still hold on it. https://github.com/laraflowai/laraflowai/issues/12"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest

from laraflowai import Agent, ConfigurationError, FlowAI, StreamCancelledError, StreamTimeoutError
from laraflowai.streaming import _http
from tests.servers import (
    Hang,
    ProviderServer,
    openai_chunks,
    sse_comment,
    stream_reply,
)

MakeAgent = Callable[..., Agent]


class CountingTransport(httpx2.HTTPTransport):
    """The real transport, counting the requests it carries."""

    def __init__(self, *, socketless: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.requests = 0
        self.socketless = socketless

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        self.requests += 1
        response = super().handle_request(request)
        if self.socketless:  # as a transport without a socket of its own would answer
            response.extensions = {
                k: v for k, v in response.extensions.items() if k != "network_stream"
            }
        return response


class AsyncCountingTransport(httpx2.AsyncHTTPTransport):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.requests = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.requests += 1
        return await super().handle_async_request(request)


@pytest.fixture(autouse=True)
def default_clients() -> Iterator[None]:
    yield
    FlowAI.configure(http_client=None, async_http_client=None)


def answer(server: ProviderServer, *chunks: str) -> None:
    server.set_handler(lambda request: stream_reply(openai_chunks(list(chunks))))


def test_an_agents_own_client_carries_its_stream_and_stays_open(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    answer(server, "Hello ", "from ", "your client")
    transport = CountingTransport()
    with httpx2.Client(transport=transport) as client:
        agent = make_agent(http_client=client)
        with agent.stream("Go", cache=False) as response:
            assert response.get_content() == "Hello from your client"
        _http.close_clients()

        assert transport.requests == server.request_count == 1
        assert _http._sync_client is None, "the shared client was used"
        assert not client.is_closed
        # Still usable: a second stream through the same client.
        assert agent.handle("Again", cache=False).content == "Hello from your client"
        assert transport.requests == 2


async def test_an_agents_own_async_client_carries_its_stream_and_stays_open(
    server: ProviderServer, make_agent: MakeAgent, async_clients: None
) -> None:
    answer(server, "Hello ", "async")
    transport = AsyncCountingTransport()
    async with httpx2.AsyncClient(transport=transport) as client:
        agent = make_agent(async_http_client=client)
        async with agent.astream("Go", cache=False) as response:
            assert await response.get_content() == "Hello async"
        await _http.aclose_clients()

        assert transport.requests == server.request_count == 1
        assert not _http._async_clients, "the shared async client was used"
        assert not client.is_closed


async def test_a_client_set_for_every_agent_carries_their_streams(
    server: ProviderServer, make_agent: MakeAgent, async_clients: None
) -> None:
    answer(server, "shared ", "client")
    sync_transport, async_transport = CountingTransport(), AsyncCountingTransport()
    with httpx2.Client(transport=sync_transport) as client:
        async with httpx2.AsyncClient(transport=async_transport) as aclient:
            FlowAI.configure(http_client=client, async_http_client=aclient)
            agent = make_agent()
            assert agent.handle("Go", cache=False).content == "shared client"
            assert (await agent.ahandle("Go", cache=False)).content == "shared client"
            assert (sync_transport.requests, async_transport.requests) == (1, 1)

            FlowAI.configure(http_client=None)  # back to the shared default
            assert agent.handle("Go", cache=False).content == "shared client"
            assert sync_transport.requests == 1
            assert not client.is_closed and not aclient.is_closed


async def test_a_client_of_the_wrong_kind_is_refused_when_the_agent_is_made(
    make_agent: MakeAgent,
) -> None:
    async with httpx2.AsyncClient() as aclient:
        with pytest.raises(ConfigurationError, match="use async_http_client="):
            make_agent(http_client=aclient)
    with httpx2.Client() as client, pytest.raises(ConfigurationError, match="AsyncClient"):
        make_agent(async_http_client=client)


def test_on_a_transport_without_a_socket_the_limits_hold_as_data_arrives(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    """No socket to shut down: the first-chunk limit ends the stream at the next
    data after its deadline (here a keep-alive comment every 50 ms)."""
    server.set_handler(lambda request: stream_reply([sse_comment()] * 60, delay=0.05))
    FlowAI.configure(first_chunk_timeout=0.3)
    with httpx2.Client(transport=CountingTransport(socketless=True)) as client:
        started = time.monotonic()
        with pytest.raises(StreamTimeoutError) as caught:
            make_agent(http_client=client).stream("Go", cache=False).get_content()
    assert caught.value.limit == "first_chunk"
    assert time.monotonic() - started < 1.5


def test_on_a_transport_without_a_socket_a_cancel_ends_the_stream_as_data_arrives(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    events = openai_chunks(["Hello"], finish_reason=None, include_done=False)
    server.set_handler(
        lambda request: stream_reply([*events, *[sse_comment()] * 60], delay=0.05, then=[Hang()])
    )
    FlowAI.configure(buffer_size=1, flush_interval=0)
    with httpx2.Client(transport=CountingTransport(socketless=True)) as client:
        response = make_agent(http_client=client).stream("Go", cache=False)
        assert next(response) == "Hello"
        threading.Timer(0.2, response.cancel).start()
        with pytest.raises(StreamCancelledError):
            next(response)
        assert server.wait_for_disconnect(0, timeout=2)
        assert not client.is_closed
