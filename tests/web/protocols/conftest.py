"""The protocol routes mounted the way `create_app` mounts the API: behind the
loopback Host check and `APIGuard` (for `/api/` and for `/v1/`), served by
uvicorn on a free loopback port and answering from the local provider server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

from laraflowai import Agent, Crew, Settings
from laraflowai.streaming import aclose_clients
from laraflowai.web import APIGuard, ChatConfig, WebSettings, ag_ui, openai_api, ui_stream
from tests.conftest import API_KEY
from tests.servers import ProviderServer
from tests.web.conftest import BASE_ENV
from tests.web.servers import AppServer

ServeProtocols = Callable[..., AppServer]
LOOPBACK = ["127.0.0.1", "localhost", "[::1]", "::1"]


def protocol_app(
    chat: ChatConfig,
    web: WebSettings,
    agents: Mapping[str, Agent] | None = None,
    crews: Mapping[str, Crew] | None = None,
) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await aclose_clients()

    return Starlette(
        routes=[
            *openai_api.routes(agents, chat=chat, web=web, crews=crews),
            *ui_stream.routes(chat=chat, web=web, agents=agents, crews=crews),
            *ag_ui.routes(chat=chat, web=web, agents=agents, crews=crews),
        ],
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=["*"] if web.api_token else LOOPBACK),
            Middleware(APIGuard, token=web.api_token),
            Middleware(APIGuard, token=web.api_token, prefix="/v1/"),
        ],
        lifespan=lifespan,
    )


@pytest.fixture
def serve_protocols(server: ProviderServer) -> Iterator[ServeProtocols]:
    """Start the app; `agents` and `crews` map model names to agents (made by
    `make_web_agent` below) and crews."""
    started: list[AppServer] = []

    def serve(
        env: dict[str, str] | None = None,
        *,
        agents: Mapping[str, Agent] | None = None,
        crews: Mapping[str, Crew] | None = None,
        token: str | None = None,
        **chat: Any,
    ) -> AppServer:
        settings = Settings.from_env({**BASE_ENV, **(env or {})})
        chat.setdefault("provider", "openai")
        chat.setdefault("base_url", f"{server.url}/v1")
        chat.setdefault("api_key", API_KEY)
        config = ChatConfig(settings=settings, **chat)
        web = WebSettings.from_settings(settings)
        if token is not None:
            web = web.replace(api_token=token)
        app = AppServer(protocol_app(config, web, agents, crews)).start()
        started.append(app)
        return app

    yield serve
    for app in started:
        app.stop()


@pytest.fixture
def make_web_agent(server: ProviderServer) -> Callable[..., Agent]:
    def make(role: str, goal: str, provider: str = "openai", **kwargs: Any) -> Agent:
        settings = Settings.from_env(BASE_ENV)
        return Agent(
            role,
            goal,
            provider,
            base_url=f"{server.url}/v1",
            api_key=API_KEY,
            settings=settings,
            **kwargs,
        )

    return make


@pytest.fixture(scope="session")
def js_clients() -> Path:
    """tests/js installed (once per lock file) in a temporary folder."""
    from .node import install_js

    return install_js()
