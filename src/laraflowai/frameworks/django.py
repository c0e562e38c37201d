"""Django: streamed answers from views, settings from Django's settings.

    # settings.py (optional: else the environment and .env, as everywhere)
    LARAFLOWAI = {"OPENAI_API_KEY": "...", "LARAFLOWAI_STREAMING_BUFFER_SIZE": "20"}

    # views.py
    from laraflowai import FlowAI
    from laraflowai.frameworks.django import settings, sse_response

    agent = FlowAI.agent("Chat Assistant", "Help users", settings=settings())

    async def chat(request):                     # under ASGI (uvicorn, daphne)
        return sse_response(agent.astream(request.GET["task"]))

    def chat_sync(request):                      # under WSGI
        return sse_response(agent.stream(request.GET["task"]))

`urlpatterns` below serve the document's route, `stream-chat?task=...`, with the
agent `ChatAssistant` answering: `path("api/", include("laraflowai.frameworks.django"))`.
Under ASGI a client that leaves closes the provider request at once; under
WSGI when the next chunk cannot be written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from django.conf import settings as django_settings
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.urls import path

from .._config import Settings
from .._exceptions import ConfigurationError, LaraFlowAIError
from ._sse import SSE_HEADERS, SSE_MEDIA_TYPE, asse_frames, sse_frames

__all__ = ["settings", "sse_response", "stream_chat", "urlpatterns"]

_settings: Settings | None = None


def settings() -> Settings:
    """laraflowai's settings with Django's `LARAFLOWAI` dict (variable names as in
    the environment) over the environment; read once."""
    global _settings
    if _settings is None:
        overrides = getattr(django_settings, "LARAFLOWAI", {}) or {}
        if not isinstance(overrides, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str | int | float | bool) for k, v in
            overrides.items()
        ):  # fmt: skip
            raise ConfigurationError(
                "settings.LARAFLOWAI must be a dict of variable names to values, "
                'e.g. {"LARAFLOWAI_STREAMING_BUFFER_SIZE": "20"}'
            )
        values = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in
                  overrides.items()}  # fmt: skip
        _settings = Settings.from_env({**os.environ, **values})
    return _settings


def sse_response(source: Any, *, headers: Mapping[str, str] | None = None) -> StreamingHttpResponse:
    """A `StreamingHttpResponse` of the SSE frames of `source`: an async iterator
    for `astream()` (ASGI), a sync one for `stream()` (WSGI)."""
    frames: Any = asse_frames(source) if hasattr(source, "__aiter__") else sse_frames(source)
    response = StreamingHttpResponse(frames, content_type=SSE_MEDIA_TYPE)
    for name, value in {**SSE_HEADERS, **(headers or {})}.items():
        response[name] = value
    return response


async def stream_chat(request: HttpRequest) -> StreamingHttpResponse | JsonResponse:
    """The document's route: `GET stream-chat?task=...`, answered by the
    document's agent ('Chat Assistant', 'Help users')."""
    from ..crew import Agent

    task = request.GET.get("task", "").strip()
    if not task:
        return JsonResponse(
            {"error": {"type": "invalid_request", "message": "task is required", "param": "task"}},
            status=400,
        )
    try:
        agent = Agent("Chat Assistant", "Help users", settings=settings())
        response = agent.astream(task)
    except LaraFlowAIError as error:
        return JsonResponse({"error": {"type": error.kind, "message": str(error)}}, status=400)
    return sse_response(response)


urlpatterns = [path("stream-chat", stream_chat, name="laraflowai-stream-chat")]
