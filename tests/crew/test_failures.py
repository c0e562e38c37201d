"""A task that fails ends the crew: sequential crews stop, parallel crews cancel
the other tasks; the stream ends with an error event carrying what each task
produced, and kickoff() returns a failed CrewResult instead of raising."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from laraflowai import Agent, AuthenticationError, FlowAI, ProviderError
from tests.crew.helpers import collect, kinds, route, text_by_task, user_prompt
from tests.servers import (
    Hang,
    ProviderServer,
    Sleep,
    error_reply,
    in_stream_error,
    openai_chunks,
    stream_reply,
)

MakeAgent = Callable[..., Agent]


def first_chunk_then_hang(text: str) -> Any:
    return stream_reply(openai_chunks([text])[:1], then=[Hang()])


def exchange_of(server: ProviderServer, prompt: str) -> int:
    return next(r.index for r in server.requests if user_prompt(r).startswith(prompt))


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_a_failed_task_stops_a_sequential_crew_with_what_each_task_produced(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    FlowAI.configure(buffer_size=1, max_retries=0)
    broken = openai_chunks(["Half ", "a review"], finish_reason=None, include_done=False)
    server.enqueue(
        stream_reply(openai_chunks(["An ", "article."])),
        stream_reply([*broken, in_stream_error("The server had an error")]),
    )
    crew = FlowAI.crew(
        agents=[make_agent("Writer", "Write"), make_agent("Editor", "Edit")],
        tasks=["Write", "Review", "Publish"],
    )

    events = await collect(crew, sync)

    assert kinds(events) == [
        ("chunk", 0, "Writer"),
        ("chunk", 0, "Writer"),
        ("task_complete", 0, "Writer"),
        ("chunk", 1, "Editor"),
        ("chunk", 1, "Editor"),
        ("task_error", 1, "Editor"),
        ("crew_error", 1, "Editor"),
    ]
    failure, final = events[-2], events[-1]
    assert isinstance(failure.error, ProviderError)
    assert failure.error.partial_content == "Half a review" == text_by_task(events)[1]
    result = final.result
    assert result is not None and not result.success
    assert result.error is failure.error is final.error
    assert [task.status for task in result.tasks] == ["completed", "failed", "not_run"]
    assert [task.content for task in result.tasks] == ["An article.", "Half a review", ""]
    assert result.failed_task is result.tasks[1]
    assert server.request_count == 2  # the third task was never sent


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_kickoff_returns_a_failed_result_instead_of_raising(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    server.enqueue(error_reply(401, message="Incorrect API key provided"))
    crew = FlowAI.crew(agents=[make_agent()], tasks=["Write", "Review"])

    result = crew.kickoff() if sync else await crew.akickoff()

    assert not result.success
    assert isinstance(result.error, AuthenticationError)
    assert result.failed_task is not None and result.failed_task.index == 0
    assert [task.status for task in result.tasks] == ["failed", "not_run"]
    assert result.responses == [] and result.output == ""


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_a_failed_task_cancels_the_other_parallel_tasks_and_closes_their_connections(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    FlowAI.configure(buffer_size=1, max_retries=0)
    failing = openai_chunks(["partial "], finish_reason=None, include_done=False)
    server.set_handler(
        route(
            {
                "One": first_chunk_then_hang("one "),
                "Two": first_chunk_then_hang("two "),
                "Boom": stream_reply(
                    failing, then=[Sleep(0.2), *stream_reply([in_stream_error("oops")]).steps]
                ),
            }
        )
    )
    crew = FlowAI.crew(
        agents=[make_agent()], tasks=["One", "Two", "Boom"], execution_mode="parallel"
    )

    events = await collect(crew, sync)

    assert [e.kind for e in events[-2:]] == ["task_error", "crew_error"]
    assert events[-2].task_index == 2 and events[-1].task_index == 2
    result = events[-1].result
    assert result is not None and not result.success
    assert [task.status for task in result.tasks] == ["cancelled", "cancelled", "failed"]
    assert [task.content for task in result.tasks] == ["one ", "two ", "partial "]
    assert isinstance(result.error, ProviderError)
    for prompt in ("One", "Two"):
        assert server.wait_for_disconnect(exchange_of(server, prompt), timeout=2)


@pytest.mark.parametrize("mode", ["sequential", "parallel"])
def test_an_exception_from_a_callback_is_raised_not_swallowed(
    server: ProviderServer, make_agent: MakeAgent, mode: str
) -> None:
    def explode(chunk: str, full: str) -> None:
        raise ValueError("callback bug")

    server.set_handler(
        route(
            {
                "Explode": stream_reply(openai_chunks(["boom"])),
                "Wait": first_chunk_then_hang("waiting"),
            }
        )
    )
    tasks = [FlowAI.task("Wait"), FlowAI.task("Explode").stream(explode)]
    if mode == "sequential":
        tasks.reverse()
    crew = FlowAI.crew(agents=[make_agent()], tasks=tasks, execution_mode=mode)  # type: ignore[arg-type]

    with pytest.raises(ValueError, match="callback bug"):
        list(crew.stream())

    if mode == "parallel":
        assert server.wait_for_requests(2, timeout=2)
        assert server.wait_for_disconnect(exchange_of(server, "Wait"), timeout=2)
    else:
        assert server.request_count == 1
