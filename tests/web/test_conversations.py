"""Conversations kept by id: the SSE route answers with the stored turns as
history and keeps each completed turn, in SQLite by default and in Redis
shared by several servers; the routes to create, read and delete one; bad
ids and a turned-off store answered with typed errors. Issue 17."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from tests.servers import Hang, ProviderServer, error_reply, openai_chunks, stream_reply

from .conftest import ServeApp
from .servers import read_sse, sse_stream


def new_conversation(client: httpx2.Client, url: str) -> str:
    created = client.post(f"{url}/api/conversations")
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["messages"] == [] and body["max_turns"] == 20
    conversation_id: str = body["conversation_id"]
    assert len(conversation_id) == 32
    return conversation_id


def ask(client: httpx2.Client, url: str, task: str, conversation_id: str) -> list[dict[str, Any]]:
    received = read_sse(
        client, f"{url}/api/stream-chat", params={"task": task, "conversation_id": conversation_id}
    )
    assert received.status == 200, received.payloads
    return received.payloads


def sent_messages(server: ProviderServer, index: int) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = server.requests[index].json()["messages"]
    return messages[1:]  # after the agent's system message


def test_the_second_question_is_sent_with_the_first_turn_and_both_are_kept(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    server.enqueue(stream_reply(openai_chunks(["Hello, ", "Ada!"])))
    server.enqueue(stream_reply(openai_chunks(["Your name ", "is Ada."])))
    app = serve_app()
    conversation_id = new_conversation(client, app.url)

    first = ask(client, app.url, "My name is Ada.", conversation_id)
    assert first[0]["conversation_id"] == conversation_id
    assert first[-1]["type"] == "complete"
    ask(client, app.url, "What is my name?", conversation_id)

    assert sent_messages(server, 0) == [{"role": "user", "content": "My name is Ada."}]
    assert sent_messages(server, 1) == [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello, Ada!"},
        {"role": "user", "content": "What is my name?"},
    ]
    kept = client.get(f"{app.url}/api/conversations/{conversation_id}").json()
    assert kept["turns"] == 2 and kept["conversation_id"] == conversation_id
    assert kept["messages"] == [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello, Ada!"},
        {"role": "user", "content": "What is my name?"},
        {"role": "assistant", "content": "Your name is Ada."},
    ]
    assert kept["created_at"] <= kept["updated_at"]


def test_a_failed_answer_is_not_kept(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    server.enqueue(error_reply(500, message="upstream broke"))
    app = serve_app()
    conversation_id = new_conversation(client, app.url)

    payloads = ask(client, app.url, "Hello?", conversation_id)

    assert payloads[-1]["type"] == "error"
    assert client.get(f"{app.url}/api/conversations/{conversation_id}").json()["messages"] == []


def test_a_stopped_answer_is_not_kept(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    events = openai_chunks(["Partial "], finish_reason=None, include_done=False)
    server.enqueue(stream_reply(events, then=[Hang()]))
    app = serve_app()
    conversation_id = new_conversation(client, app.url)
    url = f"{app.url}/api/stream-chat"
    params = {"task": "Think long", "conversation_id": conversation_id}
    with sse_stream(client, url, params=params) as stream:
        stream_id = stream.read_events(2).events[0].json()["stream_id"]
        assert client.post(f"{url}/{stream_id}/stop").status_code == 200
        assert stream.read_to_end().payloads[-1]["stopped"] is True

    assert client.get(f"{app.url}/api/conversations/{conversation_id}").json()["messages"] == []


def test_an_answer_cut_at_the_output_cap_is_not_kept(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    server.enqueue(stream_reply(openai_chunks(["0123456789", "0123456789"])))
    app = serve_app({"LARAFLOWAI_MAX_STREAM_CHARS": "15"})
    conversation_id = new_conversation(client, app.url)

    assert ask(client, app.url, "Count", conversation_id)[-1]["truncated"] is True
    assert client.get(f"{app.url}/api/conversations/{conversation_id}").json()["messages"] == []


def test_a_resumed_and_followed_stream_keeps_its_turn_once(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    server.enqueue(stream_reply(openai_chunks(["one ", "two ", "three"]), delay=0.1))
    app = serve_app()
    conversation_id = new_conversation(client, app.url)
    url = f"{app.url}/api/stream-chat"
    params = {"task": "Count", "conversation_id": conversation_id}
    with sse_stream(client, url, params=params) as stream:
        seen = stream.read_events(2).events
    stream_id = seen[0].json()["stream_id"]
    resumed = read_sse(client, url, last_event_id=seen[-1].id)
    followed = read_sse(client, url, params={"stream_id": stream_id})

    assert resumed.payloads[-1]["type"] == "complete"
    assert followed.payloads[-1]["type"] == "complete"
    kept = client.get(f"{app.url}/api/conversations/{conversation_id}").json()
    assert kept["messages"] == [
        {"role": "user", "content": "Count"},
        {"role": "assistant", "content": "one two three"},
    ]


def test_only_the_last_max_turns_are_kept_and_sent(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    for answer in ("A1", "A2", "A3", "A4"):
        server.enqueue(stream_reply(openai_chunks([answer])))
    app = serve_app({"LARAFLOWAI_CONVERSATION_MAX_TURNS": "2"})
    conversation_id = client.post(f"{app.url}/api/conversations").json()["conversation_id"]

    for question in ("Q1", "Q2", "Q3", "Q4"):
        ask(client, app.url, question, conversation_id)

    assert [m["content"] for m in sent_messages(server, 3)] == ["Q2", "A2", "Q3", "A3", "Q4"]
    kept = client.get(f"{app.url}/api/conversations/{conversation_id}").json()
    assert [m["content"] for m in kept["messages"]] == ["Q3", "A3", "Q4", "A4"]
    assert kept["max_turns"] == 2


def test_creating_past_max_conversations_drops_the_least_recently_used(
    serve_app: ServeApp, client: httpx2.Client
) -> None:
    app = serve_app({"LARAFLOWAI_MAX_CONVERSATIONS": "2"})
    first, second, third = (
        client.post(f"{app.url}/api/conversations").json()["conversation_id"] for _ in range(3)
    )

    assert client.get(f"{app.url}/api/conversations/{first}").status_code == 404
    assert client.get(f"{app.url}/api/conversations/{second}").status_code == 200
    assert client.get(f"{app.url}/api/conversations/{third}").status_code == 200


def test_a_deleted_conversation_is_gone_and_its_id_refused(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    app = serve_app()
    conversation_id = new_conversation(client, app.url)
    url = f"{app.url}/api/conversations/{conversation_id}"

    assert client.delete(url).status_code == 204
    gone = client.get(url)
    assert gone.status_code == 404 and gone.json()["error"]["type"] == "not_found"
    assert client.delete(url).status_code == 404
    answer = client.get(
        f"{app.url}/api/stream-chat", params={"task": "Hi", "conversation_id": conversation_id}
    )
    assert answer.status_code == 404
    assert answer.json()["error"]["param"] == "conversation_id"
    assert server.request_count == 0


@pytest.mark.parametrize("bad", ["short", "x" * 65, "a/b" + "c" * 20, "ab cd" + "e" * 20, "é" * 20])
def test_a_malformed_conversation_id_is_a_400_naming_it(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client, bad: str
) -> None:
    app = serve_app()

    answer = client.get(f"{app.url}/api/stream-chat", params={"task": "Hi", "conversation_id": bad})
    read = client.get(f"{app.url}/api/conversations/{httpx2.URL(bad).raw_path.decode()}")

    assert answer.status_code == 400
    assert answer.json()["error"] == {
        "type": "invalid_request",
        "message": answer.json()["error"]["message"],
        "param": "conversation_id",
    }
    assert "POST /api/conversations" in answer.json()["error"]["message"]
    assert read.status_code in (400, 404)  # a '/' in it is another path
    assert server.request_count == 0


def test_an_unknown_but_well_formed_id_is_a_404(serve_app: ServeApp, client: httpx2.Client) -> None:
    app = serve_app()
    missing = client.get(f"{app.url}/api/conversations/{'A' * 32}")
    assert missing.status_code == 404
    assert "LARAFLOWAI_CONVERSATION_TTL" in missing.json()["error"]["message"]


def test_with_the_store_off_the_routes_say_so(serve_app: ServeApp, client: httpx2.Client) -> None:
    app = serve_app({"LARAFLOWAI_CONVERSATION_STORE": "off"})
    created = client.post(f"{app.url}/api/conversations")
    assert created.status_code == 404
    assert "LARAFLOWAI_CONVERSATION_STORE=off" in created.json()["error"]["message"]


def test_the_conversation_routes_follow_the_apps_access_rules(
    serve_app: ServeApp, client: httpx2.Client
) -> None:
    token = "conversation-token-0123456789"
    app = serve_app({"LARAFLOWAI_API_TOKEN": token})
    auth = {"Authorization": f"Bearer {token}"}
    refused = client.post(f"{app.url}/api/conversations")
    conversation_id = client.post(f"{app.url}/api/conversations", headers=auth).json()[
        "conversation_id"
    ]
    url = f"{app.url}/api/conversations/{conversation_id}"
    cross_site = client.get(url, headers={**auth, "Origin": "https://evil.example"})

    assert refused.status_code == 401
    assert client.get(url).status_code == 401
    assert client.get(url, headers=auth).status_code == 200
    assert cross_site.status_code == 403
    assert token not in refused.text


def test_the_conversation_files_default_to_the_user_data_directory(
    serve_app: ServeApp, client: httpx2.Client, conversation_dir: Any, tmp_path: Any
) -> None:
    app = serve_app()
    new_conversation(client, app.url)
    assert list(conversation_dir.rglob("conversations.sqlite3"))

    chosen = tmp_path / "chosen" / "talks.db"
    other = serve_app({"LARAFLOWAI_CONVERSATION_PATH": str(chosen)})
    new_conversation(client, other.url)
    assert chosen.exists()


def test_two_servers_sharing_redis_continue_the_same_conversation(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client, redis_url: str
) -> None:
    server.enqueue(stream_reply(openai_chunks(["Hello, ", "Ada!"])))
    server.enqueue(stream_reply(openai_chunks(["You are Ada."])))
    env = {"LARAFLOWAI_STREAM_STORE": "redis", "LARAFLOWAI_REDIS_URL": redis_url}
    one, two = serve_app(env), serve_app(env)

    conversation_id = new_conversation(client, one.url)
    ask(client, one.url, "My name is Ada.", conversation_id)
    ask(client, two.url, "Who am I?", conversation_id)

    assert sent_messages(server, 1)[:2] == [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello, Ada!"},
    ]
    seen_by_one = client.get(f"{one.url}/api/conversations/{conversation_id}").json()
    assert [m["content"] for m in seen_by_one["messages"]] == [
        "My name is Ada.",
        "Hello, Ada!",
        "Who am I?",
        "You are Ada.",
    ]
    assert client.delete(f"{two.url}/api/conversations/{conversation_id}").status_code == 204
    assert client.get(f"{one.url}/api/conversations/{conversation_id}").status_code == 404


def test_the_websocket_route_answers_and_keeps_turns_in_the_same_conversation(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    from tests.pusher.conftest import BUILTIN, CREDENTIALS

    server.enqueue(stream_reply(openai_chunks(["Hello, ", "Ada!"])))
    server.enqueue(stream_reply(openai_chunks(["You are Ada."])))
    app = serve_app({**BUILTIN, **CREDENTIALS})
    conversation_id = new_conversation(client, app.url)

    def ask_over_websocket(task: str) -> list[dict[str, Any]]:
        started = client.post(
            f"{app.url}/api/stream-chat-websocket",
            json={"task": task, "channel": "chat-1", "conversation_id": conversation_id},
        )
        assert started.status_code == 200, started.text
        stream_id = started.json()["stream_id"]
        return read_sse(
            client, f"{app.url}/api/stream-chat", params={"stream_id": stream_id}
        ).payloads

    assert ask_over_websocket("My name is Ada.")[-1]["type"] == "complete"
    assert ask_over_websocket("Who am I?")[-1]["type"] == "complete"

    assert sent_messages(server, 1)[:2] == [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello, Ada!"},
    ]
    kept = client.get(f"{app.url}/api/conversations/{conversation_id}").json()
    assert kept["turns"] == 2
    bad = client.post(
        f"{app.url}/api/stream-chat-websocket",
        json={"task": "Hi", "channel": "chat-1", "conversation_id": 42},
    )
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "conversation_id"


def test_an_unreachable_store_is_a_503_that_shows_no_secret(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"redis://user:s3cret-pass@127.0.0.1:{port}/0"
    app = serve_app({"LARAFLOWAI_CONVERSATION_STORE": "redis", "LARAFLOWAI_REDIS_URL": url})

    created = client.post(f"{app.url}/api/conversations")
    asked = client.get(
        f"{app.url}/api/stream-chat", params={"task": "Hi", "conversation_id": "A" * 32}
    )

    for reply in (created, asked):
        assert reply.status_code == 503
        assert reply.json()["error"]["type"] == "unavailable"
        assert "s3cret" not in reply.text and str(port) not in reply.text
    assert server.request_count == 0
