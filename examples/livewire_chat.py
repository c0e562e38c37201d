"""The document's Livewire chat component, in Python: the server owns the
component's state and renders its HTML; the page shows it updated live, token
by token, as the agent streams.

    python examples/livewire_chat.py            # then open http://127.0.0.1:8000/
    uvicorn examples.livewire_chat:app          # the same, under uvicorn yourself

`ChatComponent` keeps the document's state (`messages`, `current_message`,
`is_streaming`, `streaming_content`) and its methods (`send_message`,
`start_streaming`, `handle_chunk`, `finish_streaming`). As in Livewire, a
browser action goes to the server and comes back as rendered HTML: sending a
message returns the re-rendered component; the answer then streams as SSE
events whose data is the re-rendered assistant message, which the page swaps
in place. Each question goes with the turns before it, so the chat is
multi-turn.

Why plain JavaScript and not HTMX with its SSE extension: the client side is
the ~20 lines at the bottom of `PAGE` (post the form, swap the returned HTML,
swap each SSE event's HTML into the message it names). HTMX would do the same
with two vendored files (~50 KB) and attributes to learn; and nothing is
fetched from a CDN, so the page works offline and under a strict CSP
(`script-src 'self'`: the script is served at /chat.js, not inline).
"""

from __future__ import annotations

import html
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import Route

from laraflowai import Agent, FlowAI

MAX_COMPONENTS = 1000  # sessions kept in memory; the oldest goes first
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' "
    "'unsafe-inline'; connect-src 'self'; object-src 'none'; base-uri 'none'",
    "Cache-Control": "no-cache",
}


@dataclass
class ChatComponent:
    """The document's ChatComponent: state and actions; `render()` is its view."""

    agent: Agent
    messages: list[dict[str, Any]] = field(default_factory=list)
    current_message: str = ""
    is_streaming: bool = False
    streaming_content: str = ""
    error: str = ""
    pending_task: str | None = None

    def send_message(self) -> None:
        task = self.current_message.strip()
        if not task:  # validate(['currentMessage' => 'required|string'])
            self.error = "The message field is required."
            return
        if self.is_streaming:
            self.error = "Wait for the answer to finish."
            return
        self.error = ""
        self.messages.append({"type": "user", "content": task})
        self.start_streaming(task)
        self.current_message = ""

    def start_streaming(self, task: str) -> None:
        self.is_streaming = True
        self.streaming_content = ""
        self.messages.append({"type": "assistant", "content": "", "is_streaming": True})
        self.pending_task = task  # what the page's EventSource asks the server to stream

    def handle_chunk(self, chunk: str) -> None:
        if self.is_streaming:
            self.streaming_content += chunk
            self.messages[-1]["content"] = self.streaming_content

    def finish_streaming(self, error: str = "") -> None:
        self.is_streaming = False
        self.messages[-1]["is_streaming"] = False
        self.messages[-1]["error"] = error

    def history(self) -> list[dict[str, str]]:
        """The finished turns before the question being answered."""
        done = [m for m in self.messages[:-2] if not m.get("is_streaming") and not m.get("error")]
        return [
            {"role": "user" if m["type"] == "user" else "assistant", "content": m["content"]}
            for m in done
        ]

    def render_message(self, index: int) -> str:
        message = self.messages[index]
        state = " streaming" if message.get("is_streaming") else ""
        error = message.get("error")
        note = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
        return (
            f'<article id="message-{index}" class="message {message["type"]}{state}">'
            f'<div class="body">{html.escape(message["content"])}</div>{note}</article>'
        )

    def render(self) -> str:
        messages = "".join(self.render_message(i) for i in range(len(self.messages)))
        disabled = " disabled" if self.is_streaming else ""
        error = f'<p class="error">{html.escape(self.error)}</p>' if self.error else ""
        streaming = ' data-streaming="true"' if self.pending_task else ""
        return (
            f'<div id="chat"{streaming}><main id="messages">{messages}</main>'
            f'<form id="composer" method="post" action="send">{error}'
            f'<input name="current_message" value="{html.escape(self.current_message)}" '
            f'placeholder="Ask something…" autocomplete="off"{disabled}>'
            f'<button type="submit"{disabled}>Send</button></form></div>'
        )


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Livewire-style chat</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; }
.message { border: 1px solid #ccc; border-radius: .5rem; padding: .5rem .8rem; margin: .5rem 0; }
.message.user { background: #dbeafe; } .body { white-space: pre-wrap; }
.message.streaming .body::after { content: "▍"; } .error { color: #b42318; }
form { display: flex; gap: .5rem; } input { flex: 1; padding: .4rem; }
</style>
<script src="chat.js" defer></script></head>
<body><h1>Chat</h1>%s</body></html>"""

SCRIPT = """// Livewire's round trip in plain JS: actions go to the server, HTML comes back.
function swap(id, html) {
  const old = document.getElementById(id);
  const range = document.createRange();
  old.replaceWith(range.createContextualFragment(html));
}
function stream() {
  const source = new EventSource("stream");
  source.addEventListener("chunk", (event) => {
    const id = event.data.match(/id="(message-\\d+)"/)[1];
    swap(id, event.data);
  });
  source.addEventListener("complete", (event) => {
    source.close();
    swap("chat", event.data);
  });
  source.onerror = () => source.close();
}
document.addEventListener("submit", async (event) => {
  event.preventDefault();
  const response = await fetch("send", {
    method: "POST",
    body: new URLSearchParams(new FormData(event.target)),
  });
  swap("chat", await response.text());
  if (document.getElementById("chat").dataset.streaming) stream();
  document.querySelector("#composer input").focus();
});
"""


class ChatApp:
    """One ChatComponent per browser session (a cookie), as Livewire keeps one per page."""

    def __init__(self, agent: Agent | None = None) -> None:
        self.agent = agent
        self.components: dict[str, ChatComponent] = {}

    def component(self, request: Request) -> tuple[str, ChatComponent]:
        key = request.cookies.get("chat")
        if key is None or key not in self.components:
            key = secrets.token_urlsafe(18)
            if len(self.components) >= MAX_COMPONENTS:
                del self.components[next(iter(self.components))]
            agent = self.agent or FlowAI.agent("Chat Assistant", "Help users")
            self.agent = agent
            self.components[key] = ChatComponent(agent)
        return key, self.components[key]

    def _html(self, key: str, body: str) -> HTMLResponse:
        response = HTMLResponse(body, headers=HEADERS)
        response.set_cookie("chat", key, httponly=True, samesite="strict")
        return response

    async def page(self, request: Request) -> Response:
        key, component = self.component(request)
        return self._html(key, PAGE % component.render())

    async def script(self, request: Request) -> Response:
        return Response(SCRIPT, media_type="text/javascript", headers=HEADERS)

    async def send(self, request: Request) -> Response:
        key, component = self.component(request)
        # A URL-encoded form (Starlette's request.form() would need python-multipart).
        body = await request.body()
        form = parse_qs(body[:65536].decode("utf-8", "replace"), max_num_fields=10)
        component.current_message = form.get("current_message", [""])[0]
        component.send_message()
        return self._html(key, component.render())

    async def stream(self, request: Request) -> Response:
        _, component = self.component(request)
        task, component.pending_task = component.pending_task, None
        if task is None or not component.is_streaming:
            return Response(status_code=204)  # nothing to stream: EventSource stops
        return StreamingResponse(
            self._events(component, task),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def _events(self, component: ChatComponent, task: str) -> AsyncIterator[str]:
        index = len(component.messages) - 1
        error = ""
        try:
            async with component.agent.astream(task, history=component.history()) as response:
                async for chunk in response:
                    component.handle_chunk(chunk)
                    yield _event("chunk", component.render_message(index))
        except Exception:  # the message says it; the details stay in the server's log
            error = "The answer could not be completed."
        finally:
            component.finish_streaming(error)  # also when the browser left
        yield _event("complete", component.render())


def _event(name: str, data: str) -> str:
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"event: {name}\n{lines}\n"


def create_app(agent: Agent | None = None) -> Starlette:
    chat = ChatApp(agent)
    return Starlette(
        routes=[
            Route("/", chat.page),
            Route("/chat.js", chat.script),
            Route("/send", chat.send, methods=["POST"]),
            Route("/stream", chat.stream),
        ]
    )


app = create_app()

if __name__ == "__main__":
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    arguments = parser.parse_args()
    uvicorn.run(app, host=arguments.host, port=arguments.port)
