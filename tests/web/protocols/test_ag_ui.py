"""AG-UI at POST /api/ag-ui: every event we send validates as the
`ag-ui-protocol` package's own `ag_ui.core.Event` (no field it does not
know), and the sequence is well formed.
Issue 17."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from tests.conftest import API_KEY, require
from tests.servers import Hang, ProviderServer, in_stream_error, openai_chunks, stream_reply

from .conftest import ServeProtocols
from .test_ui_stream import reasoning_text_and_tool_call

require("ag_ui", "the AG-UI protocol's own types check the events")
from ag_ui.core import Event, EventType, RunAgentInput  # noqa: E402
from pydantic import TypeAdapter  # noqa: E402

EVENT = TypeAdapter(Event)


def run_input(**changes: Any) -> dict[str, Any]:
    body = RunAgentInput(
        thread_id="thread-1",
        run_id="run-1",
        messages=[
            {"id": "m0", "role": "developer", "content": "Answer briefly."},
            {"id": "m1", "role": "user", "content": "My name is Ada."},
            {"id": "m2", "role": "assistant", "content": "Hello, Ada!"},
            {"id": "m3", "role": "user", "content": [{"type": "text", "text": "Look me up."}]},
        ],
        tools=[{"name": "confirm", "description": "Ask the user", "parameters": {}}],
        state={"page": 1},
        context=[{"description": "Locale", "value": "en-GB"}],
        forwarded_props={"x": 1},
    ).model_dump(mode="json", by_alias=True)
    body.update(changes)
    return body


def read_events(url: str, body: Any) -> list[Any]:
    """Every SSE data line, validated as an AG-UI event with no unknown field."""
    events = []
    with httpx2.stream("POST", url, json=body, timeout=10) as reply:
        assert reply.status_code == 200, reply.read()
        assert reply.headers["content-type"].startswith("text/event-stream")
        for line in reply.iter_lines():
            if line.startswith("data: "):
                event = EVENT.validate_json(line[6:])
                assert not event.model_extra, f"fields AG-UI does not define: {event.model_extra}"
                events.append(event)
    return events


def check_well_formed(events: list[Any]) -> None:
    """RUN_STARTED first and a RUN_FINISHED or RUN_ERROR last; every message
    and tool call opened, filled and closed in order, never two at once."""
    types = [e.type for e in events]
    assert types[0] == EventType.RUN_STARTED
    assert types[-1] in (EventType.RUN_FINISHED, EventType.RUN_ERROR)
    assert types.count(EventType.RUN_STARTED) == 1
    assert sum(t in (EventType.RUN_FINISHED, EventType.RUN_ERROR) for t in types) == 1
    opened: tuple[str, str] | None = None
    seen: set[str] = set()
    pairs = {
        EventType.TEXT_MESSAGE_START: ("text", EventType.TEXT_MESSAGE_END),
        EventType.REASONING_START: ("reasoning", EventType.REASONING_END),
        EventType.TOOL_CALL_START: ("tool", EventType.TOOL_CALL_END),
    }
    inner = {
        EventType.TEXT_MESSAGE_CONTENT: "text",
        EventType.REASONING_MESSAGE_START: "reasoning",
        EventType.REASONING_MESSAGE_CONTENT: "reasoning",
        EventType.REASONING_MESSAGE_END: "reasoning",
        EventType.TOOL_CALL_ARGS: "tool",
    }
    ends = {end: kind for kind, end in pairs.values()}
    for event in events[1:-1]:
        ident = getattr(event, "message_id", None) or getattr(event, "tool_call_id", None)
        if event.type in pairs:
            assert opened is None, f"{event.type} while {opened} is open"
            assert ident not in seen, f"id {ident} used twice"
            seen.add(ident)
            opened = (pairs[event.type][0], ident)
        elif event.type in inner:
            assert opened == (inner[event.type], ident), f"{event.type} outside its message"
        elif event.type in ends:
            assert opened == (ends[event.type], ident), f"{event.type} closes nothing"
            opened = None
        elif event.type == EventType.TOOL_CALL_RESULT:
            assert opened is None, f"a tool result while {opened} is open"
            assert event.tool_call_id in seen, "a result for a tool call never made"
            assert event.message_id not in seen, f"id {event.message_id} used twice"
            seen.add(event.message_id)
        elif event.type in (EventType.STEP_STARTED, EventType.STEP_FINISHED):
            assert opened is None, f"{event.type} while {opened} is open"
        else:
            raise AssertionError(f"unexpected {event.type} inside the run")
    assert opened is None, f"{opened} never closed"


def test_every_event_validates_and_the_run_is_well_formed(
    server: ProviderServer, serve_protocols: ServeProtocols
) -> None:
    server.enqueue(stream_reply(reasoning_text_and_tool_call()))
    app = serve_protocols(provider="deepseek")

    events = read_events(f"{app.url}/api/ag-ui", run_input())

    check_well_formed(events)
    assert [e.type.value for e in events] == [
        "RUN_STARTED",
        "REASONING_START",
        "REASONING_MESSAGE_START",
        "REASONING_MESSAGE_CONTENT",
        "REASONING_MESSAGE_CONTENT",
        "REASONING_MESSAGE_END",
        "REASONING_END",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "TOOL_CALL_START",
        "TOOL_CALL_ARGS",
        "TOOL_CALL_END",
        "RUN_FINISHED",
    ]
    started, finished = events[0], events[-1]
    assert (started.thread_id, started.run_id) == ("thread-1", "run-1")
    assert (finished.thread_id, finished.run_id) == ("thread-1", "run-1")
    reasoning = "".join(e.delta for e in events if e.type == EventType.REASONING_MESSAGE_CONTENT)
    text = "".join(e.delta for e in events if e.type == EventType.TEXT_MESSAGE_CONTENT)
    assert (reasoning, text) == ("Let me check.", "Looking it up.")
    start, args = events[11], events[12]
    assert (start.tool_call_id, start.tool_call_name) == ("call_1", "lookup")
    assert start.parent_message_id == events[7].message_id
    assert args.delta == '{"name":"Ada"}'
    usage = finished.usage[0]
    assert (usage.provider, usage.input_tokens, usage.output_tokens, usage.total_tokens) == (
        "deepseek",
        40,
        12,
        52,
    )
    sent = server.requests[0].json()["messages"]
    assert sent[1:] == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello, Ada!"},
        {"role": "user", "content": "Look me up.\n\nContext:\nLocale: en-GB"},
    ]


def test_a_failure_ends_the_run_with_run_error_and_a_safe_message(
    server: ProviderServer, serve_protocols: ServeProtocols
) -> None:
    events = openai_chunks(["Partial "], finish_reason=None, include_done=False)
    server.enqueue(stream_reply([*events, in_stream_error(f"{API_KEY} at {server.url}")]))
    app = serve_protocols()

    events = read_events(f"{app.url}/api/ag-ui", run_input())

    check_well_formed(events)
    assert [e.type.value for e in events] == [
        "RUN_STARTED",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "RUN_ERROR",
    ]
    assert events[-1].message == "The answer could not be completed."
    assert events[-1].code == "internal"
    assert all(API_KEY not in e.model_dump_json() for e in events)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"threadId": ""}, "threadId is required"),
        ({"messages": [{"id": "1", "role": "robot", "content": "x"}]}, "AG-UI roles are"),
        ({"messages": [{"id": "1", "role": "assistant", "content": "x"}]}, "must be the user's"),
        ({"context": [{"description": "x"}]}, "context[0] must be"),
    ],
)
def test_bad_input_is_a_400_before_any_provider_request(
    server: ProviderServer, serve_protocols: ServeProtocols, changes: Any, words: str
) -> None:
    app = serve_protocols()
    reply = httpx2.post(f"{app.url}/api/ag-ui", json=run_input(**changes))
    assert reply.status_code == 400
    assert words in reply.json()["error"]["message"]
    assert server.request_count == 0


def test_a_client_that_disconnects_closes_the_provider_request(
    server: ProviderServer, serve_protocols: ServeProtocols
) -> None:
    events = openai_chunks(["Thinking "], finish_reason=None, include_done=False)
    server.enqueue(stream_reply(events, then=[Hang()]))
    app = serve_protocols()
    with httpx2.stream("POST", f"{app.url}/api/ag-ui", json=run_input(), timeout=5) as reply:
        lines = reply.iter_lines()
        while "TEXT_MESSAGE_CONTENT" not in next(lines):
            pass
        assert not server.exchange(0).client_closed
    assert server.wait_for_disconnect(0, timeout=2.0), "the provider request is still open"
