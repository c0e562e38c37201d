"""The chat page's WebSocket mode in real Chromium: its own small client of the
Pusher protocol against the builtin server, live, and resumed after a cut."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.pusher.conftest import BUILTIN
from tests.servers import ProviderServer, Sleep, openai_chunks, stream_reply
from tests.web.servers import CutProxy
from tests.web.test_browser import ARTIFACTS, browser, page

__all__ = ["browser", "page"]


def ask(page: Any, text: str) -> Any:
    page.locator("#mode").select_option("websocket")
    page.fill("#message", text)
    page.click("#send")
    return page.locator(".message.assistant").last


def test_the_page_streams_an_answer_over_its_pusher_client(
    server: ProviderServer, serve: Any, page: Any
) -> None:
    pieces = ["Over **the** ", "socket, ", "word by word."]
    server.enqueue(stream_reply(openai_chunks(pieces), delay=0.1))
    app = serve(BUILTIN)
    page.goto(f"{app.url}/")
    page.locator("#mode").wait_for(state="visible")
    reply = ask(page, "Hello over WebSocket")
    page.locator(".message.assistant[data-state='done']").wait_for()
    assert reply.get_attribute("data-mode") == "websocket"
    assert reply.locator(".body").text_content() == "Over the socket, word by word."
    assert reply.locator(".body strong").text_content() == "the"
    frames = page.evaluate("window.__frames.map(f => f.text)")
    assert any(text == "Over the " for text in frames)  # it grew live, chunk by chunk
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(Path(ARTIFACTS) / "websocket-mode.png"))


def test_a_cut_socket_reconnects_and_resumes_after_the_last_event(
    server: ProviderServer, serve: Any, page: Any
) -> None:
    before, after = ["Before the cut, "], ["after ", "the cut."]
    events = openai_chunks(before + after)
    steps = [
        *stream_reply(events[:1]).steps,
        Sleep(2.5),  # the socket is cut meanwhile; the page reconnects after 1 s
        *stream_reply(events[1:], delay=0.1).steps,
    ]
    server.enqueue(stream_reply([], then=steps))
    app = serve(BUILTIN)
    proxy = CutProxy(app.port)
    try:
        page.goto(f"{proxy.url}/")
        page.locator("#mode").wait_for(state="visible")
        reply = ask(page, "Survive a dropped socket")
        page.wait_for_function(
            "document.querySelector('.message.assistant .body')?.textContent === 'Before the cut, '"
        )
        assert proxy.cut() >= 1
        page.locator(".message.assistant[data-state='done']").wait_for(timeout=15_000)
    finally:
        proxy.close()
    assert reply.locator(".body").text_content() == "".join(before + after)
