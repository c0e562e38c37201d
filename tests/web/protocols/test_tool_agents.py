"""A real tool-using agent behind the protocol routes: its tools run on the
server, and each protocol's own client reads the whole loop (the `ai`
package's reader, the official `openai` SDK, our SSE route's opt-in events).
Issue 16: tools in the stream, through the web routes as events."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from laraflowai import Agent
from tests.conftest import require
from tests.servers import ProviderServer
from tests.tools.wire import Script

from .conftest import ServeProtocols
from .node import run_node

require("openai", "the official OpenAI SDK reads the OpenAI-compatible API")
import openai  # noqa: E402


def tools() -> list[Any]:
    def add(a: int, b: int) -> int:
        """Add two whole numbers."""
        return a + b

    def weather(city: str) -> dict[str, str]:
        """The weather in a city."""
        return {"city": city, "sky": "clear"}

    return [add, weather]


def test_the_ai_package_reads_a_tool_loop_run_by_the_server(
    server: ProviderServer,
    serve_protocols: ServeProtocols,
    make_web_agent: Callable[..., Agent],
    js_clients: Path,
) -> None:
    server.set_handler(Script("openai", ["2+3 is 5; ", "Київ is clear."]))
    agent = make_web_agent("Assistant", "Help", tools=tools(), cache=False)
    app = serve_protocols(agents={"helper": agent})
    body = {"model": "helper"}
    conversation = [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": "Go"}]}]
    read = run_node(
        js_clients,
        "read_ui_stream.mjs",
        f"{app.url}/api/chat",
        json.dumps(conversation),
        "{}",
        json.dumps(body),
    )
    assert read["errors"] == []
    parts = read["message"]["parts"]
    calls = [part for part in parts if part["type"] == "dynamic-tool"]
    assert [(c["toolName"], c["state"], c["input"], c["output"]) for c in calls] == [
        ("add", "output-available", {"a": 2, "b": 3}, "5"),
        ("weather", "output-available", {"city": "Київ"}, '{"city":"Київ","sky":"clear"}'),
    ]
    assert "".join(p["text"] for p in parts if p["type"] == "text") == "2+3 is 5; Київ is clear."
    assert read["chunks"][-1]["finishReason"] == "stop"
    assert len(server.requests) == 2


async def test_the_openai_sdk_gets_the_answer_without_calls_to_run_again(
    server: ProviderServer,
    serve_protocols: ServeProtocols,
    make_web_agent: Callable[..., Agent],
) -> None:
    server.set_handler(Script("openai", ["2+3 is 5."]))
    agent = make_web_agent("Assistant", "Help", tools=tools(), cache=False)
    app = serve_protocols(agents={"helper": agent})
    client = openai.AsyncOpenAI(base_url=f"{app.url}/v1", api_key="x", max_retries=0)
    async with client:
        stream = await client.chat.completions.create(
            model="helper",
            messages=[{"role": "user", "content": "Go"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        whole = await client.chat.completions.create(
            model="helper", messages=[{"role": "user", "content": "Go"}]
        )
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(d.content or "" for d in deltas) == "2+3 is 5."
    assert all(not d.tool_calls for d in deltas)
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finish == ["stop"]
    usage = chunks[-1].usage
    assert usage is not None and usage.prompt_tokens == 30 and usage.completion_tokens == 12
    assert whole.choices[0].message.content == "2+3 is 5."
    assert whole.choices[0].message.tool_calls is None
    assert whole.choices[0].finish_reason == "stop"
