"""Limits for operators: how much one client may ask of the server.

A client is the token it sends (a bearer token, or the chat page's session
cookie), else its address; a client without a token on the server's own
machine (loopback) is not limited: that is the owner, or a benchmark. Behind
a reverse proxy on the same machine, uvicorn takes the client's address from
X-Forwarded-For (its default for a proxy on 127.0.0.1), so clients are told
apart. Per client: requests per minute on the API routes, streams open at
once, and the size of a request body. Past a limit the answer is 429 with
`Retry-After` (413 for a body), before any provider is called. With the Redis
stream store the counts are shared by every process.

    LARAFLOWAI_RATE_LIMIT            600      requests per minute per client (0: no limit)
    LARAFLOWAI_MAX_CONCURRENT_STREAMS 20      streams open at once per client (0: no limit)
    LARAFLOWAI_MAX_BODY_BYTES        1048576  largest request body
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import math
import time
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._config import Settings, get_settings
from .._exceptions import ConfigurationError
from ._headers import header_map
from .auth import SESSION_COOKIE

__all__ = ["ClientLimits", "LimitSettings", "MemoryCounters", "RedisCounters"]

_GUARDED = ("/api/", "/v1/", "/broadcasting/")
_STREAMS = frozenset(
    {"/api/stream-chat", "/api/stream-crew", "/api/chat", "/api/ag-ui", "/v1/chat/completions",
     "/api/stream-chat-websocket"}
)  # fmt: skip
_WINDOW = 60


def _whole(settings: Settings, name: str, default: int, largest: int) -> int:
    raw = settings.env(name)
    if raw is None or not raw.strip():
        return default
    value = raw.strip()
    if not value.isdigit() or int(value) > largest:
        raise ConfigurationError(f"{name} must be a whole number from 0 to {largest}, got {raw!r}")
    return int(value)


@dataclass(frozen=True, slots=True)
class LimitSettings:
    requests_per_minute: int = 600
    concurrent_streams: int = 20
    max_body_bytes: int = 1024 * 1024

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> LimitSettings:
        settings = settings if settings is not None else get_settings()
        return cls(
            _whole(settings, "LARAFLOWAI_RATE_LIMIT", 600, 10**9),
            _whole(settings, "LARAFLOWAI_MAX_CONCURRENT_STREAMS", 20, 10**6),
            _whole(settings, "LARAFLOWAI_MAX_BODY_BYTES", 1024 * 1024, 1024**3),
        )


class MemoryCounters:
    """The counts of this process."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, int]] = {}
        self._open: dict[str, int] = {}

    async def hit(self, client: str) -> tuple[int, float]:
        """Count a request; the count in this minute and the seconds until the next."""
        now = time.time()
        window = int(now // _WINDOW)
        started, count = self._windows.get(client, (window, 0))
        count = count + 1 if started == window else 1
        self._windows[client] = (window, count)
        if len(self._windows) > 100_000:  # forget the clients of past minutes
            self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
        return count, (window + 1) * _WINDOW - now

    async def open(self, client: str) -> int:
        self._open[client] = self._open.get(client, 0) + 1
        return self._open[client]

    async def close(self, client: str) -> None:
        left = self._open.get(client, 1) - 1
        if left > 0:
            self._open[client] = left
        else:
            self._open.pop(client, None)


class RedisCounters:
    """The counts of every process, in Redis (a client of `redis.asyncio`)."""

    def __init__(self, client: Any, prefix: str = "laraflowai:limits") -> None:
        self._client = client
        self._prefix = prefix

    async def hit(self, client: str) -> tuple[int, float]:
        now = time.time()
        window = int(now // _WINDOW)
        key = f"{self._prefix}:rate:{client}:{window}"
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, _WINDOW * 2)
            count, _ = await pipe.execute()
        return int(count), (window + 1) * _WINDOW - now

    async def open(self, client: str) -> int:
        key = f"{self._prefix}:open:{client}"
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, 3600)  # a process that died holding streams is forgotten
            count, _ = await pipe.execute()
        return int(count)

    async def close(self, client: str) -> None:
        await self._client.decr(f"{self._prefix}:open:{client}")


def _refuse(status: int, kind: str, message: str, retry_after: float | None = None) -> JSONResponse:
    headers = {"Retry-After": str(max(1, math.ceil(retry_after)))} if retry_after else None
    return JSONResponse(
        {"error": {"type": kind, "message": message}}, status_code=status, headers=headers
    )


class _TooLarge(Exception):
    pass


class ClientLimits:
    """ASGI middleware applying `LimitSettings` to the API routes."""

    def __init__(self, app: ASGIApp, *, limits: LimitSettings, counters: Any) -> None:
        self.app = app
        self.limits = limits
        self.counters = counters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        if scope["type"] != "http" or not path.startswith(_GUARDED):
            await self.app(scope, receive, send)
            return
        limits = self.limits
        size, client = _size_and_client(scope)
        if size is not None and size.isdigit() and int(size) > limits.max_body_bytes:
            await self._too_large(scope, receive, send)
            return
        # A request with no body (no Content-Length or Transfer-Encoding: an SSE
        # GET) needs no counting of it, for as long as its stream lasts.
        bounded = receive if size is None else self._bounded(receive)
        if client is None:
            await self._guarded(scope, bounded, send)
            return
        if limits.requests_per_minute:
            count, wait = await self.counters.hit(client)
            if count > limits.requests_per_minute:
                await _refuse(
                    429, "rate_limited",
                    f"more than {limits.requests_per_minute} requests a minute; "
                    f"try again in {math.ceil(wait)} s", wait,
                )(scope, receive, send)  # fmt: skip
                return
        stream = limits.concurrent_streams and path in _STREAMS
        if stream and await self.counters.open(client) > limits.concurrent_streams:
            await self.counters.close(client)
            await _refuse(
                429, "too_many_streams",
                f"{limits.concurrent_streams} streams are already open for you; "
                "close one (or let it end) first", 5,
            )(scope, receive, send)  # fmt: skip
            return
        try:
            await self._guarded(scope, bounded, send)
        finally:
            if stream:
                await self.counters.close(client)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except _TooLarge:
            await self._too_large(scope, receive, send)

    def _bounded(self, receive: Receive) -> Receive:
        left = self.limits.max_body_bytes

        async def bounded() -> Message:
            nonlocal left
            message = await receive()
            if message["type"] == "http.request":
                left -= len(message.get("body", b""))
                if left < 0:
                    raise _TooLarge
            return message

        return bounded

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _refuse(
            413, "too_large",
            f"the request body is larger than {self.limits.max_body_bytes} bytes "
            "(LARAFLOWAI_MAX_BODY_BYTES)",
        )(scope, receive, send)  # fmt: skip


def _size_and_client(scope: Scope) -> tuple[str | None, str | None]:
    """The declared body size (None: no body; "chunked": a size not declared)
    and who is asking (a function of its own: the headers are not held by the
    middleware's frame for a stream's lifetime)."""
    headers = header_map(scope)
    size = headers.get("content-length")
    if size is None and "transfer-encoding" in headers:
        size = "chunked"
    return size, _client(scope, headers)


def _client(scope: Scope, headers: dict[str, str]) -> str | None:
    """Who is asking; None for a client on this machine without a token."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        token = _cookie(headers.get("cookie", ""))
    if token.strip():
        return "token:" + hashlib.sha256(token.strip().encode()).hexdigest()[:24]
    address = scope.get("client")
    host = address[0] if address else "unknown"
    return None if _loopback(host) else f"ip:{host}"


@functools.lru_cache(maxsize=4096)
def _loopback(host: str) -> bool:
    """Parsing an address costs tens of microseconds; a server sees few of them."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _cookie(header: str) -> str:
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == SESSION_COOKIE:
            return value
    return ""
