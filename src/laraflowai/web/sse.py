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
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = [
    "SSE_HEADERS",
    "EventStreamResponse",
    "encode_comment",
    "encode_event",
    "encode_retry",
]

_SendBody = Callable[[bytes], Awaitable[None]]

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
        frames: AsyncIterable[bytes],
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
        self._last_send = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()

        async def send_body(body: bytes) -> None:
            # Whole frames only, so the keep-alive task may send between them.
            self._last_send = loop.time()
            await send({"type": "http.response.body", "body": body, "more_body": True})

        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        if self.retry is not None:
            await send_body(encode_retry(self.retry))
        self._last_send = loop.time()
        pump = asyncio.create_task(self._pump(send_body))
        watch = asyncio.create_task(self._wait_for_disconnect(receive))
        tasks = [pump, watch]
        if self.keep_alive:
            tasks.append(asyncio.create_task(self._keep_alive(send_body, self.keep_alive)))
        try:
            await asyncio.wait((pump, watch), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            # Let the pump close the frame iterator (and whatever it holds) before we return.
            await asyncio.gather(*tasks, return_exceptions=True)
        if pump.done() and not pump.cancelled():
            error = pump.exception()
            if error is not None:
                raise error
        if not self.disconnected:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _pump(self, send_body: _SendBody) -> None:
        frames = aiter(self.frames)
        try:
            async for frame in frames:
                await send_body(frame)
        finally:
            aclose = getattr(frames, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _wait_for_disconnect(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                return

    async def _keep_alive(self, send_body: _SendBody, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            wait = self._last_send + seconds - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            else:
                await send_body(KEEP_ALIVE)
