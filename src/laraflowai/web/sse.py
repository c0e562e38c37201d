"""Server-sent events: frames and the responses that stream them.

Frames follow https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation:
one `data:` line per payload line, `id:` without CR/LF, a blank line after
each event, `:` comments for keep-alive. Both responses send the headers that
stop proxies buffering, a `retry:` field first and keep-alive comments while
nothing else is sent, and notice a client that goes away even while the stream
is silent, so the caller can stop paying for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import re
from collections.abc import AsyncIterable, Mapping
from typing import Any

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from ..broadcast import ASGIBody, Subscription

__all__ = [
    "SERVER_SEND",
    "SSE_HEADERS",
    "EventStreamResponse",
    "SubscriptionResponse",
    "encode_comment",
    "encode_event",
    "encode_retry",
    "encode_stream_event",
]

# Where an app whose middleware never looks at response bodies (create_app's)
# puts the server's own `send`: the frames go there, past Starlette's two
# wrappers that only watch for the response's start (a coroutine each per frame).
SERVER_SEND = "laraflowai.server_send"
SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "Connection": "keep-alive",
    "X-Accel-Buffering": "no",
}
# Encoded once: each stream would otherwise hold its own (17 objects, about 850 bytes).
_RAW_SSE_HEADERS = [(k.lower().encode(), v.encode()) for k, v in SSE_HEADERS.items()]
_SSE_HEADER_NAMES = frozenset(name.lower() for name in SSE_HEADERS)
_NEWLINE = re.compile(r"\r\n|\r|\n")
KEEP_ALIVE = b": keep-alive\n\n"
_KEEP_ALIVE_MESSAGE: Message = {"type": "http.response.body", "body": KEEP_ALIVE, "more_body": True}


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


class _StreamEventFramer:
    """A registry event as one frame, `id: <stream_id>-<index>` and its JSON.
    Compact JSON escapes CR and LF, so it is one `data:` line (no need for the
    general `encode_event`). The registry frames each event once for all the
    listeners of a stream, a plain chunk from `template` (no call of ours)."""

    __slots__ = ()
    template = b"id: %s-%s\ndata: %s\n\n"

    def __call__(self, stream_id: str, index: int, payload: bytes) -> bytes:
        return b"id: %s-%d\ndata: %s\n\n" % (stream_id.encode(), index, payload)

    def __repr__(self) -> str:
        return "encode_stream_event"


encode_stream_event = _StreamEventFramer()


class _KeepAliveTimer:
    """One timer for every stream of an event loop with the same keep-alive
    period: each half period, a stream that sent nothing since the last tick
    gets a comment, which counts as a write. So no stream is silent for longer
    than the period, and a busy one pays one flag per write, no clock or timer."""

    __slots__ = ("handle", "key", "loop", "streams", "tick_every")

    def __init__(self, loop: asyncio.AbstractEventLoop, period: float) -> None:
        self.loop = loop
        self.key = (loop, period)
        self.tick_every = period / 2
        self.streams: set[_EventStream] = set()
        self.handle: asyncio.TimerHandle | None = None

    def add(self, stream: _EventStream) -> None:
        self.streams.add(stream)
        if self.handle is None:
            self.handle = self.loop.call_later(self.tick_every, self._tick)

    def _tick(self) -> None:
        if not self.streams:
            self.handle = None
            if _timers.get(self.key) is self:
                del _timers[self.key]
            return
        for stream in tuple(self.streams):
            stream._keep_alive_tick()
        self.handle = self.loop.call_later(self.tick_every, self._tick)


_timers: dict[tuple[asyncio.AbstractEventLoop, float], _KeepAliveTimer] = {}


def _keep_alive_timer(period: float) -> _KeepAliveTimer:
    loop = asyncio.get_running_loop()
    timer = _timers.get((loop, period))
    if timer is None:
        for key in [key for key in _timers if key[0].is_closed()]:
            del _timers[key]
        timer = _timers[(loop, period)] = _KeepAliveTimer(loop, period)
    return timer


def _cancel_pending(task: asyncio.Task[None]) -> None:
    if not task.done():
        task.cancel()


def _coroutine_send(send: Send) -> Any:
    """`send` as a function returning a coroutine, which the registry runs in
    place; Starlette's and uvicorn's are, a server's own might return another
    awaitable."""
    if inspect.iscoroutinefunction(send):
        return send

    async def wrapped(message: Message) -> None:
        await send(message)

    return wrapped


class _EventStream(Response):
    """What both responses share: the headers, `retry:`, keep-alive comments
    from the shared timer, and a watch for the client going away."""

    media_type = "text/event-stream"

    def __init__(
        self,
        *,
        retry: int | None,
        keep_alive: float | None,
        status_code: int,
        headers: Mapping[str, str] | None,
    ) -> None:
        self.retry = retry
        self.keep_alive = keep_alive
        self.status_code = status_code
        self.background = None
        # A list of its own (middleware may add to it in place) of shared tuples.
        raw = list(_RAW_SSE_HEADERS)
        if headers:
            given = {name.lower(): value for name, value in headers.items()}
            if not given.keys().isdisjoint(_SSE_HEADER_NAMES):  # one of ours replaced
                raw = [header for header in raw if header[0].decode() not in given]
            raw += [
                (name.encode("latin-1"), value.encode("latin-1")) for name, value in given.items()
            ]
        self.raw_headers = raw
        self.disconnected = False
        self._complete = False  # the last body message is being sent: not a disconnect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._send = _coroutine_send(scope.get(SERVER_SEND, send))
        self._seen: int | None = None  # _progress() at the keep-alive timer's last tick
        self._keep_alive_send: asyncio.Future[None] | None = None
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        if self.retry is not None:
            await send(
                {"type": "http.response.body", "body": encode_retry(self.retry), "more_body": True}
            )
        timer = _keep_alive_timer(self.keep_alive) if self.keep_alive else None
        if timer is not None:
            timer.add(self)
        watch = asyncio.create_task(self._watch(receive))
        ending = None
        try:
            await self._deliver(watch)
            if not self.disconnected:
                self._complete = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                # The server wakes a receive() waiting when the response completes
                # (http.disconnect, ASGI's spec): the watch ends on its own, which
                # costs far less than cancelling it. One that is still waiting
                # after its wake-up's turn of the loop is cancelled then.
                ending = asyncio.get_running_loop().call_soon(_cancel_pending, watch)
        finally:
            if ending is None:
                watch.cancel()
            if timer is not None:
                timer.streams.discard(self)
            if self._keep_alive_send is not None:
                self._keep_alive_send.cancel()

    def _progress(self) -> int:
        """A count that grows with every write of frames."""
        raise NotImplementedError

    def _keep_alive_tick(self) -> None:
        progress = self._progress()
        if progress != self._seen:  # frames went out since the last tick
            self._seen = progress
        elif self._keep_alive_send is None or self._keep_alive_send.done():
            self._keep_alive_send = asyncio.ensure_future(self._send_keep_alive())
            self._seen = None  # the comment counts as a write

    async def _send_keep_alive(self) -> None:
        with contextlib.suppress(Exception):  # the client is gone; the watch ends the response
            await self._send(_KEEP_ALIVE_MESSAGE)

    async def _deliver(self, watch: asyncio.Task[None]) -> None:
        raise NotImplementedError

    async def _watch(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                if not self._complete:
                    self.disconnected = True
                    await self._on_disconnect()
                return

    async def _on_disconnect(self) -> None:
        pass


class EventStreamResponse(_EventStream):
    """Stream already-encoded SSE frames (bytes) from an async iterable.

    `retry` (ms) is sent first; with `keep_alive` (seconds) a comment goes out
    when nothing was sent for that long. When the client disconnects the
    iteration is cancelled and the iterator closed (`aclose()`), at once, even
    while it is waiting for its next frame.
    """

    def __init__(
        self,
        frames: AsyncIterable[bytes],
        *,
        retry: int | None = None,
        keep_alive: float | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            retry=retry, keep_alive=keep_alive, status_code=status_code, headers=headers
        )
        self.frames = frames
        self._written = 0

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

    def _progress(self) -> int:
        return self._written

    async def _pump(self) -> None:
        frames = aiter(self.frames)
        write = ASGIBody(self._send)
        try:
            async for frame in frames:
                # Whole frames, so keep-alive comments go only between them.
                self._written += 1
                await write(frame)
        finally:
            aclose = getattr(frames, "aclose", None)
            if aclose is not None:
                await aclose()


class SubscriptionResponse(_EventStream):
    """Stream a registry subscription's events as SSE, each `id: <stream_id>-<n>`.

    The registry writes each event to this connection as it is appended
    (`Subscription.pipe`), encoded once for every listener of the stream, so
    an event costs no task switch and no work of this response's own; the
    client going away closes the subscription."""

    def __init__(
        self,
        subscription: Subscription,
        *,
        retry: int | None = None,
        keep_alive: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(retry=retry, keep_alive=keep_alive, status_code=200, headers=headers)
        self.subscription = subscription

    def _progress(self) -> int:
        return self.subscription.cursor

    async def _deliver(self, watch: asyncio.Task[None]) -> None:
        async with self.subscription:
            await self.subscription.pipe(encode_stream_event, ASGIBody(self._send))

    async def _on_disconnect(self) -> None:
        await self.subscription.aclose()
