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
from ..pusher import (
    MAX_EVENT_DATA,
    ChannelPublisher,
    PusherClient,
    PusherCredentials,
    channel_message,
)

__all__ = [
    "CHANNEL_NAME",
    "ChannelStreams",
    "WebSocketDelivery",
    "WebSocketSettings",
    "fit",
    "pusher_payload",
]

DRIVERS = ("pusher", "builtin", "redis")
# Encoded frames kept for the subscribers that read an entry after the first one.
_FRAMES_KEPT = 4096
# A channel remembers its last stream this long (the stream itself expires sooner).
_BINDING_SECONDS = 24 * 3600
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
        public = settings.flag("LARAFLOWAI_WEBSOCKET_PUBLIC_CHANNELS")
        enabled = settings.websocket_enabled
        credentials = PusherCredentials.from_env(settings.env) if enabled else None
        return cls(enabled, driver, prefix, public, credentials)


class ChannelStreams:
    """Which stream each channel shows now, and waiting for the next one, in
    this process (the `builtin` driver)."""

    def __init__(self, registry: StreamRegistry) -> None:
        self.registry = registry
        self._current: dict[str, str] = {}
        self._changed: dict[str, asyncio.Event] = {}

    async def bind(self, channel: str, stream_id: str) -> None:
        self._current[channel] = stream_id
        self._announce(channel)

    async def current(self, channel: str) -> str | None:
        return self._current.get(channel)

    def _announce(self, channel: str) -> None:
        changed = self._changed.pop(channel, None)
        if changed is not None:
            changed.set()

    async def running(self, channel: str) -> str | None:
        """The channel's stream if it is still running."""
        stream_id = await self.current(channel)
        if stream_id is None:
            return None
        info = await self.registry.info(stream_id)
        return stream_id if info is not None and not info.ended else None

    async def next(self, channel: str, after: str | None) -> str:
        """The channel's stream once it is another than `after`."""
        while True:
            changed = self._changed.setdefault(channel, asyncio.Event())
            stream_id = await self.current(channel)
            if stream_id is not None and stream_id != after:
                return stream_id
            await self._watch(channel)
            await changed.wait()

    async def _watch(self, channel: str) -> None:
        """Make sure a change of `channel` made elsewhere is announced here."""

    async def aclose(self) -> None:
        self._current.clear()


class RedisChannelStreams(ChannelStreams):
    """The same, shared by every process through Redis (the `redis` driver):
    the binding is a key, and its changes are announced over pub/sub."""

    def __init__(self, registry: StreamRegistry, client: Any, prefix: str) -> None:
        super().__init__(registry)
        self._client = client
        self._prefix = prefix
        self._pubsub: Any = None
        self._listener: asyncio.Task[None] | None = None
        self._watched: set[str] = set()

    def _key(self, channel: str) -> str:
        return f"{self._prefix}:channel:{channel}"

    async def bind(self, channel: str, stream_id: str) -> None:
        key = self._key(channel)
        await self._client.set(key, stream_id, ex=_BINDING_SECONDS)
        await self._client.publish(key, stream_id)

    async def current(self, channel: str) -> str | None:
        value = await self._client.get(self._key(channel))
        return value.decode() if value is not None else None

    async def _watch(self, channel: str) -> None:
        if channel in self._watched:
            return
        if self._pubsub is None:
            self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(self._key(channel))
        self._watched.add(channel)
        if self._listener is None:
            self._listener = asyncio.get_running_loop().create_task(self._listen())
        self._announce(channel)  # a change may have come before the subscription

    async def _listen(self) -> None:
        skip = len(self._prefix) + len(":channel:")
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except Exception:
                await asyncio.sleep(0.5)
                continue
            if message is not None and message.get("type") == "message":
                self._announce(message["channel"].decode()[skip:])

    async def aclose(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(BaseException):
                await self._listener
        if self._pubsub is not None:
            await self._pubsub.aclose()


def _channel_streams(registry: StreamRegistry, settings: WebSocketSettings) -> ChannelStreams:
    if settings.driver != "redis":
        return ChannelStreams(registry)
    client = getattr(registry, "client", None)
    if client is None:
        raise ConfigurationError(
            "LARAFLOWAI_WEBSOCKET_DRIVER=redis serves every process from Redis: "
            "set LARAFLOWAI_STREAM_STORE=redis (and LARAFLOWAI_REDIS_URL) too"
        )
    return RedisChannelStreams(registry, client, getattr(registry, "prefix", "laraflowai"))


class WebSocketDelivery:
    """Starts streams whose events go to a channel, through the configured driver."""

    def __init__(
        self,
        registry: StreamRegistry,
        settings: WebSocketSettings,
        *,
        client: PusherClient | None = None,
        jobs: Any = None,
        observer: Any = None,
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.jobs = jobs  # a laraflowai.jobs.StreamJobs: streams run in workers
        self.observer = observer  # a StreamMetrics
        self._frames: dict[tuple[str, str, int], str] = {}
        self.channels = _channel_streams(registry, settings)
        self._client = client
        self._jobs: set[asyncio.Task[None]] = set()

    def frame(self, channel: str, stream_id: str, entry: StreamEntry) -> str:
        """The protocol message of an entry on a channel, encoded once for all the
        channel's subscribers (and with one timestamp for all of them)."""
        key = (channel, stream_id, entry.index)
        text = self._frames.get(key)
        if text is None:
            name, payload = pusher_payload(stream_id, entry)
            text = channel_message(channel, name, orjson.dumps(payload).decode())
            if len(self._frames) >= _FRAMES_KEPT:
                del self._frames[next(iter(self._frames))]  # the oldest
            self._frames[key] = text
        return text

    def channel_name(self, channel: str) -> str:
        name = f"{self.settings.prefix}.{channel}"
        return name if self.settings.public_channels else f"private-{name}"

    def allows_public(self, channel: str) -> bool:
        return self.settings.public_channels and channel.startswith(f"{self.settings.prefix}.")

    async def start(self, events: Any, channel: str, meta: dict[str, Any]) -> str:
        """Run `events` (in this process) as a stream sent to `channel`."""
        if self.observer is not None:
            events = self.observer.observe(events, meta["provider"], meta["model"])
        stream_id = await self.registry.start(events, meta=meta)
        return await self._send(stream_id, channel)

    async def dispatch(self, spec: dict[str, Any], channel: str, meta: dict[str, Any]) -> str:
        """Queue the answer `spec` describes for a worker, sent to `channel`."""
        assert self.jobs is not None
        stream_id: str = await self.jobs.dispatch(
            spec["task"],
            role=spec.get("role"),
            goal=spec.get("goal"),
            provider=spec.get("provider"),
            model=spec.get("model"),
            options=spec.get("options"),
            meta=meta,
        )
        return await self._send(stream_id, channel)

    async def _send(self, stream_id: str, channel: str) -> str:
        # The job holds the stream as its listener until it ends: a stream sent
        # to a channel runs to its end, as a background job does, unless stopped.
        subscription = await self.registry.subscribe(stream_id)
        await self.channels.bind(channel, stream_id)
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
        await self.channels.aclose()
        if self.jobs is not None:
            await self.jobs.aclose()
