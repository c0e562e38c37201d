"""Triggering events through Pusher's signed HTTP API, batched.

https://pusher.com/docs/channels/library_auth_reference/rest-api/ : an event's
data is at most 10 KB, a batch at most 10 events. `ChannelPublisher` keeps one
stream's events in order on one channel: the first event goes out at once,
and whatever arrives while a request is in flight goes in the next batch, so a
fast stream costs one request per batch, not per token, and a slow one is never
held back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass

import httpx2
import orjson

from .._exceptions import LaraFlowAIError
from .._secrets import redact
from ._signing import rest_query
from .credentials import PusherCredentials

__all__ = ["MAX_BATCH", "MAX_EVENT_DATA", "ChannelPublisher", "PusherClient", "PusherError"]

logger = logging.getLogger("laraflowai")

MAX_EVENT_DATA = 10_240
MAX_BATCH = 10
_RETRIES = 3


class PusherError(LaraFlowAIError):
    """Pusher refused or could not be reached; `status_code` when it answered."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code

    @property
    def retryable(self) -> bool:
        return self.status_code is None or self.status_code >= 500 or self.status_code == 429


@dataclass(frozen=True, slots=True)
class PusherEvent:
    channel: str
    name: str
    data: str  # JSON text, as Pusher delivers it to clients

    def __post_init__(self) -> None:
        size = len(self.data.encode())
        if size > MAX_EVENT_DATA:
            raise PusherError(
                f"the data of a {self.name!r} event is {size} bytes; Pusher takes at most "
                f"{MAX_EVENT_DATA}: split it into several events"
            )


class PusherClient:
    """Signed calls to Pusher's HTTP API on an `httpx2.AsyncClient` (yours, or
    one of its own that `aclose()` closes)."""

    def __init__(
        self,
        credentials: PusherCredentials,
        *,
        http_client: httpx2.AsyncClient | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.credentials = credentials
        self._own_client = http_client is None
        self._client = http_client or httpx2.AsyncClient(timeout=timeout)

    def __repr__(self) -> str:
        return f"<PusherClient app_id={self.credentials.app_id!r}>"

    async def trigger(self, events: list[PusherEvent]) -> None:
        """Send up to 10 events in one call (`/batch_events`, or `/events` for one)."""
        if not 0 < len(events) <= MAX_BATCH:
            raise PusherError(f"a Pusher batch holds 1 to {MAX_BATCH} events, not {len(events)}")
        if len(events) == 1:
            event = events[0]
            path = "/events"
            body = orjson.dumps(
                {"name": event.name, "channels": [event.channel], "data": event.data}
            )
        else:
            path = "/batch_events"
            body = orjson.dumps(
                {"batch": [{"channel": e.channel, "name": e.name, "data": e.data} for e in events]}
            )
        await self._post(path, body)

    async def _post(self, path: str, body: bytes) -> None:
        credentials = self.credentials
        url = credentials.api_url + path
        full_path = httpx2.URL(url).path
        query = rest_query(
            credentials.key, credentials.secret, "POST", full_path, body, int(time.time())
        )
        try:
            response = await self._client.post(
                url, params=query, content=body, headers={"content-type": "application/json"}
            )
        except httpx2.HTTPError as exc:
            raise PusherError(
                f"Pusher could not be reached at {credentials.api_url}: {type(exc).__name__}"
            ) from None
        if response.status_code >= 300:
            detail = redact(response.text, limit=300).strip()
            raise PusherError(
                f"Pusher refused the events (HTTP {response.status_code}): {detail}",
                status_code=response.status_code,
            )

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()


class ChannelPublisher:
    """One stream's events on one channel, in order, batched while a call is in flight."""

    def __init__(self, client: PusherClient, channel: str) -> None:
        self.client = client
        self.channel = channel
        self._pending: deque[PusherEvent] = deque()
        self._sender: asyncio.Task[None] | None = None
        self.failed: PusherError | None = None
        self.requests = 0

    def publish(self, name: str, data: str) -> None:
        """Queue an event (JSON text of at most 10 KB); never waits."""
        self._pending.append(PusherEvent(self.channel, name, data))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        pending = self._pending
        while pending and self.failed is None:
            batch = [pending.popleft() for _ in range(min(MAX_BATCH, len(pending)))]
            for attempt in range(_RETRIES + 1):
                try:
                    self.requests += 1
                    await self.client.trigger(batch)
                    break
                except PusherError as error:
                    if not error.retryable or attempt == _RETRIES:
                        self.failed = error
                        logger.error(
                            "laraflowai: %d event(s) on %s not delivered: %s",
                            len(batch) + len(pending), self.channel, error,
                        )  # fmt: skip
                        pending.clear()
                        return
                    await asyncio.sleep(0.2 * 2**attempt)

    async def aclose(self) -> None:
        """Wait until every queued event is sent (or given up on)."""
        while self._sender is not None and not self._sender.done():
            await asyncio.shield(self._sender)
