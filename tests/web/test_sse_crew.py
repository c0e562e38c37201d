"""Crews over SSE: every event names its task and agent; stop and resume work
as for a single agent."""

from __future__ import annotations

import json

import httpx2
import pytest

from tests.servers import Hang, ProviderServer, openai_chunks, stream_reply

from .conftest import ServeApp
from .servers import read_sse, sse_stream

CREW = {
    "agents": [
        {"name": "writer", "role": "Writer", "goal": "Write content"},
        {"name": "editor", "role": "Editor", "goal": "Review content", "model": "gpt-4.1"},
    ],
    "tasks": ["Write a line", {"description": "Review it", "agent": "editor"}],
}
USAGE = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}


def test_a_crew_streams_every_task_with_its_index_and_agent(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    server.enqueue(
        stream_reply(openai_chunks(["Roses ", "are red."], usage=USAGE)),
        stream_reply(openai_chunks(["Fine ", "line."], usage=USAGE)),
    )
    app = serve_app()
    received = read_sse(client, f"{app.url}/api/stream-crew", params={"crew": json.dumps(CREW)})

    payloads = received.payloads
    stream_id = payloads[0]["stream_id"]
    assert payloads[0] == {
        "type": "start",
        "stream_id": stream_id,
        "crew": {"mode": "sequential", "agents": ["Writer", "Editor"], "tasks": 2},
    }
    assert payloads[1:] == [
        {"type": "chunk", "chunk": "Roses ", "task_index": 0, "agent": "Writer"},
        {"type": "chunk", "chunk": "are red.", "task_index": 0, "agent": "Writer"},
        {
            "type": "task_complete",
            "task_index": 0,
            "agent": "Writer",
            "finish_reason": "stop",
            "usage": {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7},
        },
        {"type": "chunk", "chunk": "Fine ", "task_index": 1, "agent": "Editor"},
        {"type": "chunk", "chunk": "line.", "task_index": 1, "agent": "Editor"},
        {
            "type": "task_complete",
            "task_index": 1,
            "agent": "Editor",
            "finish_reason": "stop",
            "usage": {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7},
        },
        {
            "type": "complete",
            "task_index": 1,
            "agent": "Editor",
            "usage": {"input_tokens": 10, "output_tokens": 4, "total_tokens": 14},
        },
    ]
    assert [e.id for e in received.events] == [f"{stream_id}-{n}" for n in range(len(payloads))]
    second = server.requests[1].json()
    assert second["model"] == "gpt-4.1"
    assert "Roses are red." in second["messages"][-1]["content"]  # sequential: context


def test_a_posted_crew_answers_its_stream_id_and_a_stop_closes_the_upstream(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    events = openai_chunks(["Thinking"], finish_reason=None, include_done=False)
    server.enqueue(stream_reply(events, then=[Hang()]))
    app = serve_app()
    created = client.post(f"{app.url}/api/stream-crew", content=json.dumps(CREW))
    assert created.status_code == 201
    stream_id = created.json()["stream_id"]
    url = f"{app.url}/api/stream-chat"
    with sse_stream(client, url, params={"stream_id": stream_id}) as stream:
        first = stream.read_events(2)
        assert first.payloads[1]["chunk"] == "Thinking"
        assert client.post(f"{url}/{stream_id}/stop").json()["status"] == "stopped"
        assert server.wait_for_disconnect(0, timeout=1.0)
        last = stream.read_to_end().payloads[-1]
    assert last == {"type": "complete", "stopped": True, "reason": "stop"}
    assert server.request_count == 1  # the second task never started


@pytest.mark.parametrize(
    ("crew", "param", "words"),
    [
        ("not json", "crew", "not valid JSON"),
        ({"agents": [], "tasks": ["x"]}, "agents", "1 to 10 agents"),
        (
            {
                "agents": [{"role": "A", "goal": "B", "base_url": "http://elsewhere"}],
                "tasks": ["x"],
            },
            "agents[0]",
            "unknown field(s) 'base_url'",
        ),
        (
            {"agents": [{"role": "A", "goal": "B"}], "tasks": [{"description": "x", "agent": "z"}]},
            "tasks[0].agent",
            "names no agent of this crew",
        ),
        ({"agents": [{"role": "A"}], "tasks": ["x"]}, "agents[0].goal", "is required"),
        ({"agents": [{"role": "A", "goal": "B"}], "tasks": ["x" * 41]}, "tasks[0]", "limit"),
        ({"agents": [{"role": "A", "goal": "B"}], "tasks": ["x"], "mode": "x"}, "crew", "mode"),
    ],
)
def test_a_bad_crew_is_refused_before_any_provider_call(
    server: ProviderServer,
    serve_app: ServeApp,
    client: httpx2.Client,
    crew: object,
    param: str,
    words: str,
) -> None:
    app = serve_app({"LARAFLOWAI_MAX_TASK_LENGTH": "40"})
    raw = crew if isinstance(crew, str) else json.dumps(crew)
    for response in (
        client.get(f"{app.url}/api/stream-crew", params={"crew": raw}),
        client.post(f"{app.url}/api/stream-crew", content=raw),
    ):
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["param"] == param
        assert words in error["message"]
    assert server.request_count == 0
