"""Crews over the protocols, chosen by model name next to agents: the official
`openai` SDK (streaming and not), the `ai` package's useChat transport and
reader, and the `ag-ui-protocol` types each get the crew's last task as the
answer, the earlier tasks as reasoning, and (AG-UI, useChat) a step per task;
every task is sent the request. Issue 17."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from laraflowai import Agent, Crew
from tests.servers import ProviderServer, error_reply, openai_chunks, stream_reply

from .conftest import ServeProtocols
from .node import run_node
from .test_ag_ui import EVENT, check_well_formed, run_input
from .test_openai_api import client_for, close_clients

__all__ = ["close_clients"]

QUESTION = "Explain streaming in one line."
DRAFT = ["Draft: bytes ", "arrive in pieces."]
FINAL = ["Streaming sends ", "the answer as it is made."]
WRITER_USAGE = {"prompt_tokens": 20, "completion_tokens": 6, "total_tokens": 26}
EDITOR_USAGE = {"prompt_tokens": 30, "completion_tokens": 7, "total_tokens": 37}


@pytest.fixture
def crew(make_web_agent: Callable[..., Agent]) -> Crew:
    writer = make_web_agent("Writer", "Write drafts")
    editor = make_web_agent("Editor", "Polish drafts")
    return Crew([writer, editor], ["Write a draft answer", "Edit the draft into the final answer"])


@pytest.fixture
def replies(server: ProviderServer) -> Iterator[ProviderServer]:
    server.enqueue(stream_reply(openai_chunks(DRAFT, usage=WRITER_USAGE)))
    server.enqueue(stream_reply(openai_chunks(FINAL, usage=EDITOR_USAGE)))
    yield server


def check_every_task_got_the_request(server: ProviderServer) -> None:
    writer, editor = (server.requests[n].json()["messages"] for n in (0, 1))
    assert writer[0]["content"].startswith("You are Writer.")
    assert writer[1]["content"].startswith("Write a draft answer\n\nContext:\n")
    assert f"The user's request: {QUESTION}" in writer[1]["content"]
    assert editor[0]["content"].startswith("You are Editor.")
    assert f"The user's request: {QUESTION}" in editor[1]["content"]
    assert "".join(DRAFT) in editor[1]["content"]  # sequential: the draft goes on


def test_the_openai_sdk_streams_a_crews_answer_with_its_draft_as_reasoning(
    replies: ProviderServer, serve_protocols: ServeProtocols, crew: Crew
) -> None:
    app = serve_protocols(crews={"writer-crew": crew})
    client = client_for(app, sync=True)

    assert [m.id for m in client.models.list()] == ["laraflowai", "writer-crew"]
    stream = client.chat.completions.create(
        model="writer-crew",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
    )
    with stream:
        chunks = list(stream)

    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(d.content or "" for d in deltas) == "".join(FINAL)
    reasoning = "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas)
    assert reasoning == "".join(DRAFT)
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (50, 13)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    check_every_task_got_the_request(replies)


def test_the_openai_sdk_gets_a_crews_whole_answer_without_streaming(
    replies: ProviderServer, serve_protocols: ServeProtocols, crew: Crew
) -> None:
    app = serve_protocols(crews={"writer-crew": crew})
    client = client_for(app, sync=True)

    answer = client.chat.completions.create(
        model="writer-crew", messages=[{"role": "user", "content": QUESTION}]
    )

    assert answer.choices[0].message.content == "".join(FINAL)
    assert answer.usage is not None and answer.usage.total_tokens == 63
    check_every_task_got_the_request(replies)


def test_a_crew_whose_task_fails_is_an_openai_error_not_a_crash(
    server: ProviderServer, serve_protocols: ServeProtocols, crew: Crew
) -> None:
    server.enqueue(error_reply(429, message="slow down", retry_after=3))
    app = serve_protocols(crews={"writer-crew": crew})
    body = {"model": "writer-crew", "messages": [{"role": "user", "content": QUESTION}]}

    whole = httpx2.post(f"{app.url}/v1/chat/completions", json=body, timeout=10)
    server.enqueue(error_reply(429, message="slow down", retry_after=3))
    streamed = httpx2.post(
        f"{app.url}/v1/chat/completions", json={**body, "stream": True}, timeout=10
    )

    assert whole.status_code == 429
    assert whole.json()["error"]["code"] == "rate_limit"
    assert streamed.status_code == 200
    assert '"code":"rate_limit"' in streamed.text and "slow down" not in streamed.text


def test_the_ai_package_reads_a_crew_chosen_by_model_as_steps(
    replies: ProviderServer, serve_protocols: ServeProtocols, crew: Crew, js_clients: Path
) -> None:
    app = serve_protocols(crews={"writer-crew": crew})
    conversation = [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": QUESTION}]}]

    read = run_node(
        js_clients,
        "read_ui_stream.mjs",
        f"{app.url}/api/chat",
        json.dumps(conversation),
        "{}",
        json.dumps({"model": "writer-crew"}),
    )

    assert read["errors"] == []
    parts = read["message"]["parts"]
    assert [p["type"] for p in parts] == ["step-start", "reasoning", "step-start", "text"]
    assert parts[1]["text"] == "".join(DRAFT) and parts[3]["text"] == "".join(FINAL)
    assert read["message"]["metadata"] == {
        "usage": {"inputTokens": 50, "outputTokens": 13, "totalTokens": 63}
    }
    check_every_task_got_the_request(replies)


def test_ag_ui_runs_a_crew_as_steps_and_every_event_validates(
    replies: ProviderServer, serve_protocols: ServeProtocols, crew: Crew
) -> None:
    app = serve_protocols(crews={"writer-crew": crew})
    body = run_input(
        messages=[{"id": "m1", "role": "user", "content": QUESTION}],
        context=[],
        forwardedProps={"model": "writer-crew"},
    )
    events = []
    with httpx2.stream("POST", f"{app.url}/api/ag-ui", json=body, timeout=10) as reply:
        assert reply.status_code == 200
        for line in reply.iter_lines():
            if line.startswith("data: "):
                event = EVENT.validate_json(line[6:])
                assert not event.model_extra
                events.append(event)

    check_well_formed(events)
    steps = [(e.type, e.step_name) for e in events if e.type.startswith("STEP_")]
    assert steps == [
        ("STEP_STARTED", "task 0: Writer: Write a draft answer"),
        ("STEP_FINISHED", "task 0: Writer: Write a draft answer"),
        ("STEP_STARTED", "task 1: Editor: Edit the draft into the final answer"),
        ("STEP_FINISHED", "task 1: Editor: Edit the draft into the final answer"),
    ]
    text = "".join(e.delta for e in events if e.type == "TEXT_MESSAGE_CONTENT")
    thought = "".join(e.delta for e in events if e.type == "REASONING_MESSAGE_CONTENT")
    assert (text, thought) == ("".join(FINAL), "".join(DRAFT))
    check_every_task_got_the_request(replies)


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/api/chat", {"model": "no-such-crew"}, "model"),
        ("/api/ag-ui", {"forwardedProps": {"model": "no-such-crew"}}, "forwardedProps.model"),
    ],
)
def test_an_unknown_model_is_a_400_naming_what_there_is(
    server: ProviderServer,
    serve_protocols: ServeProtocols,
    crew: Crew,
    path: str,
    body: dict[str, Any],
    param: str,
) -> None:
    app = serve_protocols(crews={"writer-crew": crew})
    if path == "/api/chat":
        full = {
            "messages": [{"id": "u", "role": "user", "parts": [{"type": "text", "text": "Hi"}]}]
        }
    else:
        full = run_input()
    reply = httpx2.post(f"{app.url}{path}", json={**full, **body}, timeout=10)

    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == param
    assert "writer-crew" in reply.json()["error"]["message"]
    assert server.request_count == 0


def test_a_name_given_to_an_agent_and_a_crew_is_refused_at_start(
    serve_protocols: ServeProtocols, crew: Crew, make_web_agent: Callable[..., Agent]
) -> None:
    from laraflowai import ConfigurationError

    with pytest.raises(ConfigurationError, match="not both"):
        serve_protocols(agents={"team": make_web_agent("A", "B")}, crews={"team": crew})
