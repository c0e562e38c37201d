"""Custom providers registered by name run through agent.stream() and astream()."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator
from typing import ClassVar

import pytest

from laraflowai import ConfigurationError, Finished, FlowAI, TextDelta, Usage
from laraflowai.providers import (
    ChatRequest,
    HTTPProvider,
    HTTPRequest,
    InProcessProvider,
    register_provider,
    unregister_provider,
)
from laraflowai.wire import Event
from laraflowai.wire.openai import OpenAIChatDecoder
from tests.servers import ProviderServer, openai_chunks, stream_reply


class ShoutProvider(InProcessProvider):
    """Answers with the user's message in capitals, word by word."""

    name: ClassVar[str] = "shout"
    label: ClassVar[str] = "Shout"
    default_model: ClassVar[str] = "shout-1"

    def iter_events(self, request: ChatRequest) -> Generator[Event, None, None]:
        words = request.messages[-1]["content"].upper().split()
        for index, word in enumerate(words):
            yield TextDelta(word if index == 0 else f" {word}")
        yield Usage(1, len(words), 1 + len(words))
        yield Finished("stop")

    async def aiter_events(self, request: ChatRequest) -> AsyncIterator[Event]:
        for event in self.iter_events(request):
            yield event


class GatewayProvider(HTTPProvider):
    """A company gateway speaking the OpenAI format at its own path, with its own header."""

    name: ClassVar[str] = "gateway"
    label: ClassVar[str] = "Company gateway"
    default_model: ClassVar[str] = "house-model"
    default_base_url: ClassVar[str] = "http://gateway.invalid"
    requires_api_key: ClassVar[bool] = False

    def build_request(self, request: ChatRequest) -> HTTPRequest:
        body = {"model": self.model, "messages": request.messages, "stream": True}
        headers = {"content-type": "application/json", "x-team": "search"}
        return HTTPRequest("POST", f"{self.base_url}/llm/stream", headers, self.encode(body))

    def new_decoder(self) -> OpenAIChatDecoder:
        return OpenAIChatDecoder()


@pytest.fixture
def registered() -> Iterator[None]:
    register_provider("shout", ShoutProvider)
    FlowAI.register_provider("gateway", GatewayProvider)
    yield
    unregister_provider("shout")
    unregister_provider("gateway")


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_in_process_provider_streams_through_an_agent(registered: None, sync: bool) -> None:
    agent = FlowAI.agent("Herald", "Announce", provider="shout")
    if sync:
        response = agent.stream("hear ye hear ye").set_buffer_size(1)
        chunks = list(response)
    else:
        aresponse = agent.astream("hear ye hear ye").set_buffer_size(1)
        chunks = [chunk async for chunk in aresponse]
        response = aresponse  # type: ignore[assignment]
    assert chunks == ["HEAR", " YE", " HEAR", " YE"]
    stats = response.get_stats()
    assert (stats["provider"], stats["model"], stats["output_tokens"]) == ("shout", "shout-1", 4)


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_http_provider_subclass_streams_from_its_own_endpoint(
    registered: None, server: ProviderServer, sync: bool, async_clients: None
) -> None:
    server.enqueue(stream_reply(openai_chunks(["from ", "the gateway"])))
    agent = FlowAI.agent("A", "B", provider="gateway", base_url=server.url)
    text = agent.stream("x").get_content() if sync else await agent.astream("x").get_content()
    assert text == "from the gateway"
    assert server.requests[0].path == "/llm/stream"
    assert server.requests[0].headers["x-team"] == "search"


def test_registering_twice_or_nonsense_is_refused(registered: None) -> None:
    with pytest.raises(ConfigurationError, match="already registered"):
        register_provider("shout", ShoutProvider)
    register_provider("shout", ShoutProvider, replace=True)
    with pytest.raises(ConfigurationError, match="callable"):
        register_provider("broken", "not a class")  # type: ignore[arg-type]
    register_provider("liar", lambda **kwargs: object())  # type: ignore[arg-type, return-value]
    try:
        with pytest.raises(ConfigurationError, match="not a Provider"):
            FlowAI.agent("A", "B", provider="liar")
    finally:
        unregister_provider("liar")
