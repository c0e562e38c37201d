"""An answer that did not end for good is never replayed from the stream cache:
a paused turn (Anthropic `pause_turn`: asking again continues it), a cut one
(`length`), or one ending with a word laraflowai does not know. The second
identical request reaches the provider again.

https://github.com/laraflowai/laraflowai/issues/16
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from laraflowai import FlowAI
from laraflowai._config import reset_settings
from tests.conftest import API_KEY
from tests.servers import ProviderServer, anthropic_events, openai_chunks, stream_reply

SEARCH = ("srvtoolu_01", "web_search", ['{"query": "weather Kyiv"}'], [])


@pytest.fixture
def anthropic_env(server: ProviderServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"{server.url}/anthropic")
    reset_settings()


async def ask(provider: str, sync: bool, **options: Any) -> Any:
    agent = FlowAI.agent("Assistant", "Help", provider, **options)
    if sync:
        response: Any = agent.stream("Weather in Kyiv?")
        chunks = list(response.set_buffer_size(1))
    else:
        response = agent.astream("Weather in Kyiv?")
        chunks = [chunk async for chunk in response.set_buffer_size(1)]
    return response, chunks


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_a_paused_turn_is_asked_again_never_replayed(
    server: ProviderServer, anthropic_env: None, sync: bool, async_clients: None
) -> None:
    paused = anthropic_events(["Searching…"], server_tools=[SEARCH], stop_reason="pause_turn")
    server.enqueue(stream_reply(paused), stream_reply(paused))
    first, _ = await ask("anthropic", sync)
    second, _ = await ask("anthropic", sync)
    assert server.request_count == 2
    assert second.get_stats()["cached"] is False
    assert first.finish_reason == second.finish_reason == "pause"


def _openai(finish: str) -> Callable[[], Any]:
    return lambda: stream_reply(openai_chunks(["Some text"], finish_reason=finish))


@pytest.mark.parametrize(
    ("finish", "stored"),
    [
        ("stop", True),
        ("tool_calls", True),
        ("content_filter", True),
        ("length", False),
        ("insufficient_quota_of_the_future", False),
    ],
)
def test_only_final_finish_reasons_are_stored(
    server: ProviderServer, make_agent: Callable[..., Any], finish: str, stored: bool
) -> None:
    server.enqueue(_openai(finish)(), _openai(finish)())
    make_agent().stream("Go").get_content()
    second = make_agent().stream("Go")
    second.get_content()
    assert second.get_stats()["cached"] is stored
    assert server.request_count == (1 if stored else 2)
