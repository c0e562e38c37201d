"""Bad input, turned-off routes, failures and the API token: clear JSON
answers, before any provider is called, and no secret in any of them."""

from __future__ import annotations

import httpx2
import pytest

from tests.conftest import API_KEY
from tests.servers import (
    Drop,
    ProviderServer,
    Sleep,
    error_reply,
    openai_chunks,
    stream_reply,
)

from .conftest import ServeApp
from .servers import read_sse

TOKEN = "web-token-0123456789abcdef"


@pytest.mark.parametrize(
    ("params", "param", "words"),
    [
        ({}, "task", "task is required"),
        ({"task": "   "}, "task", "task is required"),
        ({"task": "x" * 41}, "task", "the limit is 40"),
        ({"task": "Hi", "provider": "nope"}, "provider", "unknown provider 'nope'"),
        ({"task": "Hi", "role": "r" * 1001}, "role", "longer than 1000"),
    ],
)
def test_bad_input_gets_a_json_400_before_any_provider_call(
    server: ProviderServer,
    serve_app: ServeApp,
    client: httpx2.Client,
    params: dict[str, str],
    param: str,
    words: str,
) -> None:
    app = serve_app({"LARAFLOWAI_MAX_TASK_LENGTH": "40"})
    response = client.get(f"{app.url}/api/stream-chat", params=params)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["type"] == "invalid_request"
    assert error["param"] == param
    assert words in error["message"]
    assert server.request_count == 0


def test_a_provider_without_a_key_is_refused_with_what_to_set(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    app = serve_app()
    response = client.get(f"{app.url}/api/stream-chat", params={"task": "Hi", "provider": "groq"})
    assert response.status_code == 400
    assert "GROQ_API_KEY" in response.json()["error"]["message"]
    assert server.request_count == 0


def test_sse_disabled_answers_404_with_a_clear_body(
    serve_app: ServeApp, client: httpx2.Client
) -> None:
    app = serve_app({"LARAFLOWAI_SSE_ENABLED": "false"})
    for method, path in [
        ("GET", "/api/stream-chat?task=Hi"),
        ("POST", "/api/stream-chat/abc/stop"),
        ("GET", "/api/stream-chat/abc"),
    ]:
        response = client.request(method, f"{app.url}{path}")
        assert response.status_code == 404
        assert "LARAFLOWAI_SSE_ENABLED=false" in response.json()["error"]["message"]


def test_stop_of_an_unknown_stream_is_404(serve_app: ServeApp, client: httpx2.Client) -> None:
    app = serve_app()
    response = client.post(f"{app.url}/api/stream-chat/0123abcd/stop")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"


def test_provider_error_becomes_a_safe_error_event(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    server.enqueue(
        error_reply(401, message=f"Incorrect API key provided: {API_KEY} at {server.url}")
    )
    app = serve_app()
    received = read_sse(client, f"{app.url}/api/stream-chat", params={"task": "Hi"})
    assert [p["type"] for p in received.payloads] == ["start", "error"]
    error = received.payloads[-1]
    assert error["kind"] == "authentication"
    assert error["message"] == "The model provider refused this server's API key."
    raw = " ".join(event.data for event in received.events)
    assert API_KEY not in raw and server.url not in raw and "sk-" not in raw


def test_a_dropped_upstream_keeps_the_text_and_then_reports_the_error(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    events = openai_chunks(["Half ", "an answer"], finish_reason=None, include_done=False)
    server.enqueue(stream_reply(events, then=[Sleep(0.05), Drop()]))
    app = serve_app()
    received = read_sse(client, f"{app.url}/api/stream-chat", params={"task": "Hi"})
    assert [p.get("chunk") for p in received.payloads if p["type"] == "chunk"] == [
        "Half ",
        "an answer",
    ]
    assert received.payloads[-1]["type"] == "error"
    assert received.payloads[-1]["kind"] == "interrupted"
    stream_id = received.payloads[0]["stream_id"]
    info = client.get(f"{app.url}/api/stream-chat/{stream_id}").json()
    assert info["status"] == "error"


def test_with_a_token_the_api_needs_it_and_the_page_signs_in_with_a_cookie(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    server.enqueue(stream_reply(openai_chunks(["ok"])), stream_reply(openai_chunks(["ok"])))
    app = serve_app({"LARAFLOWAI_API_TOKEN": TOKEN})
    url = f"{app.url}/api/stream-chat"

    refused = client.get(url, params={"task": "Hi"})
    assert refused.status_code == 401
    assert "Authorization: Bearer" in refused.json()["error"]["message"]
    assert TOKEN not in refused.text
    wrong = client.get(url, params={"task": "Hi"}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert client.get(f"{app.url}/").status_code == 200  # the page itself is public

    bearer = read_sse(
        client, url, params={"task": "Hi"}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert bearer.payloads[-1]["type"] == "complete"

    assert client.get(f"{app.url}/api/session").json() == {
        "auth_required": True,
        "authenticated": False,
    }
    assert client.post(f"{app.url}/api/session").status_code == 401
    signed_in = client.post(f"{app.url}/api/session", headers={"Authorization": f"Bearer {TOKEN}"})
    cookie = signed_in.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and TOKEN not in cookie
    # EventSource cannot send headers: the cookie is enough.
    with_cookie = read_sse(client, url, params={"task": "Hi"})
    assert with_cookie.payloads[-1]["type"] == "complete"
    assert server.request_count == 2


def test_requests_from_other_sites_and_foreign_hosts_are_refused(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    app = serve_app()
    url = f"{app.url}/api/stream-chat"
    cross = client.get(url, params={"task": "Hi"}, headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403
    assert cross.json()["error"]["type"] == "cross_origin"
    fetch_site = client.get(url, params={"task": "Hi"}, headers={"Sec-Fetch-Site": "cross-site"})
    assert fetch_site.status_code == 403
    # Of a repeated header the first counts, as Starlette's Headers.get reads it.
    repeated = [("Origin", "https://evil.example"), ("Origin", app.url)]
    assert client.get(url, params={"task": "Hi"}, headers=repeated).status_code == 403
    # Without a token only loopback names are served (no DNS rebinding).
    rebound = client.get(url, params={"task": "Hi"}, headers={"Host": "evil.example"})
    assert rebound.status_code == 400
    assert server.request_count == 0
    same = client.post(f"{url}/0123abcd/stop", headers={"Origin": app.url})
    assert same.status_code == 404  # same origin: allowed through (the stream is unknown)


def test_the_app_mounts_under_a_prefix(server: ProviderServer, client: httpx2.Client) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from laraflowai import Settings
    from laraflowai.web import create_app

    from .conftest import BASE_ENV
    from .servers import AppServer

    server.enqueue(stream_reply(openai_chunks(["mounted"])))
    chat = create_app(
        Settings.from_env(BASE_ENV),
        provider="openai",
        base_url=f"{server.url}/v1",
        api_key=API_KEY,
        token=TOKEN,
    )
    # A mounted app's lifespan is the outer app's to run (it closes streams and connections).
    outer = Starlette(routes=[Mount("/chat", chat)], lifespan=chat.router.lifespan_context)
    app = AppServer(outer).start()
    try:
        page = client.get(f"{app.url}/chat/")
        assert page.status_code == 200 and 'href="static/style.css"' in page.text
        assert client.get(f"{app.url}/chat/static/app.js").status_code == 200
        url = f"{app.url}/chat/api/stream-chat"
        assert client.get(url, params={"task": "Hi"}).status_code == 401  # guarded there too
        received = read_sse(
            client, url, params={"task": "Hi"}, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert [p.get("chunk") for p in received.payloads if p["type"] == "chunk"] == ["mounted"]
    finally:
        app.stop()


def test_head_never_starts_a_stream(
    server: ProviderServer, serve_app: ServeApp, client: httpx2.Client
) -> None:
    app = serve_app()
    for path in ("/api/stream-chat?task=Hi", "/api/stream-crew?crew={}"):
        response = client.head(f"{app.url}{path}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
    assert server.request_count == 0


def test_requests_of_one_shape_share_an_agent_until_the_settings_change() -> None:
    from laraflowai._config import configure
    from laraflowai.web._requests import ChatConfig, build_agent

    chat = ChatConfig(provider="openai", api_key=API_KEY)  # the global settings
    first = build_agent(chat, role="Poet", model="gpt-a")
    assert build_agent(chat, role="Poet", model="gpt-a") is first
    assert build_agent(chat, role="Poet", model="gpt-b") is not first
    assert build_agent(chat, role="Critic", model="gpt-a").role == "Critic"
    configure(max_retries=0)
    again = build_agent(chat, role="Poet", model="gpt-a")
    assert again is not first and again.settings.max_retries == 0
