"""Sequential crews stream every task in turn, each given the previous task's
output, against the real local provider server: the document's "Crew Streaming"
example, in Python, sync and async."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from laraflowai import (
    Agent,
    CrewEvent,
    FlowAI,
    ReasoningDelta,
    Task,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from tests.crew.helpers import collect, kinds, text_by_task, usage, user_prompt
from tests.servers import ProviderServer, openai_chunks, sse_data, stream_reply

MakeAgent = Callable[..., Agent]

ARTICLE = ["Laravel ", "is a ", "PHP web ", "framework ", "for ", "artisans."]
REVIEW = ["Clear, ", "but add ", "an example."]


def writer_and_editor(make_agent: MakeAgent) -> tuple[Agent, Agent]:
    return make_agent("Writer", "Write content"), make_agent("Editor", "Review content")


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_document_crew_example_streams_each_task_then_the_crew_result(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    server.enqueue(
        stream_reply(openai_chunks(ARTICLE, usage=usage(20, 6)), delay=0.005),
        stream_reply(openai_chunks(REVIEW, usage=usage(40, 3)), delay=0.005),
    )
    FlowAI.configure(buffer_size=1)
    writer, editor = writer_and_editor(make_agent)
    crew = (
        FlowAI.crew()
        .add_agent(writer)
        .add_agent(editor)
        .add_tasks([FlowAI.task("Write an article"), FlowAI.task("Review the article")])
    )

    printed: list[str] = []
    events: list[CrewEvent] = []
    stream: Any = crew.stream() if sync else crew.astream()

    def document_loop_body(result: CrewEvent) -> None:
        events.append(result)
        if result["is_streaming"] and not result["is_complete"]:
            printed.append("Chunk: " + result["chunk"])
        elif result["is_complete"]:
            printed.append("Task completed: " + result["response"].get_content())

    if sync:
        for result in stream:
            document_loop_body(result)
    else:
        async for result in stream:
            document_loop_body(result)

    article, review = "".join(ARTICLE), "".join(REVIEW)
    assert printed == [
        *(f"Chunk: {chunk}" for chunk in ARTICLE),
        f"Task completed: {article}",
        *(f"Chunk: {chunk}" for chunk in REVIEW),
        f"Task completed: {review}",
    ]
    assert kinds(events) == [
        *[("chunk", 0, "Writer")] * len(ARTICLE),
        ("task_complete", 0, "Writer"),
        *[("chunk", 1, "Editor")] * len(REVIEW),
        ("task_complete", 1, "Editor"),
        ("crew_complete", 1, "Editor"),
    ]
    assert all(event.agent is (writer if event.task_index == 0 else editor) for event in events)
    assert text_by_task(events) == {0: article, 1: review}

    result = events[-1].result
    assert result is not None and result.success and result.error is None
    assert [r.content for r in result.responses] == [article, review]
    assert result.output == result.get_content() == review

    # The editor was asked, and its request carried the writer's article.
    first, second = (request.json()["messages"] for request in server.requests)
    assert "Writer" in first[0]["content"] and first[1]["content"] == "Write an article"
    assert "Editor" in second[0]["content"]
    assert second[1]["content"] == f"Review the article\n\nContext:\n{article}"


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_each_tasks_chunks_add_up_to_exactly_its_response(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    deltas = [f"w{i} " for i in range(25)]
    server.enqueue(
        stream_reply(openai_chunks(deltas), split=13),
        stream_reply(openai_chunks(deltas[::-1]), split=11),
    )
    crew = FlowAI.crew(agents=writer_and_editor(make_agent), tasks=["Write", "Edit"])

    events = await collect(crew, sync)

    completed = {e.task_index: e.response for e in events if e.kind == "task_complete"}
    texts = text_by_task(events)
    assert texts == {i: response.content for i, response in completed.items() if response}
    assert texts == {0: "".join(deltas), 1: "".join(deltas[::-1])}
    # The default buffer (10 characters) coalesced the small deltas.
    chunks = [e.chunk for e in events if e.kind == "chunk" and e.task_index == 0]
    assert len(chunks) < len(deltas) and all(len(c or "") >= 10 for c in chunks[:-1])


def test_context_is_the_previous_output_and_the_users_tasks_stay_unchanged(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    outputs = ["Outline.", "Draft.", "Final."]
    replies = [stream_reply(openai_chunks([text])) for text in outputs]
    server.enqueue(*replies, *replies)
    tasks = [
        FlowAI.task("Plan"),
        FlowAI.task("Draft"),
        FlowAI.task("Polish", context="Style guide: short sentences."),
    ]
    crew = FlowAI.crew(agents=[make_agent()], tasks=tasks)
    FlowAI.configure(cache_enabled=False)  # else the second run replays from the stream cache

    first, second = crew.kickoff(), crew.kickoff()

    assert first.success and second.success
    prompts = [user_prompt(request) for request in server.requests]
    expected = [
        "Plan",
        "Draft\n\nContext:\nOutline.",
        "Polish\n\nContext:\nStyle guide: short sentences.\n\nDraft.",
    ]
    assert prompts == expected * 2  # running the crew again sends the same prompts
    assert [task.context for task in tasks] == [None, None, "Style guide: short sentences."]


def test_tasks_run_on_their_own_agent_else_the_ith_agent_wrapping_around(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    server.set_handler(lambda request: stream_reply(openai_chunks(["ok"])))
    first, second = make_agent("First", "One"), make_agent("Second", "Two")
    tasks = [
        FlowAI.task("t0"),
        FlowAI.task("t1", agent=first),
        FlowAI.task("t2"),
        FlowAI.task("t3"),
    ]
    crew = FlowAI.crew().add_agents([first, second]).add_tasks(tasks)

    events = list(crew.stream())

    assert [crew.agent_for(i).role for i in range(4)] == ["First", "First", "First", "Second"]
    completed = [(e.task_index, e.agent_role) for e in events if e.kind == "task_complete"]
    assert completed == [(0, "First"), (1, "First"), (2, "First"), (3, "Second")]
    systems = [request.json()["messages"][0]["content"] for request in server.requests]
    assert ["Second" in system for system in systems] == [False, False, False, True]


def test_events_read_as_mappings_with_the_documents_keys(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    server.enqueue(stream_reply(openai_chunks(["Hello world, here I am."])))
    task = FlowAI.task("Greet")
    agent = make_agent("Greeter", "Greet")
    events = list(FlowAI.crew(agents=[agent], tasks=[task]).stream())

    chunk, complete, final = events
    for event in events:
        assert event["task"] is task and event["agent"] is agent
        assert event["task_index"] == 0 and event["agent_role"] == "Greeter"
    assert (chunk["chunk"], chunk["is_streaming"], chunk["is_complete"]) == (
        "Hello world, here I am.",
        True,
        False,
    )
    assert chunk["response"] is None
    assert complete["is_complete"] and not complete["is_streaming"]
    assert complete["response"].get_content() == "Hello world, here I am."
    assert final["kind"] == "crew_complete" and final["result"].success
    as_dict = dict(chunk)
    assert {
        "task_index",
        "task",
        "agent",
        "chunk",
        "response",
        "is_streaming",
        "is_complete",
    } <= set(as_dict)
    assert "chunk" in chunk and chunk.get("nope", 1) == 1
    with pytest.raises(KeyError):
        chunk["nope"]


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_task_stream_callbacks_are_honoured_inside_a_crew(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    server.enqueue(stream_reply(openai_chunks(ARTICLE)), stream_reply(openai_chunks(REVIEW)))
    FlowAI.configure(buffer_size=1)
    seen: list[tuple[str, str, str]] = []
    tasks = [
        FlowAI.task("Write").stream(lambda chunk, full: seen.append(("write", chunk, full))),
        FlowAI.task("Review").stream(lambda chunk, full: seen.append(("review", chunk, full))),
    ]
    crew = FlowAI.crew(agents=writer_and_editor(make_agent), tasks=tasks)

    events = await collect(crew, sync)

    chunks = [(("write", "review")[e.task_index], e.chunk) for e in events if e.kind == "chunk"]
    assert [(name, chunk) for name, chunk, _ in seen] == chunks
    assert seen[len(ARTICLE) - 1][2] == "".join(ARTICLE)
    assert seen[-1][2] == "".join(REVIEW)
    assert all(len(task.callbacks) == 1 for task in tasks)


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_reasoning_and_tool_calls_pass_through_attributed_to_their_task(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    reasoning = openai_chunks(["Answer."], reasoning=["Think ", "twice."], style="deepseek")

    def tool_chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return sse_data({"id": "c", "object": "chat.completion.chunk", "choices": [choice]})

    call = {"index": 0, "id": "call_1", "type": "function"}
    tool = [
        tool_chunk({"tool_calls": [{**call, "function": {"name": "lookup", "arguments": ""}}]}),
        tool_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"q": "x"}'}}]}),
        tool_chunk({}, "tool_calls"),
        b"data: [DONE]\n\n",
    ]
    server.enqueue(stream_reply(reasoning), stream_reply(tool))
    thinker = make_agent("Thinker", "Think", "deepseek")
    caller = make_agent("Caller", "Call tools")
    crew = FlowAI.crew(agents=[thinker, caller], tasks=["Reason", "Look it up"])

    events = await collect(crew, sync)

    thoughts = [e for e in events if e.kind == "reasoning"]
    assert [(e.task_index, e.agent_role) for e in thoughts] == [(0, "Thinker")] * 2
    assert [e.event for e in thoughts] == [ReasoningDelta("Think "), ReasoningDelta("twice.")]
    assert all(not e.is_streaming and e.chunk is None for e in thoughts)
    calls = [e for e in events if e.kind == "tool_call"]
    assert {(e.task_index, e.agent_role) for e in calls} == {(1, "Caller")}
    assert isinstance(calls[0].event, ToolCallDelta)
    assert ToolCall(0, "call_1", "lookup", {"q": "x"}) in [e.event for e in calls]
    assert text_by_task(events) == {0: "Answer."}
    result = events[-1].result
    assert result is not None and result.success
    assert result.tasks[0].response is not None
    assert result.tasks[0].response.reasoning == "Think twice."
    assert result.tasks[1].response is not None
    assert result.tasks[1].response.tool_calls == [ToolCall(0, "call_1", "lookup", {"q": "x"})]


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_kickoff_returns_every_tasks_response_usage_and_the_totals(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    server.enqueue(
        stream_reply(openai_chunks(ARTICLE, usage=usage(20, 6))),
        stream_reply(openai_chunks(REVIEW, usage=usage(40, 3))),
    )
    crew = FlowAI.crew(agents=writer_and_editor(make_agent), tasks=["Write", "Review"])

    result = crew.kickoff() if sync else await crew.akickoff()

    assert result.success and result.error is None and result.failed_task is None
    assert [task.status for task in result.tasks] == ["completed", "completed"]
    assert [task.content for task in result.tasks] == ["".join(ARTICLE), "".join(REVIEW)]
    assert [task.usage for task in result.tasks] == [Usage(20, 6, 26), Usage(40, 3, 43)]
    assert result.usage == Usage(60, 9, 69)
    assert [response.agent_role for response in result.responses] == ["Writer", "Editor"]
    assert result.execution_time >= sum(task.execution_time for task in result.tasks) > 0
    assert isinstance(result.tasks[0].task, Task) and result.tasks[1].agent.role == "Editor"
