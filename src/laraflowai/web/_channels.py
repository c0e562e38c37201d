"""Where a WebSocket stream's events go: the settings of the delivery, which
stream each channel shows, and the jobs that carry a stream's events to its
channel (through Pusher's HTTP API for the `pusher` driver).

Events are Pusher events named after their type; a chunk too long for Pusher's
10 KB limit is split between grapheme clusters into parts sharing its id.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import regex

from .._config import Settings, get_settings
from .._exceptions import ConfigurationError
from ..broadcast import StreamEntry, StreamRegistry
from ..pusher import MAX_EVENT_DATA, ChannelPublisher, PusherClient, PusherCredentials

__all__ = [
    "CHANNEL_NAME",
    "ChannelStreams",
    "WebSocketDelivery",
    "WebSocketSettings",
    "fit",
    "pusher_payload",
]

DRIVERS = ("pusher", "builtin")
CHANNEL_NAME = re.compile(r"^[A-Za-z0-9_\-=@,.;]{1,100}$")
_SOCKET_ID = re.compile(r"^\d{1,20}\.\d{1,20}$")
_GRAPHEME = regex.compile(r"\X")


def _timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def pusher_payload(stream_id: str, entry: StreamEntry) -> tuple[str, dict[str, Any]]:
    """A registry entry as a Pusher event: its name and its data."""
    payload = entry.payload()
    name = str(payload.pop("type", "message"))
    payload["id"] = f"{stream_id}-{entry.index}"
    if name == "chunk":
        payload["timestamp"] = _timestamp()
    elif name == "complete":
        payload.setdefault("message", "Streaming completed")
    return name, payload


def fit(name: str, payload: dict[str, Any], limit: int = MAX_EVENT_DATA) -> list[str]:
    """The event's data as JSON text within `limit` bytes: a chunk too long is
    split between grapheme clusters into parts that share its id and say
    `part` and `parts`."""
    data = orjson.dumps(payload)
    if len(data) <= limit or name != "chunk" or not isinstance(payload.get("chunk"), str):
        return [data.decode()]
    text: str = payload["chunk"]
    room = limit - (len(data) - len(orjson.dumps(text))) - 40  # the part fields and quotes
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for cluster in _GRAPHEME.findall(text):
        cost = len(orjson.dumps(cluster)) - 2
        if current and size + cost > room:
            parts.append("".join(current))
            current, size = [], 0
        current.append(cluster)
        size += cost
    parts.append("".join(current))
    return [
        orjson.dumps({**payload, "chunk": part, "part": n, "parts": len(parts)}).decode()
        for n, part in enumerate(parts, 1)
    ]


@dataclass(frozen=True, slots=True)
class WebSocketSettings:
    enabled: bool
    driver: str
    prefix: str
    public_channels: bool
    credentials: PusherCredentials | None

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> WebSocketSettings:
        """Refuses a driver without its settings, naming the missing variables."""
        settings = settings if settings is not None else get_settings()
        driver = settings.websocket_driver
        if driver not in DRIVERS:
            raise ConfigurationError(
                f"LARAFLOWAI_WEBSOCKET_DRIVER must be one of {', '.join(DRIVERS)}; got {driver!r}"
            )
        prefix = settings.websocket_channel_prefix or "laraflowai"
        if not CHANNEL_NAME.match(prefix):
            raise ConfigurationError(
                "LARAFLOWAI_WEBSOCKET_CHANNEL_PREFIX may hold letters, digits and _-=@,.; "
                f"only; got {prefix!r}"
            )
        raw = (settings.env("LARAFLOWAI_WEBSOCKET_PUBLIC_CHANNELS") or "false").strip().lower()
        if raw not in ("true", "false", "1", "0", "yes", "no"):
            raise ConfigurationError(
                f"LARAFLOWAI_WEBSOCKET_PUBLIC_CHANNELS must be true or false, got {raw!r}"
            )
        enabled = settings.websocket_enabled
        credentials = PusherCredentials.from_env(settings.env) if enabled else None
        return cls(enabled, driver, prefix, raw in ("true", "1", "yes"), credentials)


class ChannelStreams:
    """Which stream each channel shows now, and waiting for the next one."""

    def __init__(self, registry: StreamRegistry) -> None:
        self.registry = registry
        self._current: dict[str, str] = {}
        self._changed: dict[str, asyncio.Event] = {}

    def bind(self, channel: str, stream_id: str) -> None:
        self._current[channel] = stream_id
        changed = self._changed.pop(channel, None)
        if changed is not None:
            changed.set()

    async def running(self, channel: str) -> str | None:
        stream_id = self._current.get(channel)
        if stream_id is None:
            return None
        info = await self.registry.info(stream_id)
        if info is None:  # its retention ended
            if self._current.get(channel) == stream_id:
                del self._current[channel]
            return None
        return stream_id if not info.ended else None

    async def next(self, channel: str, after: str | None) -> str:
        """The channel's stream once it is another than `after`."""
        while True:
            stream_id = self._current.get(channel)
            if stream_id is not None and stream_id != after:
                return stream_id
            await self._changed.setdefault(channel, asyncio.Event()).wait()


class WebSocketDelivery:
    """Starts streams whose events go to a channel, through the configured driver."""

    def __init__(
        self,
        registry: StreamRegistry,
        settings: WebSocketSettings,
        *,
        client: PusherClient | None = None,
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.channels = ChannelStreams(registry)
        self._client = client
        self._jobs: set[asyncio.Task[None]] = set()

    def channel_name(self, channel: str) -> str:
        name = f"{self.settings.prefix}.{channel}"
        return name if self.settings.public_channels else f"private-{name}"

    def allows_public(self, channel: str) -> bool:
        return self.settings.public_channels and channel.startswith(f"{self.settings.prefix}.")

    async def start(self, events: Any, channel: str, meta: dict[str, Any]) -> str:
        stream_id = await self.registry.start(events, meta=meta)
        # The job holds the stream as its listener until it ends: a stream sent
        # to a channel runs to its end, as a background job does, unless stopped.
        subscription = await self.registry.subscribe(stream_id)
        self.channels.bind(channel, stream_id)
        job = asyncio.get_running_loop().create_task(
            self._deliver(stream_id, channel, subscription)
        )
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)
        return stream_id

    async def _deliver(self, stream_id: str, channel: str, subscription: Any) -> None:
        publisher = None
        if self.settings.driver == "pusher":
            if self._client is None:
                assert self.settings.credentials is not None
                self._client = PusherClient(self.settings.credentials)
            publisher = ChannelPublisher(self._client, channel)
        try:
            async with subscription:
                while batch := await subscription.next():
                    if publisher is None:
                        continue
                    for entry in batch:
                        name, payload = pusher_payload(stream_id, entry)
                        for data in fit(name, payload):
                            publisher.publish(name, data)
        finally:
            if publisher is not None:
                await publisher.aclose()

    async def aclose(self) -> None:
        for job in list(self._jobs):
            job.cancel()
        for job in list(self._jobs):
            with contextlib.suppress(BaseException):
                await job
        if self._client is not None:
            await self._client.aclose()
