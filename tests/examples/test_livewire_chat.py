"""examples/livewire_chat.py, the document's Livewire component in Python,
run as a user runs it (its own uvicorn, in a process of its own) against the
local provider server, and used in real Chromium: the assistant's message is
server-rendered HTML that grows live to the whole answer, a second question
goes with the first turn, and model output stays text. Issue 17."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import API_KEY, require
from tests.servers import ProviderServer, openai_chunks, stream_reply

require("playwright", "the browser tests (the test extra)")

from tests.web.test_browser import ARTIFACTS, browser  # noqa: E402

__all__ = ["browser"]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "livewire_chat.py"
GROWTH = """
window.__texts = [];
new MutationObserver(() => {
  const body = document.querySelector('.message.assistant:last-of-type .body');
  if (body) window.__texts.push(body.textContent);
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def example(server: ProviderServer, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")},
        "LARAFLOWAI_DEFAULT_PROVIDER": "openai",
        "OPENAI_API_KEY": API_KEY,
        "OPENAI_BASE_URL": f"{server.url}/v1",
        "LARAFLOWAI_STREAMING_BUFFER_SIZE": "1",
        "LARAFLOWAI_STREAMING_CACHE": "false",
        "LARAFLOWAI_MAX_RETRIES": "0",
    }
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--port", str(port)],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read() if process.stdout else ""
                    raise AssertionError(f"the example did not start:\n{output}") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)
        output = process.stdout.read() if process.stdout else ""
        if process.stdout:
            process.stdout.close()
        assert "Traceback" not in output, output


def test_the_livewire_example_streams_server_rendered_html_live_to_the_end(
    server: ProviderServer, example: str, browser: Any
) -> None:
    words = ["Server ", "rendered ", "<b>HTML</b> ", "grows ", "token ", "by ", "token."]
    server.enqueue(stream_reply(openai_chunks(words), delay=0.08))
    server.enqueue(stream_reply(openai_chunks(["You asked ", "about HTML."]), delay=0.02))
    # The test's own scripts are evaluated: without the page's CSP (checked below).
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.add_init_script(GROWTH)
    try:
        loaded = page.goto(f"{example}/")
        assert "script-src 'self'" in loaded.headers["content-security-policy"]
        assert page.locator("script:not([src])").count() == 0
        page.fill("#composer input", "Tell me about rendering")
        page.press("#composer input", "Enter")
        page.locator(".message.assistant").first.wait_for()
        page.wait_for_function(
            "document.querySelector('.message.assistant') &&"
            " !document.querySelector('.message.streaming') &&"
            " !document.querySelector('#composer input').disabled"
        )
        first = page.locator(".message.assistant .body").first.text_content()
        texts = list(dict.fromkeys(t for t in page.evaluate("window.__texts") if t))

        page.fill("#composer input", "What did I ask?")
        page.press("#composer input", "Enter")
        page.wait_for_function(
            "document.querySelectorAll('.message.assistant').length === 2 &&"
            " !document.querySelector('.message.streaming')"
        )
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "livewire-example.png"))
        bodies = page.locator(".message .body").all_text_contents()
        bold = page.locator(".message b").count()
    finally:
        context.close()

    assert first == "".join(words)
    assert len(texts) >= 4, texts  # it grew live, not in one piece
    assert all(b.startswith(a) for a, b in zip(texts, texts[1:], strict=False))
    assert bold == 0  # the model's <b> is text
    assert bodies == [
        "Tell me about rendering",
        "".join(words),
        "What did I ask?",
        "You asked about HTML.",
    ]
    assert server.requests[1].json()["messages"][1:] == [
        {"role": "user", "content": "Tell me about rendering"},
        {"role": "assistant", "content": "".join(words)},
        {"role": "user", "content": "What did I ask?"},
    ]
    assert problems == []
