"""Server-sent events: frames and the response that streams them.

Frames follow WIRE-FORMATS.md section 1 (the WHATWG event-stream format): one
`data:` line per payload line, `id:` without CR/LF, a blank line after each
event, `:` comments for keep-alive. `EventStreamResponse` sends the headers
that stop proxies buffering, a `retry:` field first, keep-alive comments while
nothing else is sent, and notices a client that goes away even while the
stream is silent, so the caller can stop paying for it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterable, Mapping

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..broadcast import Subscription
from ..broadcast._eager import run_eagerly

__all__ = [
    "SSE_HEADERS",
    "EventStreamResponse",
    "SubscriptionResponse",
    "encode_comment",
    "encode_event",
    "encode_retry",
]

SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "Connection": "keep-alive",
    "X-Accel-Buffering": "no",
}
_NEWLINE = re.compile(r"\r\n|\r|\n")
KEEP_ALIVE = b": keep-alive\n\n"


def encode_event(data: str, *, id: str | None = None, event: str | None = None) -> bytes:
    """One event. `data` may span lines; `id` and `event` may not."""
    parts = []
    if id is not None:
        if _NEWLINE.search(id) or "\x00" in id:
            raise ValueError(f"an event id cannot contain CR, LF or NUL: {id!r}")
        parts.append(f"id: {id}\n")
    if event is not None:
        if _NEWLINE.search(event):
            raise ValueError(f"an event name cannot contain CR or LF: {event!r}")
        parts.append(f"event: {event}\n")
    if "\n" in data or "\r" in data:
        parts.extend(f"data: {line}\n" for line in _NEWLINE.split(data))
    else:
        parts.append(f"data: {data}\n")
    parts.append("\n")
    return "".join(parts).encode("utf-8")


def encode_comment(text: str = "keep-alive") -> bytes:
    """A comment: ignored by clients, keeps proxies from closing an idle stream."""
    return "".join(f": {line}\n" for line in _NEWLINE.split(text)).encode("utf-8") + b"\n"


def encode_retry(milliseconds: int) -> bytes:
    """How long a client waits before reconnecting. A block without data
    dispatches no event."""
    return f"retry: {int(milliseconds)}\n\n".encode("ascii")


class EventStreamResponse(Response):
    """Stream already-encoded SSE frames (bytes) from an async iterable.

    `retry` (ms) is sent first; with `keep_alive` (seconds) a comment goes out
    whenever nothing was sent for that long. When the client disconnects the
    iteration is cancelled and the iterator closed (`aclose()`), at once, even
    while it is waiting for its next frame.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        frames: AsyncIterable[bytes] | None,
        *,
        retry: int | None = None,
        keep_alive: float | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.frames = frames
        self.retry = retry
        self.keep_alive = keep_alive
        self.status_code = status_code
        self.background = None
        self.init_headers({**SSE_HEADERS, **(headers or {})})
        self.disconnected = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        loop = asyncio.get_running_loop()
        self._send = send
        self._clock = loop.time
        self._writing = 0  # writes waiting for the socket
        if self.retry is not None:
            await self._write(encode_retry(self.retry))
        self._last_write = loop.time()
        # A timer, not a task: nothing per stream runs while the stream is busy.
        self._keep_alive: asyncio.TimerHandle | None = None
        self._keep_alive_send: asyncio.Future[None] | None = None
        if self.keep_alive:
            self._keep_alive = loop.call_later(self.keep_alive, self._keep_alive_tick)
        watch = asyncio.create_task(self._watch(receive))
        try:
            await self._deliver(watch)
        finally:
            watch.cancel()
            if self._keep_alive is not None:
                self._keep_alive.cancel()
            if self._keep_alive_send is not None:
                self._keep_alive_send.cancel()
        if not self.disconnected:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _write(self, data: bytes) -> None:
        """One or more whole frames, so keep-alive comments go only between them."""
        self._last_write = self._clock()
        self._writing += 1
        try:
            await self._send({"type": "http.response.body", "body": data, "more_body": True})
        finally:
            self._writing -= 1

    def _keep_alive_tick(self) -> None:
        assert self.keep_alive
        wait = self._last_write + self.keep_alive - self._clock()
        if wait <= 0:
            wait = self.keep_alive
            if not self._writing:
                try:
                    self._keep_alive_send = run_eagerly(self._write(KEEP_ALIVE))
                except Exception:  # the client is gone; the watcher ends the response
                    return
        self._keep_alive = asyncio.get_running_loop().call_later(wait, self._keep_alive_tick)

    async def _deliver(self, watch: asyncio.Task[None]) -> None:
        pump = asyncio.create_task(self._pump())
        try:
            await asyncio.wait((pump, watch), return_when=asyncio.FIRST_COMPLETED)
        finally:
            pump.cancel()
            # Let the pump close the frame iterator (and whatever it holds) before we return.
            await asyncio.gather(pump, return_exceptions=True)
        if not pump.cancelled() and (error := pump.exception()) is not None:
            raise error

    async def _pump(self) -> None:
        if self.frames is None:
            return
        frames = aiter(self.frames)
        try:
            async for frame in frames:
                await self._write(frame)
        finally:
            aclose = getattr(frames, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _watch(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                await self._on_disconnect()
                return

    async def _on_disconnect(self) -> None:
        pass


class SubscriptionResponse(EventStreamResponse):
    """Stream a registry subscription's events as SSE, each `id: <stream_id>-<n>`.

    The registry writes each event to this connection as it is appended
    (`Subscription.pipe`), so an event costs no task switch of its own; the
    client going away closes the subscription."""

    def __init__(
        self,
        subscription: Subscription,
        *,
        retry: int | None = None,
        keep_alive: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(None, retry=retry, keep_alive=keep_alive, headers=headers)
        self.subscription = subscription
        self._stream_id = subscription.stream_id.encode()

    async def _deliver(self, watch: asyncio.Task[None]) -> None:
        async with self.subscription:
            await self.subscription.pipe(self._frames)

    async def _frames(self, first: int, payloads: list[bytes]) -> None:
        # Payloads are compact JSON, which escapes CR and LF: each is one `data:`
        # line, so the general encode_event() is not needed here.
        prefix = self._stream_id
        if len(payloads) == 1:
            await self._write(b"id: %s-%d\ndata: %s\n\n" % (prefix, first, payloads[0]))
        else:
            await self._write(
                b"".join(
                    b"id: %s-%d\ndata: %s\n\n" % (prefix, index, payload)
                    for index, payload in enumerate(payloads, first)
                )
            )

    async def _on_disconnect(self) -> None:
        await self.subscription.aclose()
