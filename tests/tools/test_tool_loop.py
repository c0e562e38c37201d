"""Tool-using agents against each provider's local server: the model asks for
two tools, both run (at once), their results go back in the provider's own
format, and the second step's text streams, all in one StreamingResponse."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from laraflowai import (
    ConfigurationError,
    FlowAI,
    StreamCancelledError,
    ToolCall,
    ToolError,
    ToolResult,
    Usage,
)
from laraflowai.tools import tool
from tests.servers import ProviderServer
from tests.tools.wire import (
    ARGS,
    PROVIDERS,
    Script,
    calls_sent,
    provider_env,  # noqa: F401 (a fixture)
    results_sent,
    tool_names_offered,
)

pytestmark = pytest.mark.usefixtures("provider_env", "async_clients")


def make_tools(barrier_parties: int = 2) -> tuple[list[Any], list[str]]:
    """`add` and `weather`: each waits until both have started, so the test
    passes only if the two calls run at the same time (threads in both modes:
    the async stream runs sync tools in threads)."""
    ran: list[str] = []
    sync_barrier = threading.Barrier(barrier_parties, timeout=10)

    def add(a: int, b: int) -> int:
        """Add two whole numbers."""
        ran.append("add")
        sync_barrier.wait()
        return a + b

    def weather(city: str) -> dict[str, str]:
        """The weather in a city."""
        ran.append("weather")
        sync_barrier.wait()
        return {"city": city, "sky": "clear"}

    return [add, weather], ran


async def read(agent: Any, sync: bool, task: str = "What is 2+3, and the weather in Kyiv?") -> Any:
    if sync:
        response = agent.stream(task)
        chunks = list(response.set_buffer_size(1))
    else:
        response = agent.astream(task)
        chunks = [chunk async for chunk in response.set_buffer_size(1)]
    return response, chunks


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_two_tools_run_and_the_answer_streams(
    server: ProviderServer, provider: str, sync: bool
) -> None:
    server.set_handler(Script(provider, ["2+3 is ", "5; Київ is clear."]))
    tools, ran = make_tools()
    agent = FlowAI.agent("Assistant", "Help", provider, tools=tools, cache=False)
    response, chunks = await read(agent, sync)

    assert "".join(chunks).endswith("2+3 is 5; Київ is clear.")
    assert sorted(ran) == ["add", "weather"]
    assert [(c.name, c.arguments) for c in response.tool_calls] == [
        ("add", ARGS[0]),
        ("weather", ARGS[1]),
    ]
    assert [(r.name, r.output, r.is_error) for r in response.tool_results] == [
        ("add", "5", False),
        ("weather", '{"city":"Київ","sky":"clear"}', False),
    ]
    assert response.finish_reason == "stop"
    assert response.is_complete()
    stats = response.get_stats()
    assert stats["tool_results_count"] == 2
    if provider in ("openai", "anthropic", "ollama"):
        assert response.usage.input_tokens == 30 and response.usage.output_tokens == 12

    first, second = (request.json() for request in server.requests)
    assert tool_names_offered(provider, first) == ["add", "weather"]
    assert calls_sent(provider, second) == [("add", ARGS[0]), ("weather", ARGS[1])]
    sent = results_sent(provider, second)
    assert len(sent) == 2
    assert "5" in sent[0][1] and "clear" in sent[1][1]
    if provider in ("openai", "anthropic"):
        assert [key for key, _ in sent] == ["call_a", "call_w"]


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_events_show_each_call_and_result_in_order(
    server: ProviderServer, sync: bool
) -> None:
    server.set_handler(Script("openai", ["Done."]))
    tools, _ = make_tools()
    agent = FlowAI.agent("Assistant", "Help", "openai", tools=tools, cache=False)
    if sync:
        kinds = [type(e).__name__ for e in agent.stream("Go").events()]
    else:
        kinds = [type(e).__name__ async for e in agent.astream("Go").events()]
    calls_end = max(i for i, k in enumerate(kinds) if k == "ToolCall")
    results = [i for i, k in enumerate(kinds) if k == "ToolResult"]
    assert len(results) == 2 and min(results) > calls_end
    assert kinds.index("TextDelta", max(results)) > max(results)
    assert kinds[-1] == "Finished" and kinds.count("Finished") == 1
    usages = [i for i, k in enumerate(kinds) if k == "Usage"]
    assert len(usages) == 2


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_a_failing_tool_becomes_an_error_result_the_model_reads(
    server: ProviderServer, sync: bool
) -> None:
    server.set_handler(Script("openai", ["Sorry, no weather today."]))

    def add(a: int, b: int) -> int:
        return a + b

    def weather(city: str) -> str:
        raise ConnectionError(f"weather service down for {city}")

    agent = FlowAI.agent("Assistant", "Help", "openai", tools=[add, weather], cache=False)
    response, chunks = await read(agent, sync)
    assert "".join(chunks) == "Sorry, no weather today."
    error = response.tool_results[1]
    assert error.is_error
    assert error.output == "weather failed: ConnectionError: weather service down for Київ"
    sent = results_sent("openai", server.requests[1].json())
    assert sent[1] == ("call_w", error.output)


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_on_tool_error_raise_ends_the_stream(server: ProviderServer, sync: bool) -> None:
    server.set_handler(Script("openai", ["never sent"]))

    def add(a: int, b: int) -> int:
        raise ValueError("no maths today")

    def weather(city: str) -> str:
        return "clear"

    agent = FlowAI.agent(
        "A", "B", "openai", tools=[add, weather], on_tool_error="raise", cache=False
    )
    with pytest.raises(ToolError) as caught:
        await read(agent, sync)
    assert caught.value.tool == "add"
    assert "no maths today" in str(caught.value)
    assert len(server.requests) == 1


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_unknown_tools_and_bad_arguments_are_told_to_the_model(
    server: ProviderServer, sync: bool
) -> None:
    server.set_handler(Script("openai", ["ok"]))

    def add(a: int, b: int) -> int:
        return a + b

    def weather(city: int) -> str:  # the model sends a string: it does not fit
        return "clear"

    agent = FlowAI.agent("A", "B", "openai", tools=[add, weather], cache=False)
    response, _ = await read(agent, sync)
    assert response.tool_results[1].is_error
    assert response.tool_results[1].output.startswith("invalid arguments for weather: city:")

    agent = FlowAI.agent("A", "B", "openai", tools=[add], cache=False)
    response, _ = await read(agent, sync)
    assert response.tool_results[1] == ToolResult(
        "call_w", "weather", "there is no tool named 'weather'; the tools are: add", True
    )


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_max_steps_leaves_the_calls_unrun_and_says_so(
    server: ProviderServer, sync: bool
) -> None:
    server.set_handler(Script("openai", ["never"]))
    ran: list[str] = []

    def add(a: int, b: int) -> int:
        ran.append("add")
        return a + b

    agent = FlowAI.agent("A", "B", "openai", tools=[add], max_steps=1, cache=False)
    response, chunks = await read(agent, sync)
    assert chunks == [] and ran == []
    assert response.finish_reason == "tool_calls"
    assert len(response.tool_calls) == 2 and response.tool_results == []
    assert len(server.requests) == 1
    assert response.usage == Usage(10, 5, 15)


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_approval_by_callback(server: ProviderServer, sync: bool) -> None:
    server.set_handler(Script("openai", ["ok"]))
    asked: list[str] = []

    @tool(requires_approval=True)
    def add(a: int, b: int) -> int:
        return a + b

    def weather(city: str) -> str:
        return "clear"

    def approve(call: ToolCall) -> bool:
        asked.append(call.name)
        return False

    agent = FlowAI.agent("A", "B", "openai", tools=[add, weather], approve=approve, cache=False)
    response, _ = await read(agent, sync)
    assert asked == ["add"]
    assert response.tool_results[0].is_error
    assert "did not approve" in response.tool_results[0].output
    assert response.tool_results[1].output == "clear"

    async def approve_async(call: ToolCall) -> bool:
        return True

    agent = FlowAI.agent(
        "A", "B", "openai", tools=[add, weather], approve=approve_async, cache=False
    )
    response, _ = await read(agent, sync)
    assert response.tool_results[0].output == "5"


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_without_a_callback_the_run_pauses_until_resumed(
    server: ProviderServer, sync: bool
) -> None:
    server.set_handler(Script("anthropic", ["2+3 is 5."]))
    ran: list[str] = []

    @tool(requires_approval=True)
    def add(a: int, b: int) -> int:
        ran.append("add")
        return a + b

    def weather(city: str) -> str:
        ran.append("weather")
        return "clear"

    agent = FlowAI.agent("A", "B", "anthropic", tools=[add, weather], cache=False)
    response, chunks = await read(agent, sync)
    assert "".join(chunks) == "Let me look."
    assert response.finish_reason == "approval"
    assert [c.name for c in response.pending_approvals] == ["add", "weather"]
    assert ran == [] and len(server.requests) == 1

    rest = response.resume({"call_a": True})
    chunks = list(rest) if sync else [c async for c in rest]
    assert "".join(chunks) == "2+3 is 5."
    assert sorted(ran) == ["add", "weather"]
    assert [r.output for r in rest.tool_results] == ["5", "clear"]
    assert rest.finish_reason == "stop"
    second = server.requests[1].json()
    assistant = [m for m in second["messages"] if m["role"] == "assistant"]
    assert assistant[0]["content"][0] == {"type": "text", "text": "Let me look."}
    assert calls_sent("anthropic", second) == [("add", ARGS[0]), ("weather", ARGS[1])]
    with pytest.raises(ConfigurationError, match="not waiting for approval"):
        rest.resume()


def test_resume_refuses_unknown_ids(server: ProviderServer) -> None:
    server.set_handler(Script("openai", ["ok"]))

    @tool(requires_approval=True)
    def add(a: int, b: int) -> int:
        return a + b

    response = FlowAI.agent("A", "B", "openai", tools=[add], cache=False).stream("Go")
    assert response.get_content() == ""
    with pytest.raises(ConfigurationError, match="no pending call has the id 'nope'"):
        response.resume({"nope": True})
    with pytest.raises(ConfigurationError, match="approve must be True, False or a dict"):
        response.resume({"call_a": "yes"})  # type: ignore[dict-item]
    denied = response.resume(False)
    assert denied.get_content() == "ok"
    assert all(r.is_error for r in denied.tool_results)


def test_cancel_while_a_tool_runs_ends_the_stream(server: ProviderServer) -> None:
    server.set_handler(Script("openai", ["never"]))
    entered, release = threading.Event(), threading.Event()

    def add(a: int, b: int) -> int:
        entered.set()
        release.wait(10)
        return a + b

    def weather(city: str) -> str:
        return "clear"

    agent = FlowAI.agent("A", "B", "openai", tools=[add, weather], cache=False)
    response = agent.stream("Go")
    threading.Thread(target=lambda: (entered.wait(10), response.cancel()), daemon=True).start()
    with pytest.raises(StreamCancelledError):
        list(response)
    release.set()
    assert len(server.requests) == 1


async def test_async_cancel_while_a_tool_runs_cancels_the_tool(server: ProviderServer) -> None:
    server.set_handler(Script("openai", ["never"]))
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def add(a: int, b: int) -> int:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return a + b

    async def weather(city: str) -> str:
        return "clear"

    agent = FlowAI.agent("A", "B", "openai", tools=[add, weather], cache=False)
    response = agent.astream("Go")

    async def consume() -> None:
        async for _ in response:
            pass

    task = asyncio.ensure_future(consume())
    await asyncio.wait_for(started.wait(), 10)
    response.cancel()
    with pytest.raises(StreamCancelledError):
        await task
    await asyncio.wait_for(cancelled.wait(), 5)
    assert len(server.requests) == 1


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_a_crew_agent_uses_its_tools(server: ProviderServer, sync: bool) -> None:
    server.set_handler(Script("openai", ["The sum is 5."]))
    tools, ran = make_tools()
    agent = FlowAI.agent("Calculator", "Add numbers", "openai", tools=tools, cache=False)
    crew = FlowAI.crew([agent], ["Add 2 and 3"])
    events = list(crew.stream()) if sync else [e async for e in crew.astream()]
    text = "".join(e.chunk or "" for e in events if e.kind == "chunk")
    assert text == "The sum is 5."
    assert sorted(ran) == ["add", "weather"]


def test_with_the_cache_each_step_is_stored_and_the_tools_run_again(
    server: ProviderServer,
) -> None:
    server.set_handler(Script("openai", ["The sum is 5."]))
    ran: list[str] = []

    def add(a: int, b: int) -> int:
        ran.append("add")
        return a + b

    def weather(city: str) -> str:
        ran.append("weather")
        return "clear"

    agent = FlowAI.agent("A", "B", "openai", tools=[add, weather])
    first = agent.stream("Go")
    assert first.get_content() == "The sum is 5."
    assert not first.get_stats()["cached"]
    again = agent.stream("Go")
    assert again.get_content() == "The sum is 5."
    assert again.get_stats()["cached"]
    assert len(server.requests) == 2  # both steps replayed the second time
    assert sorted(ran) == ["add", "add", "weather", "weather"]


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_three_steps_each_with_its_own_text_and_calls(
    server: ProviderServer, sync: bool
) -> None:
    from tests.tools.wire import answer_reply, tool_reply

    def handler(request: Any) -> Any:
        rounds = len(results_sent("anthropic", request.json())) // 2
        return tool_reply("anthropic") if rounds < 2 else answer_reply("anthropic", ["Done."])

    server.set_handler(handler)

    def add(a: int, b: int) -> int:
        return a + b

    def weather(city: str) -> str:
        return "clear"

    agent = FlowAI.agent("A", "B", "anthropic", tools=[add, weather], max_steps=3, cache=False)
    response, chunks = await read(agent, sync)
    assert "".join(chunks) == "Let me look.Let me look.Done."
    assert len(response.tool_results) == 4 and response.finish_reason == "stop"
    third = server.requests[2].json()["messages"]
    texts = [m["content"][0] for m in third if m["role"] == "assistant"]
    assert texts == [{"type": "text", "text": "Let me look."}] * 2
    assert response.usage.input_tokens == 10 + 10 + 20


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_sealed_reasoning_goes_back_with_the_calls(
    server: ProviderServer, sync: bool
) -> None:
    """Anthropic checks that a thinking block comes back, signed, before the
    tool_use blocks it led to; Gemini 3 that the first call keeps its
    thoughtSignature."""
    from tests.servers import ANTHROPIC_SIGNATURE, anthropic_events, gemini_dumps, stream_reply
    from tests.tools.wire import CALLS, answer_reply

    def anthropic(request: Any) -> Any:
        if results_sent("anthropic", request.json()):
            return answer_reply("anthropic", ["Done."])
        events = anthropic_events(thinking=["Хм, ", "додати."], tool_calls=CALLS[:1])
        return stream_reply(events)

    def gemini(request: Any) -> Any:
        if results_sent("gemini", request.json()):
            return answer_reply("gemini", ["Done."])
        part = {"functionCall": {"name": "add", "args": ARGS[0]}, "thoughtSignature": "c2lnbg=="}
        chunk = {
            "candidates": [{"content": {"parts": [part], "role": "model"}, "finishReason": "STOP"}]
        }
        return stream_reply([b"data: " + gemini_dumps(chunk) + b"\r\n\r\n"])

    def add(a: int, b: int) -> int:
        return a + b

    server.set_handler(anthropic)
    agent = FlowAI.agent("A", "B", "anthropic", tools=[add], thinking_budget=1024, cache=False)
    await read(agent, sync)
    assistant = server.requests[1].json()["messages"][1]
    assert assistant["content"][0] == {
        "type": "thinking",
        "thinking": "Хм, додати.",
        "signature": ANTHROPIC_SIGNATURE,
    }
    assert assistant["content"][1]["type"] == "tool_use"

    server.reset()
    server.set_handler(gemini)
    agent = FlowAI.agent("A", "B", "gemini", "gemini-3-pro-preview", tools=[add], cache=False)
    response, chunks = await read(agent, sync)
    assert "".join(chunks) == "Done."
    model_turn = server.requests[1].json()["contents"][1]
    assert model_turn["parts"][0]["thoughtSignature"] == "c2lnbg=="
