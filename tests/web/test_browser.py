"""The chat page in real Chromium (Debian's, driven by Playwright): the reply
grows live, stop stops it and closes the upstream, a cut connection resumes,
and nothing the model writes runs as HTML. Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require
from tests.servers import Hang, ProviderServer, Sleep, error_reply, openai_chunks, stream_reply

from .conftest import ServeApp
from .servers import CutProxy

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # No look-ups of outside hosts; the app is served on 127.0.0.1.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
# Every change of the assistant's message, as the page shows it.
RECORD_FRAMES = """
window.__frames = [];
new MutationObserver(() => {
  const body = document.querySelector('.message.assistant:last-of-type .body');
  const status = document.getElementById('status');
  window.__frames.push({
    text: body ? body.textContent : null,
    streaming: body ? body.parentElement.classList.contains('streaming') : false,
    status: status ? status.textContent : '',
  });
}).observe(document, {subtree: true, childList: true, characterData: true, attributes: true});
"""
TIMEOUT = 10_000  # ms


def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        message = "Debian's chromium is not installed; run `bash scripts/test` to install it"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require("playwright", "the browser tests (the test extra)")
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    # Without the page's CSP: the tests evaluate scripts, and the XSS test must show
    # that the renderer itself keeps model output inert, not that CSP blocks it.
    context = browser.new_context(viewport={"width": 900, "height": 640}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.add_init_script(RECORD_FRAMES)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss())
    )
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert problems == []


def snap(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def send(page: Any, text: str) -> Any:
    page.fill("#message", text)
    page.press("#message", "Enter")
    return page.locator(".message.assistant").last


def test_the_reply_grows_live_and_ends_as_the_provider_sent_it(
    server: ProviderServer, serve_app: ServeApp, page: Any
) -> None:
    words = ["Streaming ", "answers ", "arrive ", "word ", "by ", "word ", "in ", "the ", "page."]
    server.enqueue(stream_reply(openai_chunks(words), delay=0.12))
    app = serve_app()
    page.goto(f"{app.url}/")

    reply = send(page, "Tell me about streaming")
    page.wait_for_function(
        "document.querySelector('.message.assistant .body').textContent.includes('word by')"
    )
    snap(page, "chat-mid-stream")
    page.locator(".message.assistant[data-state='done']").wait_for()

    assert page.locator(".message.user .body").text_content() == "Tell me about streaming"
    assert reply.locator(".body").text_content() == "".join(words)
    frames = [f["text"] for f in page.evaluate("window.__frames") if f["streaming"] and f["text"]]
    growth = list(dict.fromkeys(frames))  # distinct texts, in order
    assert len(growth) >= 4, growth
    pairs = zip(growth, growth[1:], strict=False)
    assert all(later.startswith(earlier) for earlier, later in pairs)
    assert page.locator("#model").text_content() == "openai/gpt-4o-mini"
    assert page.locator("#send").is_enabled() and page.locator("#stop").is_disabled()


def test_stop_button_stops_the_stream_and_the_upstream_closes(
    server: ProviderServer, serve_app: ServeApp, page: Any
) -> None:
    events = openai_chunks(["Partial ", "reply "], finish_reason=None, include_done=False)
    server.enqueue(stream_reply(events, then=[Hang()]))
    app = serve_app({"LARAFLOWAI_SSE_RESUME_GRACE": "30"})
    page.goto(f"{app.url}/")

    reply = send(page, "Think for a long time")
    page.wait_for_function(
        "document.querySelector('.message.assistant .body').textContent === 'Partial reply '"
    )
    page.click("#stop")
    page.locator(".message.assistant[data-state='done']").wait_for()

    assert server.wait_for_disconnect(0, timeout=1.0), "the upstream is still open after stop"
    assert reply.locator(".note").text_content() == "Stopped."
    assert reply.locator(".body").text_content() == "Partial reply "
    assert page.locator("#send").is_enabled() and page.locator("#stop").is_disabled()


def test_a_cut_connection_reconnects_and_resumes_without_loss(
    server: ProviderServer, serve_app: ServeApp, page: Any
) -> None:
    before = ["Before ", "the ", "cut, "]
    after = ["and ", "after ", "it."]
    events = openai_chunks(before + after)
    steps = [
        *stream_reply(events[: len(before)], delay=0.05).steps,
        Sleep(1.2),
        *stream_reply(events[len(before) :], delay=0.1).steps,
    ]
    server.enqueue(stream_reply([], then=steps))
    app = serve_app({"LARAFLOWAI_SSE_RETRY_TIMEOUT": "300", "LARAFLOWAI_SSE_RESUME_GRACE": "10"})
    proxy = CutProxy(app.port)
    try:
        page.goto(f"{proxy.url}/")
        reply = send(page, "Survive a dropped connection")
        page.wait_for_function(
            "document.querySelector('.message.assistant .body').textContent === 'Before the cut, '"
        )
        assert proxy.cut() >= 1
        page.locator(".message.assistant[data-state='done']").wait_for()
    finally:
        proxy.close()

    assert reply.locator(".body").text_content() == "".join(before + after)
    assert reply.locator(".error").count() == 0
    statuses = [f["status"] for f in page.evaluate("window.__frames")]
    assert "Connection lost, reconnecting…" in statuses
    assert page.locator("#status").text_content() == ""
    assert server.request_count == 1  # resumed, not asked again
    assert server.wait_for_completion(0, timeout=2.0)


def test_html_and_scripts_from_the_model_are_shown_as_text_never_run(
    server: ProviderServer, serve_app: ServeApp, page: Any
) -> None:
    answer = [
        "Look: <img src=x onerror=\"window.__xss='img'\"> and ",
        "<script>window.__xss='script'</script> then **bold**, `code`, ",
        "[bad](javascript:window.__xss='link') and [good](https://example.com/).\n\n",
        "- one\n- two",
    ]
    server.enqueue(stream_reply(openai_chunks(answer), delay=0.02))
    app = serve_app()
    page.goto(f"{app.url}/")

    reply = send(page, "<img src=y onerror=\"window.__xss='user'\">")
    page.locator(".message.assistant[data-state='done']").wait_for()

    assert page.evaluate("window.__xss") is None
    assert page.locator("#messages img").count() == 0
    assert page.locator("#messages script").count() == 0
    body = reply.locator(".body")
    text = body.text_content()
    assert "<img src=x onerror=\"window.__xss='img'\">" in text
    assert "<script>window.__xss='script'</script>" in text
    assert "[bad](javascript:window.__xss='link')" in text  # not a link
    links = body.locator("a")
    assert links.count() == 1 and links.get_attribute("href") == "https://example.com/"
    assert body.locator("strong").text_content() == "bold"
    assert body.locator("code").text_content() == "code"
    assert body.locator("li").all_text_contents() == ["one", "two"]
    user = page.locator(".message.user .body").text_content()
    assert user == "<img src=y onerror=\"window.__xss='user'\">"


def test_a_failed_stream_shows_a_visible_error(
    server: ProviderServer, serve_app: ServeApp, page: Any
) -> None:
    server.enqueue(error_reply(429, message="Rate limit reached", retry_after=20))
    app = serve_app()
    page.goto(f"{app.url}/")

    reply = send(page, "Hello?")
    error = reply.locator(".error")
    error.wait_for()

    assert error.text_content() == "The model provider is limiting requests; try again soon."
    assert error.get_attribute("role") == "alert"
    assert page.locator("#status").get_attribute("data-kind") == "error"
    assert page.locator("#send").is_enabled()


# The document's JavaScript, verbatim (indentation halved), with a stand-in for Livewire.
DOCUMENT_SCRIPT = """
window.__dispatched = [];
window.Livewire = {
  handlers: {},
  on(name, handler) { this.handlers[name] = handler; },
  dispatch(name, data) { window.__dispatched.push([name, data || null]); },
};
document.addEventListener('livewire:init', () => {
  Livewire.on('start-streaming', (data) => {
    const eventSource = new EventSource(`/api/stream-chat?task=${encodeURIComponent(data.task)}`);

    eventSource.onmessage = function(event) {
      const data = JSON.parse(event.data);

      if (data.type === 'chunk') {
        Livewire.dispatch('handleChunk', { chunk: data.chunk });
      } else if (data.type === 'complete') {
        eventSource.close();
        Livewire.dispatch('finishStreaming');
      }
    };
  });
});
document.dispatchEvent(new Event('livewire:init'));
Livewire.handlers['start-streaming']({ task: 'Hello from Livewire' });
"""


def test_the_documents_own_eventsource_code_works_unchanged(
    server: ProviderServer, serve_app: ServeApp, page: Any
) -> None:
    server.enqueue(stream_reply(openai_chunks(["Hi ", "from ", "Python."]), delay=0.02))
    app = serve_app()
    page.goto(f"{app.url}/")
    page.evaluate(DOCUMENT_SCRIPT)
    page.wait_for_function("window.__dispatched.some(([name]) => name === 'finishStreaming')")
    dispatched = page.evaluate("window.__dispatched")
    assert dispatched == [
        ["handleChunk", {"chunk": "Hi "}],
        ["handleChunk", {"chunk": "from "}],
        ["handleChunk", {"chunk": "Python."}],
        ["finishStreaming", None],
    ]
    assert server.requests[0].json()["messages"][1]["content"] == "Hello from Livewire"


def test_with_a_token_the_page_signs_in_from_the_fragment_and_chats(
    server: ProviderServer, serve_app: ServeApp, page: Any
) -> None:
    token = "page-token-0123456789abcdef"
    server.enqueue(stream_reply(openai_chunks(["Signed ", "in."])))
    app = serve_app({"LARAFLOWAI_API_TOKEN": token})

    page.goto(f"{app.url}/")
    page.locator("#token-form").wait_for()  # asks for the token first
    page.goto("about:blank")
    page.goto(f"{app.url}/#token={token}")
    page.wait_for_function("location.hash === ''")  # the token leaves the address bar
    page.locator("#token-form").wait_for(state="hidden")
    reply = send(page, "Hello")
    page.locator(".message.assistant[data-state='done']").wait_for()
    assert reply.locator(".body").text_content() == "Signed in."


def test_a_second_question_is_sent_with_the_first_turn_and_a_reload_keeps_them(
    server: ProviderServer, serve_app: ServeApp, page: Any
) -> None:
    """Issue 17: the chat page is a real multi-turn chat."""
    import httpx2

    server.enqueue(stream_reply(openai_chunks(["Nice to meet ", "you, **Ada**."]), delay=0.02))
    server.enqueue(stream_reply(openai_chunks(["Your name ", "is Ada."]), delay=0.02))
    app = serve_app()
    page.goto(f"{app.url}/")

    send(page, "My name is Ada.")
    page.locator(".message.assistant[data-state='done']").wait_for()
    send(page, "What is my name?")
    page.locator(".message.assistant[data-state='done']").nth(1).wait_for()

    second = server.requests[1].json()["messages"]
    assert second[1:] == [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Nice to meet you, **Ada**."},
        {"role": "user", "content": "What is my name?"},
    ]
    conversation_id = page.evaluate("localStorage.getItem('laraflowai.conversation')")
    assert conversation_id and len(conversation_id) == 32

    page.reload()
    page.locator("#messages[data-conversation='shown']").wait_for()
    snap(page, "chat-conversation-after-reload")
    assert page.locator(".message .body").all_text_contents() == [
        "My name is Ada.",
        "Nice to meet you, Ada.",
        "What is my name?",
        "Your name is Ada.",
    ]
    assert page.locator(".message.assistant strong").text_content() == "Ada"  # Markdown again

    page.click("#new-conversation")
    assert page.locator(".message").count() == 0
    assert page.evaluate("localStorage.getItem('laraflowai.conversation')") is None
    url = f"{app.url}/api/conversations/{conversation_id}"
    with httpx2.Client() as client:
        deadline = 50
        while client.get(url).status_code != 404 and deadline:
            page.wait_for_timeout(100)
            deadline -= 1
        assert client.get(url).status_code == 404  # the server forgot it too

    server.enqueue(stream_reply(openai_chunks(["Hello again."])))
    send(page, "Who am I?")
    page.locator(".message.assistant[data-state='done']").wait_for()
    assert server.requests[2].json()["messages"][1:] == [{"role": "user", "content": "Who am I?"}]


def test_a_conversation_the_server_forgot_is_said_and_the_next_message_starts_anew(
    server: ProviderServer, serve_app: ServeApp, page: Any
) -> None:
    import httpx2

    server.enqueue(stream_reply(openai_chunks(["First."])))
    app = serve_app()
    page.goto(f"{app.url}/")
    send(page, "Hello")
    page.locator(".message.assistant[data-state='done']").wait_for()
    conversation_id = page.evaluate("localStorage.getItem('laraflowai.conversation')")
    with httpx2.Client() as client:
        assert client.delete(f"{app.url}/api/conversations/{conversation_id}").status_code == 204

    reply = send(page, "Still there?")
    reply.locator(".error").wait_for()
    assert "has ended on the server" in reply.locator(".error").text_content()
    assert page.evaluate("localStorage.getItem('laraflowai.conversation')") is None

    server.enqueue(stream_reply(openai_chunks(["A new start."])))
    reply = send(page, "Still there?")
    page.locator(".message.assistant[data-state='done']").nth(2).wait_for()
    assert reply.locator(".body").text_content() == "A new start."
    assert server.requests[1].json()["messages"][1:] == [
        {"role": "user", "content": "Still there?"}
    ]
    fresh = page.evaluate("localStorage.getItem('laraflowai.conversation')")
    assert fresh and fresh != conversation_id


def test_under_laraflowai_serve_the_conversation_outlives_a_reload_and_a_restart(
    server: ProviderServer, page: Any, tmp_path: Path, conversation_dir: Path
) -> None:
    """The real `laraflowai serve` process, its conversations in the default
    SQLite file (the user's data directory): a second question goes with the
    first turn, and after the server restarts a reload still shows both."""
    from .test_serve import free_port, serve_env, start, stop, wait_until_serving

    server.enqueue(stream_reply(openai_chunks(["Hello, ", "Ada."]), delay=0.02))
    server.enqueue(stream_reply(openai_chunks(["You are ", "Ada."]), delay=0.02))
    port = free_port()
    env = serve_env(
        OPENAI_API_KEY="sk-test-0123456789abcdefghij",
        OPENAI_BASE_URL=f"{server.url}/v1",
        LARAFLOWAI_STREAMING_CACHE="false",
    )
    args = ["--port", str(port), "--provider", "openai"]
    process = start(args, env, tmp_path)
    try:
        wait_until_serving(process, port)
        page.goto(f"http://127.0.0.1:{port}/")
        send(page, "I am Ada.")
        page.locator(".message.assistant[data-state='done']").wait_for()
        send(page, "Who am I?")
        page.locator(".message.assistant[data-state='done']").nth(1).wait_for()
    finally:
        stop(process)
    assert server.requests[1].json()["messages"][1:3] == [
        {"role": "user", "content": "I am Ada."},
        {"role": "assistant", "content": "Hello, Ada."},
    ]
    assert list(conversation_dir.rglob("conversations.sqlite3"))

    process = start(args, env, tmp_path)
    try:
        wait_until_serving(process, port)
        page.reload()
        page.locator("#messages[data-conversation='shown']").wait_for()
        texts = page.locator(".message .body").all_text_contents()
    finally:
        stop(process)
    assert texts == ["I am Ada.", "Hello, Ada.", "Who am I?", "You are Ada."]
