"""FastAPI (and Starlette): a streamed answer as a response, and the whole
laraflowai API (SSE, crews, WebSocket, the protocols) mounted in your app.

    from fastapi import FastAPI
    from laraflowai import FlowAI
    from laraflowai.frameworks.fastapi import mount, sse_response

    app = FastAPI()
    agent = FlowAI.agent("Chat Assistant", "Help users")

    @app.get("/chat")
    async def chat(task: str):
        return sse_response(agent.astream(task))

    mount(app, "/laraflowai")        # its page and API under /laraflowai/
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.responses import StreamingResponse as StarletteStreamingResponse

from ._sse import SSE_HEADERS, SSE_MEDIA_TYPE, asse_frames, sse_frames

__all__ = ["mount", "sse_response"]


def sse_response(source: Any, *, headers: Mapping[str, str] | None = None) -> Any:
    """A `StreamingResponse` of the SSE frames of `source` (an agent's `astream()`
    or `stream()`, or a crew's). A client that leaves closes the provider request."""
    # A sync stream's frames are iterated by Starlette in a thread.
    frames: Any = asse_frames(source) if hasattr(source, "__aiter__") else sse_frames(source)
    return StarletteStreamingResponse(
        frames, media_type=SSE_MEDIA_TYPE, headers={**SSE_HEADERS, **(headers or {})}
    )


def mount(app: Any, path: str = "/laraflowai", **options: Any) -> Any:
    """Mount `create_app(**options)` at `path` in `app` (FastAPI or Starlette),
    with its access rules, and run its lifespan inside `app`'s, so its streams
    stop and its connections close when `app` shuts down. Returns the mounted app."""
    from ..web import create_app

    sub = create_app(**options)
    app.mount(path, sub)
    outer = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(parent: Any) -> AsyncIterator[Any]:
        async with sub.router.lifespan_context(sub), outer(parent) as state:
            yield state

    app.router.lifespan_context = lifespan
    return sub
