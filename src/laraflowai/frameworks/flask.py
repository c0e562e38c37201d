"""Flask: a streamed answer from a synchronous view.

    from flask import Flask, request
    from laraflowai import FlowAI
    from laraflowai.frameworks.flask import sse_response

    app = Flask(__name__)
    agent = FlowAI.agent("Chat Assistant", "Help users")

    @app.get("/chat")
    def chat():
        return sse_response(agent.stream(request.args["task"]))

WSGI gives a view no word of a client that left: the provider request is
closed when the next chunk cannot be written (the idle limit bounds a silence).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response, stream_with_context

from ._sse import SSE_HEADERS, SSE_MEDIA_TYPE, sse_frames

__all__ = ["sse_response"]


def sse_response(source: Any, *, headers: Mapping[str, str] | None = None) -> Response:
    """A streamed `Response` of the SSE frames of `agent.stream(...)` or `crew.stream()`."""
    return Response(
        stream_with_context(sse_frames(source)),
        mimetype=SSE_MEDIA_TYPE,
        headers={**SSE_HEADERS, **(headers or {})},
        direct_passthrough=True,
    )
