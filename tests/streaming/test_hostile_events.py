"""A provider that sends valid JSON of the wrong shape, or an event echoing the
API key, through the whole path: the caller gets a typed error carrying the
text that arrived before it, and no piece of the key.

https://github.com/laraflowai/laraflowai/issues/15 (items 1 and 2)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from laraflowai import Agent, FlowAI, ProviderError
from tests.conftest import API_KEY
from tests.servers import ProviderServer, openai_chunks, sse_data, stream_reply

MakeAgent = Callable[..., Agent]


async def read_until_error(agent: Agent, sync: bool) -> tuple[list[str], ProviderError]:
    chunks: list[str] = []
    response: Any = agent.stream("Go") if sync else agent.astream("Go")
    with pytest.raises(ProviderError) as caught:
        if sync:
            for chunk in response:
                chunks.append(chunk)
        else:
            async for chunk in response:
                chunks.append(chunk)
    return chunks, caught.value


@pytest.mark.parametrize(
    "bad",
    [
        {"choices": [{"index": 0, "delta": {"content": 5}}]},
        {"choices": [1]},
        {"choices": True},
        {"choices": [], "usage": 5},
        {"choices": [], "usage": {"prompt_tokens": "5"}},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": ["stop"]}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": [0]}]}}]},
        {"error": {"type": 5, "message": "x"}},
    ],
    ids=lambda bad: str(bad)[:60],
)
@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_wrongly_shaped_event_after_text_is_a_typed_error_keeping_the_text(
    server: ProviderServer, make_agent: MakeAgent, bad: Any, sync: bool, async_clients: None
) -> None:
    events = openai_chunks(["Some text"], finish_reason=None, include_done=False)
    server.enqueue(stream_reply([*events, sse_data(bad)]))
    FlowAI.configure(buffer_size=1000)  # the text is still in the chunker when the error comes
    chunks, error = await read_until_error(make_agent(), sync)
    assert "".join(chunks) == "Some text"
    assert error.partial_content == "Some text"
    assert "OpenAI" in str(error) and ("wrong shape" in str(error) or "type" in str(error))


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_a_malformed_event_echoing_the_key_leaks_no_piece_of_it(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    events = openai_chunks(["Some text"], finish_reason=None, include_done=False)
    # The key straddles the 200th character, where the old message was cut.
    junk = b"{" + b"x" * (200 - 1 - len(API_KEY) // 2) + API_KEY.encode() + b" not json"
    server.enqueue(stream_reply([*events, sse_data(junk)]))
    chunks, error = await read_until_error(make_agent(), sync)
    assert error.partial_content == "Some text"
    shown = f"{error} {error!r} {error.body!r}"
    pieces = {API_KEY[i : i + 6] for i in range(len(API_KEY) - 5)}
    assert not [piece for piece in pieces if piece in shown]
