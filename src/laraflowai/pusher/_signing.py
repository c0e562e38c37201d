"""Pusher's HMAC-SHA256 signatures: private-channel authorisation and signed
REST calls. https://pusher.com/docs/channels/library_auth_reference/auth-signatures/"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode

__all__ = ["channel_signature", "rest_query", "sign", "signatures_match"]


def sign(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def signatures_match(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


def channel_signature(
    key: str, secret: str, socket_id: str, channel: str, channel_data: str | None = None
) -> str:
    """The `auth` value that lets `socket_id` subscribe to a private (or, with
    `channel_data`, presence) channel: `<key>:<hex signature>`."""
    message = f"{socket_id}:{channel}"
    if channel_data is not None:
        message = f"{message}:{channel_data}"
    return f"{key}:{sign(secret, message)}"


def rest_query(
    key: str, secret: str, method: str, path: str, body: bytes, timestamp: int
) -> dict[str, str]:
    """The query parameters of a signed REST call, `auth_signature` included."""
    query = {
        "auth_key": key,
        "auth_timestamp": str(timestamp),
        "auth_version": "1.0",
        "body_md5": hashlib.md5(body, usedforsecurity=False).hexdigest(),
    }
    # Signed over the lower-cased, sorted parameters, before the signature joins them.
    ordered = urlencode(sorted((name.lower(), value) for name, value in query.items()))
    query["auth_signature"] = sign(secret, f"{method.upper()}\n{path}\n{ordered}")
    return query
