"""The ASGI application: the chat page at `/` and the streaming API.

    uvicorn --factory laraflowai.web.app:create_app      # or: laraflowai serve

To add the API to your own Starlette app instead, mount `StreamRoutes(...).routes()`
and close its registry on shutdown (see the README's Browser section).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from .._config import Settings, get_settings
from .._exceptions import ConfigurationError
from ..broadcast import MemoryStreamRegistry, StreamRegistry
from ..crew import Agent, Crew
from ..streaming import aclose_clients
from . import ag_ui, openai_api, ui_stream
from ._requests import ChatConfig
from ._settings import WebSettings
from .auth import APIGuard
from .conversations import ConversationSettings, ConversationStore, open_conversations
from .limits import ClientLimits, LimitSettings, MemoryCounters, RedisCounters
from .metrics import StreamMetrics
from .routes import StreamRoutes
from .sse import SERVER_SEND
from .websocket import Authorize, WebSocketDelivery, WebSocketRoutes, WebSocketSettings

__all__ = ["create_app"]

_LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]", "::1"]
_PAGE_HEADERS = {
    # Defence in depth: the page renders model output with textContent only, and
    # even so no inline script, foreign script or plugin may run here.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class _App(Starlette):
    """Starlette, telling the SSE responses where the server's own `send` is
    (sse.SERVER_SEND) as long as every middleware is one of ours, none of
    which looks at a response body. Middleware added before the first
    request (Starlette refuses it after) turns that off."""

    _server_send = False

    def build_middleware_stack(self) -> ASGIApp:
        # Built once, on the first request: the middleware is known for good.
        self._server_send = all(m.cls in _OURS for m in self.user_middleware)
        return super().build_middleware_stack()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.middleware_stack is None:
            self.middleware_stack = self.build_middleware_stack()
        if self._server_send and scope["type"] == "http":
            scope[SERVER_SEND] = send
        await super().__call__(scope, receive, send)


_OURS: tuple[object, ...] = (TrustedHostMiddleware, ClientLimits, APIGuard)


def _registry(web: WebSettings, settings: Settings | None) -> StreamRegistry:
    if web.stream_store == "redis":
        try:
            from ..broadcast.redis import RedisStreamRegistry
        except ImportError:
            raise ConfigurationError(
                "LARAFLOWAI_STREAM_STORE=redis needs the redis extra: "
                'pip install "laraflowai[redis]"'
            ) from None
        url = (settings if settings is not None else get_settings()).redis_url
        if not url:
            raise ConfigurationError("LARAFLOWAI_STREAM_STORE=redis needs LARAFLOWAI_REDIS_URL")
        return RedisStreamRegistry(url, resume_grace=web.resume_grace, retention=web.retention)
    return MemoryStreamRegistry(resume_grace=web.resume_grace, retention=web.retention)


def _counters(registry: StreamRegistry) -> MemoryCounters | RedisCounters:
    client = getattr(registry, "client", None)  # the Redis registry's: shared limits
    return RedisCounters(client) if client is not None else MemoryCounters()


def _metrics(
    metrics: StreamMetrics | bool | None, settings: Settings | None, web: WebSettings
) -> StreamMetrics | None:
    if metrics is None:
        metrics = (settings if settings is not None else get_settings()).flag("LARAFLOWAI_METRICS")
    if metrics is True:
        return StreamMetrics(token=web.api_token)
    return metrics or None


def create_app(
    settings: Settings | None = None,
    *,
    provider: str | None = None,
    model: str | None = None,
    role: str = "Chat Assistant",
    goal: str = "Help users",
    api_key: str | None = None,
    base_url: str | None = None,
    options: Mapping[str, Any] | None = None,
    token: str | None = None,
    web: WebSettings | None = None,
    registry: StreamRegistry | None = None,
    allowed_hosts: Iterable[str] | None = None,
    allowed_origins: Iterable[str] = (),
    authorize: Authorize | None = None,
    agents: Mapping[str, Agent] | None = None,
    crews: Mapping[str, Crew] | None = None,
    metrics: StreamMetrics | bool | None = None,
    conversations: ConversationStore | None = None,
) -> Starlette:
    """The chat app. Settings come from the environment unless given; `token`
    (else LARAFLOWAI_API_TOKEN) protects the API routes. Without a token only
    loopback Host headers are accepted, unless `allowed_hosts` says otherwise
    (this stops DNS-rebinding pages from reaching a server bound to 127.0.0.1).
    `authorize(request, channel)` decides who may join a private WebSocket
    channel (default: any caller the API lets in, for this app's channels).
    `agents` are the models `/v1/chat/completions` offers by name (default: the
    configured agent as `laraflowai`); `crews` too, next to them. A request to
    `/api/chat` (`model`) or `/api/ag-ui` (`forwardedProps.model`) may name
    one of either; without a name the configured agent answers.
    `metrics=True` (or LARAFLOWAI_METRICS) serves Prometheus metrics at
    `/metrics` and records a span per stream.
    `conversations` keeps the chat's conversations (default: the store the
    LARAFLOWAI_CONVERSATION_* settings name, see web/conversations.py)."""
    web = web if web is not None else WebSettings.from_settings(settings)
    sockets = WebSocketSettings.from_settings(settings)
    limits = LimitSettings.from_settings(settings)
    if token is not None:
        web = web.replace(api_token=token)
    if registry is None:
        registry = _registry(web, settings)
    chat = ChatConfig(
        role=role,
        goal=goal,
        provider=provider,
        model=model,
        api_key=api_key,
        base_url=base_url,
        options=dict(options or {}),
        settings=settings,
    )
    observer = _metrics(metrics, settings, web)
    jobs = None
    if web.queue == "redis":
        from ..jobs import StreamJobs

        jobs = StreamJobs(settings, registry=registry)
    if conversations is None:
        conversations = open_conversations(ConversationSettings.from_settings(settings))
    api = StreamRoutes(
        registry, web, chat, observer=observer, jobs=jobs, conversations=conversations
    )
    delivery = WebSocketDelivery(registry, sockets, jobs=jobs, observer=observer)
    websocket = WebSocketRoutes(
        delivery,
        web,
        chat,
        authorize=authorize,
        allowed_origins=allowed_origins,
        conversations=conversations,
    )
    static = resources.files("laraflowai.web") / "static"

    async def page(request: Request) -> Response:
        return FileResponse(str(static / "index.html"), headers=_PAGE_HEADERS)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await delivery.aclose()
            await registry.aclose()
            if conversations is not None:
                await conversations.aclose()
            # The provider connections of this event loop go with it.
            await aclose_clients()

    hosts = (
        list(allowed_hosts)
        if allowed_hosts is not None
        else (["*"] if web.api_token is not None else _LOOPBACK_HOSTS)
    )
    app = _App(
        routes=[
            Route("/", page, methods=["GET"]),
            *api.routes(),
            *websocket.routes(),
            *ui_stream.routes(chat=chat, web=web, agents=agents, crews=crews),
            *ag_ui.routes(chat=chat, web=web, agents=agents, crews=crews),
            *openai_api.routes(agents, chat=chat, web=web, crews=crews),
            *(observer.routes() if observer is not None else []),
            Mount("/static", StaticFiles(directory=str(static)), name="static"),
        ],
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=hosts),
            Middleware(ClientLimits, limits=limits, counters=_counters(registry)),
            Middleware(APIGuard, token=web.api_token, allowed_origins=allowed_origins),
            Middleware(
                APIGuard, token=web.api_token, allowed_origins=allowed_origins, prefix="/v1/"
            ),
        ],
        lifespan=lifespan,
    )
    app.state.streams = registry
    app.state.web = web
    app.state.websocket = delivery
    app.state.conversations = conversations
    return app
