"""A crew's chunk events are ordinary CrewEvents: equal to, and as frozen as,
the event the dataclass builds from the same fields, in every mode."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable

import pytest

from laraflowai import Agent, CrewEvent, FlowAI
from tests.crew.helpers import collect
from tests.servers import ProviderServer, openai_chunks, stream_reply

MakeAgent = Callable[..., Agent]


@pytest.mark.parametrize("mode", ["sequential", "parallel"])
@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_chunk_events_are_the_events_the_dataclass_builds(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, mode: str, async_clients: None
) -> None:
    server.enqueue(
        stream_reply(openai_chunks(["Hello ", "there."])),
        stream_reply(openai_chunks(["General ", "Kenobi."])),
    )
    FlowAI.configure(buffer_size=1)
    crew = FlowAI.crew(
        agents=[make_agent("Greeter", "Greet")], tasks=["Greet", "Answer"], execution_mode=mode
    )

    chunks = [event for event in await collect(crew, sync) if event.kind == "chunk"]

    assert len(chunks) == 4
    for event in chunks:
        assert event.chunk is not None
        built = CrewEvent(
            "chunk", event.task_index, event.task, event.agent, event.chunk, is_streaming=True
        )
        assert type(event) is CrewEvent
        assert event == built and hash(event) == hash(built) and repr(event) == repr(built)
        for field in dataclasses.fields(CrewEvent):
            assert getattr(event, field.name) is getattr(built, field.name)
        assert dict(event) == dict(built) and copy.copy(event) == built
        assert dataclasses.replace(event, chunk="x") == dataclasses.replace(built, chunk="x")
        with pytest.raises(dataclasses.FrozenInstanceError):
            event.chunk = "changed"  # type: ignore[misc]


def test_a_key_that_is_no_field_name_is_a_key_error(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    server.enqueue(stream_reply(openai_chunks(["Hi."])))
    crew = FlowAI.crew(agents=[make_agent("Greeter", "Greet")], tasks=["Greet"])

    chunk = next(iter(crew.stream()))

    assert chunk["chunk"] == "Hi." and chunk["agent_role"] == "Greeter"
    for key in ("nope", "__class__", "get", 0, None, ["chunk"], {}):
        with pytest.raises(KeyError):
            chunk[key]  # type: ignore[index]
