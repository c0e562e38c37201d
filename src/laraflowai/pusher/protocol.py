"""The server side of one Pusher Channels connection (protocol 7), without I/O.

https://pusher.com/docs/channels/library_auth_reference/pusher-websockets-protocol/
Text frames in, actions out: messages to send, channels to join or leave, a
close. Private channels are joined only with a valid `auth` signature for this
connection's socket id; public ones only when the deployment allows them.
Presence, encrypted and client events are not served, and say so.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from .._secrets import redact
from ._signing import channel_signature, signatures_match

__all__ = [
    "PROTOCOL_VERSION",
    "Close",
    "Join",
    "Leave",
    "PusherConnection",
    "Send",
    "channel_message",
    "new_socket_id",
]

PROTOCOL_VERSION = 7
_CHANNEL = re.compile(r"^[A-Za-z0-9_\-=@,.;]{1,164}$")


@dataclass(frozen=True, slots=True)
class Send:
    text: str


@dataclass(frozen=True, slots=True)
class Join:
    """Follow `channel`; `last_event_id` (our own client's extension) resumes after it."""

    channel: str
    last_event_id: str | None = None


@dataclass(frozen=True, slots=True)
class Leave:
    channel: str


@dataclass(frozen=True, slots=True)
class Close:
    code: int
    reason: str


Action = Send | Join | Leave | Close


def new_socket_id() -> str:
    return f"{secrets.randbelow(10**9) + 1}.{secrets.randbelow(10**9) + 1}"


def channel_message(channel: str, event: str, data: str) -> str:
    """A channel event as sent to clients: `data` is JSON text, sent as a string."""
    return orjson.dumps({"event": event, "channel": channel, "data": data}).decode()


def _message(event: str, data: Any, channel: str | None = None) -> Send:
    message: dict[str, Any] = {"event": event, "data": data}
    if channel is not None:
        message["channel"] = channel
    return Send(orjson.dumps(message).decode())


def _error(message: str, code: int | None = None) -> Send:
    return _message("pusher:error", {"code": code, "message": message})


class PusherConnection:
    """One client's connection: `opened()` first, then `received(text)` per frame."""

    def __init__(
        self,
        key: str,
        secret: str,
        *,
        activity_timeout: int = 120,
        allow_public: Callable[[str], bool] | None = None,
    ) -> None:
        self._key = key
        self._secret = secret
        self.socket_id = new_socket_id()
        self.activity_timeout = activity_timeout
        self._allow_public = allow_public
        self.channels: set[str] = set()

    def __repr__(self) -> str:
        return f"<PusherConnection socket_id={self.socket_id!r} channels={len(self.channels)}>"

    def opened(self, app_key: str, protocol: str | None) -> list[Action]:
        """The client connected to `/app/<app_key>?protocol=<protocol>`."""
        if not signatures_match(self._key, app_key):
            return [_error(f"no application with the key {redact(app_key, limit=64)!r}", 4001),
                    Close(4001, "application does not exist")]  # fmt: skip
        if protocol is not None and protocol.isdigit() and int(protocol) < PROTOCOL_VERSION:
            return [_error(f"protocol {protocol} is not supported; use {PROTOCOL_VERSION}", 4007),
                    Close(4007, "unsupported protocol version")]  # fmt: skip
        data = {"socket_id": self.socket_id, "activity_timeout": self.activity_timeout}
        return [_message("pusher:connection_established", orjson.dumps(data).decode())]

    def received(self, text: str) -> list[Action]:
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            return [_error("a message must be a JSON object with an `event`")]
        if type(message) is not dict or not isinstance(message.get("event"), str):
            return [_error("a message must be a JSON object with an `event`")]
        event: str = message["event"]
        data = message.get("data")
        if isinstance(data, str) and data[:1] == "{":
            with contextlib.suppress(orjson.JSONDecodeError):
                data = orjson.loads(data)
        if event == "pusher:ping":
            return [_message("pusher:pong", {})]
        if event == "pusher:pong":
            return []
        if event == "pusher:subscribe":
            return self._subscribe(data)
        if event == "pusher:unsubscribe":
            channel = data.get("channel") if isinstance(data, dict) else None
            if isinstance(channel, str) and channel in self.channels:
                self.channels.discard(channel)
                return [Leave(channel)]
            return []
        if event.startswith("client-"):
            return [_error("client events are not enabled on this server", 4301)]
        return [_error(f"unknown event {redact(event, limit=64)!r}")]

    def _subscribe(self, data: Any) -> list[Action]:
        if not isinstance(data, dict) or not isinstance(data.get("channel"), str):
            return [_error("pusher:subscribe needs data with a `channel`")]
        channel: str = data["channel"]
        if not _CHANNEL.match(channel):
            return [_error(f"invalid channel name {redact(channel, limit=64)!r}")]
        if channel.startswith(("presence-", "private-encrypted-")):
            return [_error(f"{channel.split('-')[0]} channels are not served here", 4009)]
        if channel.startswith("private-"):
            auth = data.get("auth")
            expected = channel_signature(self._key, self._secret, self.socket_id, channel)
            if not isinstance(auth, str) or not signatures_match(expected, auth):
                return [_error(f"invalid signature for {channel!r}: subscription refused", 4009)]
        elif self._allow_public is None or not self._allow_public(channel):
            return [_error(f"{channel!r} is not a private channel: subscription refused", 4009)]
        last = data.get("last_event_id")
        self.channels.add(channel)
        return [
            _message("pusher_internal:subscription_succeeded", "{}", channel),
            Join(channel, last if isinstance(last, str) else None),
        ]
