"""The web app served on a free loopback port, answering from the local
provider server, with settings given per test."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.cache.conftest import redis_server, redis_url
from tests.conftest import API_KEY
from tests.servers import ProviderServer

_MISSING = [m for m in ("starlette", "uvicorn", "httpx_sse") if importlib.util.find_spec(m) is None]
if _MISSING:
    # Like tests.conftest.require: with CI=true a missing component fails, never skips.
    message = f"{', '.join(_MISSING)} not installed; run `bash scripts/test` (web, test extras)"
    if os.environ.get("CI", "").lower() == "true":
        raise RuntimeError(message)
    collect_ignore_glob = ["test_*.py"]
    ServeApp = Callable[..., Any]
else:
    import httpx2

    from laraflowai import Settings
    from laraflowai.web import create_app

    from .servers import AppServer, GranianAppServer

    ServeApp = Callable[..., AppServer | GranianAppServer]

__all__ = ["BASE_ENV", "ServeApp", "redis_server", "redis_url"]

# Exact chunks (no coalescing), quick reconnects; each test may change any of it.
BASE_ENV = {
    "LARAFLOWAI_STREAMING_BUFFER_SIZE": "1",
    "LARAFLOWAI_SSE_RETRY_TIMEOUT": "1500",
    "LARAFLOWAI_SSE_KEEP_ALIVE": "30",
    "LARAFLOWAI_SSE_RESUME_GRACE": "5",
    "LARAFLOWAI_SSE_RETENTION": "60",
    "LARAFLOWAI_MAX_RETRIES": "0",
    # These tests watch the upstream request itself: no answers replayed from the cache.
    "LARAFLOWAI_STREAMING_CACHE": "false",
}


@pytest.fixture(autouse=True)
def conversation_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    """The default conversation store (a file in the user's data directory):
    a fresh one per test."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user-data"))
    return tmp_path / "user-data"


@pytest.fixture
def serve_app(server: ProviderServer) -> Iterator[ServeApp]:
    """Start the app with `env` over BASE_ENV, on uvicorn or with `on="granian"`;
    other keyword arguments go to create_app."""
    started: list[AppServer | GranianAppServer] = []

    def serve(
        env: dict[str, str] | None = None, on: str = "uvicorn", **kwargs: Any
    ) -> AppServer | GranianAppServer:
        settings = Settings.from_env({**BASE_ENV, **(env or {})})
        kwargs.setdefault("provider", "openai")
        kwargs.setdefault("base_url", f"{server.url}/v1")
        kwargs.setdefault("api_key", API_KEY)
        runner = GranianAppServer if on == "granian" else AppServer
        app = runner(create_app(settings, **kwargs)).start()
        started.append(app)
        return app

    yield serve
    for app in started:
        app.stop()


@pytest.fixture
def client() -> Iterator[httpx2.Client]:
    with httpx2.Client(timeout=httpx2.Timeout(10, read=10)) as client:
        yield client
