"""A crew that cannot run is refused with a clear error before any request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from laraflowai import Agent, ConfigurationError, Crew, FlowAI
from tests.servers import ProviderServer

MakeAgent = Callable[..., Agent]


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
def test_a_crew_without_agents_or_tasks_is_refused_before_anything_runs(
    server: ProviderServer, make_agent: MakeAgent, sync: bool
) -> None:
    run: Callable[[Crew], Any] = (
        (lambda crew: crew.stream()) if sync else (lambda crew: crew.astream())
    )
    with pytest.raises(ConfigurationError, match=r"no agents: add one with crew\.add_agent"):
        run(FlowAI.crew().add_task("Write"))
    with pytest.raises(ConfigurationError, match=r"no tasks: add them with crew\.add_task"):
        run(FlowAI.crew().add_agent(make_agent()))
    with pytest.raises(ConfigurationError, match="no agents"):
        FlowAI.crew().kickoff()
    assert server.request_count == 0


def test_a_task_naming_an_agent_outside_the_crew_is_refused_before_anything_runs(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    writer, stranger = make_agent("Writer", "Write"), make_agent("Stranger", "Lurk")
    crew = FlowAI.crew(agents=[writer]).add_tasks(
        [FlowAI.task("Write"), FlowAI.task("Review the article", agent=stranger)]
    )
    with pytest.raises(ConfigurationError) as caught:
        crew.stream()
    message = str(caught.value)
    assert "index 1 ('Review the article')" in message
    assert "'Stranger', which is not in this crew" in message
    assert "crew.add_agent" in message
    assert server.request_count == 0


def test_an_agent_whose_request_would_be_refused_stops_the_crew_before_anything_runs(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    picky = make_agent("Editor", "Edit", "anthropic", temperature=5)
    crew = FlowAI.crew(agents=[make_agent(), picky], tasks=["Write", "Review"])
    with pytest.raises(ConfigurationError, match="temperature must be a number from 0 to 1"):
        crew.kickoff()
    assert server.request_count == 0


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (lambda: FlowAI.crew(execution_mode="sideways"), "unknown execution_mode 'sideways'"),
        (lambda: FlowAI.crew(max_parallel_tasks=0), "at least 1, or None"),
        (lambda: FlowAI.crew(max_parallel_tasks=True), "at least 1, or None"),
        (lambda: FlowAI.crew().add_agent("Writer"), "add_agent takes an Agent"),
        (lambda: FlowAI.crew().add_tasks("Write an article"), "use add_task for one"),
        (lambda: FlowAI.crew().add_task(42), "add_task takes a Task"),
        (lambda: FlowAI.crew().add_task("  "), "a task needs a description"),
    ],
    ids=["mode", "limit", "bool-limit", "agent", "tasks-string", "task-type", "empty-task"],
)
def test_bad_crew_arguments_are_refused_with_a_clear_message(build: Any, words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        build()


def test_tasks_given_as_strings_become_tasks_and_the_builder_is_fluent(
    make_agent: MakeAgent,
) -> None:
    agent = make_agent()
    crew = Crew()
    assert crew.add_agent(agent) is crew and crew.add_agents([agent]) is crew
    assert crew.add_task("One") is crew and crew.add_tasks(["Two", FlowAI.task("Three")]) is crew
    assert [task.description for task in crew.tasks] == ["One", "Two", "Three"]
    assert repr(crew) == "Crew(agents=2, tasks=3, execution_mode='sequential')"
