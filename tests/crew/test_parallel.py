"""Parallel crews run independent tasks at once and interleave their chunks as
they arrive, each event tagged with its task and agent."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from laraflowai import Agent, FlowAI
from tests.crew.helpers import collect, route, text_by_task, user_prompt
from tests.servers import ProviderServer, openai_chunks, stream_reply

MakeAgent = Callable[..., Agent]

SLOW = ["slow-1 ", "slow-2 ", "slow-3"]
MEDIUM = ["medium-1 ", "medium-2 ", "medium-3"]
FAST = ["fast-1 ", "fast-2 ", "fast-3"]


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_parallel_tasks_interleave_their_chunks_with_every_request_open_at_once(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    # Each reply sends its first chunk at once; the delays between chunks differ.
    server.set_handler(
        route(
            {
                "Slow": stream_reply(openai_chunks(SLOW), delay=0.1),
                "Medium": stream_reply(openai_chunks(MEDIUM), delay=0.06),
                "Fast": stream_reply(openai_chunks(FAST), delay=0.025),
            }
        )
    )
    FlowAI.configure(buffer_size=1)
    agents = [make_agent("Researcher", "Dig"), make_agent("Analyst", "Think")]
    crew = FlowAI.crew(
        agents=agents, tasks=["Slow task", "Medium task", "Fast task"], execution_mode="parallel"
    )

    events = await collect(crew, sync)

    assert server.max_concurrent_requests == 3
    assert sorted(user_prompt(r) for r in server.requests) == [
        "Fast task",
        "Medium task",
        "Slow task",
    ]  # independent tasks: no context passed between them
    order = [(e.kind, e.task_index) for e in events]
    first_completion = order.index(next(item for item in order if item[0] == "task_complete"))
    # Every task had streamed before any finished: their chunks interleave.
    assert {index for kind, index in order[:first_completion] if kind == "chunk"} == {0, 1, 2}
    # The slowest, started first, finished last; the crew ended right after it.
    completions = [index for kind, index in order if kind == "task_complete"]
    assert completions == [2, 1, 0]
    assert order[-1] == ("crew_complete", 2)
    assert text_by_task(events) == {0: "".join(SLOW), 1: "".join(MEDIUM), 2: "".join(FAST)}
    for event in events:
        assert event.agent is agents[event.task_index % 2]
        assert event.task is crew.tasks[event.task_index]
    result = events[-1].result
    assert result is not None and result.success
    assert [task.content for task in result.tasks] == [
        "".join(SLOW),
        "".join(MEDIUM),
        "".join(FAST),
    ]


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_max_parallel_tasks_bounds_the_requests_open_at_once(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    server.set_handler(lambda request: stream_reply(openai_chunks(["a", "b", "c"]), delay=0.02))
    crew = FlowAI.crew(
        agents=[make_agent()],
        tasks=[f"Task {i}" for i in range(5)],
        execution_mode="parallel",
        max_parallel_tasks=2,
    )

    events = await collect(crew, sync)

    assert server.request_count == 5
    assert server.max_concurrent_requests == 2
    assert sorted(e.task_index for e in events if e.kind == "task_complete") == [0, 1, 2, 3, 4]
    assert events[-1].kind == "crew_complete"
