"""Server-sent events decoder, sans I/O.

Follows https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
with one leniency: at EOF an event whose lines were all complete is dispatched
even without its closing blank line (servers that end with `data: [DONE]\\n`
exist); an unterminated last line is still discarded, as the spec says.

An event whose data would pass `max_event_size` bytes (or any line longer than
that) is dropped whole and reported as a `DroppedEvent` whose `error` says
so, in its place in the stream; memory stays bounded by that limit.
"""

from __future__ import annotations

from ._lines import LINE_TOO_LONG, LineDecoder
from ._shape import DEFAULT_MAX_EVENT_SIZE, check_limit

__all__ = ["DroppedEvent", "SSEDecoder", "ServerSentEvent"]

_BOM = b"\xef\xbb\xbf"


class ServerSentEvent:
    """One dispatched event. `raw` is its data as bytes (what JSON parsers want);
    `data` is the same decoded as text, invalid UTF-8 replaced. `error` is None
    but on a `DroppedEvent`."""

    __slots__ = ("event", "raw", "id", "retry")

    # Set on a DroppedEvent only: a class attribute costs the hot path nothing.
    error: str | None = None

    def __init__(
        self, event: str, raw: bytes, id: str | None = None, retry: int | None = None
    ) -> None:
        self.event = event
        self.raw = raw
        self.id = id
        self.retry = retry

    @property
    def data(self) -> str:
        return self.raw.decode("utf-8", "replace")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServerSentEvent):
            return NotImplemented
        return (self.event, self.raw, self.id, self.retry, self.error) == (
            other.event,
            other.raw,
            other.id,
            other.retry,
            other.error,
        )

    def __repr__(self) -> str:
        if self.error is not None:
            return f"ServerSentEvent(error={self.error!r})"
        return f"ServerSentEvent(event={self.event!r}, data={self.data!r}, id={self.id!r})"


class DroppedEvent(ServerSentEvent):
    """In place of an event dropped for passing a size limit; `error` says which."""

    __slots__ = ("error",)

    def __init__(self, error: str, id: str | None = None, retry: int | None = None) -> None:
        super().__init__("message", b"", id, retry)
        self.error = error


class SSEDecoder:
    __slots__ = (
        "_lines",
        "_event",
        "_data",
        "_size",
        "_dropping",
        "_max_event",
        "_last_id",
        "_retry",
        "_started",
        "_head",
    )

    def __init__(self, max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        check_limit("max_event_size", max_event_size)
        # A line holds at most an event's data plus its "data: " prefix.
        self._lines = LineDecoder(max_event_size + 6)
        self._max_event = max_event_size
        self._event: str | None = None
        self._data: list[bytes] = []
        # Bytes of data in an event of several data lines (0 until the second).
        self._size = 0
        # Dropping the rest of an event reported as too large.
        self._dropping = False
        # As per the spec, the last event ID persists across events.
        self._last_id: str | None = None
        self._retry: int | None = None
        self._started = False
        self._head = b""

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        if not self._started:
            data = self._head + data
            if len(data) < 3 and _BOM.startswith(data):
                # Too few bytes yet to tell a byte-order mark from text.
                self._head = data
                return []
            self._started = True
            self._head = b""
            if data.startswith(_BOM):
                data = data[3:]
        events: list[ServerSentEvent] = []
        for line in self._lines.feed(data):
            # Fast path for the line nearly every event is made of.
            if line[:6] == b"data: " and not self._data:
                self._data.append(line[6:])
                continue
            event = self._dispatch() if not line else self._line(line)
            if event is not None:
                events.append(event)
        return events

    def finish(self) -> list[ServerSentEvent]:
        self._lines.finish()
        event = self._dispatch()
        return [] if event is None else [event]

    def _line(self, line: bytes) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line is LINE_TOO_LONG:
            return self._too_large(f"a line longer than {self._lines.max_line} bytes")
        if line[0] == 0x3A:  # ":" starts a comment (keep-alive)
            return None
        colon = line.find(b":")
        if colon == -1:
            name, value = line, b""
        else:
            name, value = line[:colon], line[colon + 1 :]
            if value[:1] == b" ":
                value = value[1:]
        if name == b"data":
            if self._dropping:
                return None
            if self._data:
                size = (self._size or len(self._data[0])) + 1 + len(value)
                if size > self._max_event:
                    return self._too_large(f"an event larger than {self._max_event} bytes")
                self._size = size
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\x00" not in value:
                self._last_id = value.decode("utf-8", "replace") or None
        elif name == b"retry" and value.isdigit():
            self._retry = int(value)
        return None

    def _too_large(self, what: str) -> ServerSentEvent | None:
        dropping, self._dropping = self._dropping, True
        self._data, self._size = [], 0
        if dropping:  # already reported
            return None
        return DroppedEvent(f"{what} (max_event_size), dropped", self._last_id, self._retry)

    def _dispatch(self) -> ServerSentEvent | None:
        data, event = self._data, self._event
        self._data, self._event, self._size = [], None, 0
        if self._dropping:
            self._dropping = False
            return None
        if not data:
            return None
        return ServerSentEvent(
            event or "message",
            data[0] if len(data) == 1 else b"\n".join(data),
            self._last_id,
            self._retry,
        )
