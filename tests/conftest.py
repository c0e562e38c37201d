"""Shared fixtures: a real local provider server, clean settings, no real hosts."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

import laraflowai
from laraflowai._config import PROVIDER_ENV, reset_settings
from laraflowai.cache import close_stores
from laraflowai.streaming import aclose_clients, close_clients
from tests.servers import ProviderServer

API_KEY = "sk-test-0123456789abcdefghij"

_real_getaddrinfo = socket.getaddrinfo
_LOOPBACK = {"127.0.0.1", "::1", "localhost", None}


def _loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
    # Tests must never reach a real provider: only loopback names resolve.
    if isinstance(host, bytes):
        host = host.decode()
    if host not in _LOOPBACK and not str(host).startswith("127."):
        raise OSError(f"tests may only connect to loopback, not {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _loopback_only


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[None]:
    """Each test starts from the documented defaults: no provider variables, no
    LARAFLOWAI_* variables, no .env file, no code overrides; and an empty stream
    cache of its own (caching stays on, as by default), also for the processes
    it starts."""
    for name in list(os.environ):
        if name.startswith(("LARAFLOWAI_", "OLLAMA_")):
            monkeypatch.delenv(name)
    for prefix in PROVIDER_ENV.values():
        for suffix in ("_API_KEY", "_MODEL", "_BASE_URL"):
            monkeypatch.delenv(prefix + suffix, raising=False)
    # The default sqlite store lives in the user's cache directory: a fresh one per test.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    monkeypatch.chdir(tmp_path)
    reset_settings()
    yield
    reset_settings()
    close_clients()
    close_stores()


@pytest.fixture
async def async_clients() -> AsyncIterator[None]:
    """Close the event loop's shared HTTP client when an async test ends."""
    yield
    await aclose_clients()


@pytest.fixture(scope="session")
def _server() -> Iterator[ProviderServer]:
    with ProviderServer() as server:
        yield server


@pytest.fixture
def server(_server: ProviderServer) -> Iterator[ProviderServer]:
    _server.reset()
    yield _server
    _server.reset()


@pytest.fixture
def make_agent(server: ProviderServer) -> Callable[..., laraflowai.Agent]:
    """An agent of an OpenAI-compatible provider pointed at the local server."""

    def make(
        role: str = "Content Writer",
        goal: str = "Create engaging content",
        provider: str = "openai",
        **kwargs: Any,
    ) -> laraflowai.Agent:
        kwargs.setdefault("base_url", f"{server.url}/v1")
        kwargs.setdefault("api_key", API_KEY)
        return laraflowai.FlowAI.agent(role, goal, provider, **kwargs)

    return make


def require(module: str, why: str) -> None:
    """Skip a test whose optional component is missing; with CI=true a missing
    component is a failure, never a skip."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        message = f"{module} is not installed ({why}); run `bash scripts/test` to install it"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
