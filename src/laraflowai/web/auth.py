"""Who may use the API routes.

With a token set, every `/api/` request needs `Authorization: Bearer <token>`
or the session cookie that `POST /api/session` (itself called with the bearer
header) sets for the chat page: EventSource cannot send headers, and a token
in a query string would end up in access logs. The cookie holds an HMAC of the
token, never the token, and is `HttpOnly; SameSite=Strict`.

With or without a token, a browser request from another site (an `Origin` that
is not this server's, nor one of `allowed_origins`) is refused, so no web
page can make a visitor's browser spend the owner's provider credits on a
server bound to loopback. Behind a reverse proxy, forward the Host header.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ._headers import header_map

__all__ = ["SESSION_COOKIE", "APIGuard", "same_site", "session_value", "token_matches"]

SESSION_COOKIE = "laraflowai_session"
_OPEN_PATHS = frozenset({"/api/session"})


def session_value(token: str) -> str:
    return hmac.new(token.encode(), b"laraflowai-session-v1", hashlib.sha256).hexdigest()


def token_matches(token: str, headers: Mapping[str, str]) -> bool:
    """The request carries the bearer token or a session cookie made from it."""
    scheme, _, given = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    cookie = _cookie(headers.get("cookie", ""), SESSION_COOKIE)
    return cookie is not None and hmac.compare_digest(cookie, session_value(token))


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def same_site(headers: Mapping[str, str], allowed: frozenset[str]) -> bool:
    """The request comes from this server's own pages, a non-browser client, or an
    `allowed` origin."""
    origin = headers.get("origin")
    if origin is None:
        # Browsers leave Origin out of same-origin GETs; Sec-Fetch-Site still tells.
        return headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")
    if origin.lower().rstrip("/") in allowed:
        return True
    host = headers.get("host", "")
    return origin != "null" and urlsplit(origin).netloc.lower() == host.lower()


def _error(status: int, kind: str, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="laraflowai"'} if status == 401 else None
    return JSONResponse(
        {"error": {"type": kind, "message": message}}, status_code=status, headers=headers
    )


class APIGuard:
    """ASGI middleware guarding the routes under `prefix` (default `/api/`)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        prefix: str = "/api/",
        allowed_origins: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.token = token
        self.prefix = prefix
        self.allowed_origins = frozenset(o.lower().rstrip("/") for o in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        if scope["type"] != "http" or not path.startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope, path)
        if refusal is None:
            await self.app(scope, receive, send)
        else:
            await refusal(scope, receive, send)

    def _refusal(self, scope: Scope, path: str) -> JSONResponse | None:
        """Why the request may not pass, if it may not (a function of its own: the
        headers are not held by the middleware's frame for a stream's lifetime)."""
        headers = header_map(scope)
        if not same_site(headers, self.allowed_origins):
            return _error(
                403, "cross_origin", "requests from other sites are not allowed on this server"
            )
        if (
            self.token is not None
            and path not in _OPEN_PATHS
            and not token_matches(self.token, headers)
        ):
            return _error(
                401,
                "unauthorized",
                "this server needs its API token: send 'Authorization: Bearer <token>' "
                "(the chat page asks for it once)",
            )
        return None
