"""The part every JSON-over-SSE decoder shares: bytes in, one `_event` call per
server-sent event, typed events out.

An event the handler cannot read (a field of the wrong type, or anything it
did not expect) becomes a protocol `StreamError` naming the provider, in its
place among the events; what was decoded before it is kept.
"""

from __future__ import annotations

from ._shape import (
    DEFAULT_MAX_EVENT_SIZE,
    DEFAULT_MAX_TOOL_ARGUMENTS_SIZE,
    UNREADABLE,
    check_limit,
    protocol_error,
)
from .events import Event, StreamError
from .sse import ServerSentEvent, SSEDecoder

__all__ = ["SSEJSONDecoder"]


class SSEJSONDecoder:
    __slots__ = ("_sse", "_done", "_max_tool_arguments")

    # Who sent the stream, as messages name it.
    provider = "the provider"

    def __init__(
        self,
        *,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
        max_tool_arguments_size: int = DEFAULT_MAX_TOOL_ARGUMENTS_SIZE,
    ) -> None:
        self._sse = SSEDecoder(max_event_size)
        self._done = False
        self._max_tool_arguments = check_limit("max_tool_arguments_size", max_tool_arguments_size)

    @property
    def complete(self) -> bool:
        return self._done

    def feed(self, data: bytes) -> list[Event]:
        out: list[Event] = []
        self._read(self._sse.feed(data), out)
        return out

    def finish(self) -> list[Event]:
        out: list[Event] = []
        self._read(self._sse.finish(), out)
        self._end(out)
        return out

    def _read(self, events: list[ServerSentEvent], out: list[Event]) -> None:
        for sse in events:
            if sse.error is not None:
                out.append(StreamError("protocol", f"{self.provider} sent {sse.error}"))
                continue
            # A try block costs nothing until it catches (Python 3.11+).
            try:
                self._event(sse, out)
            except UNREADABLE as exc:
                out.append(protocol_error(self.provider, exc))

    def _event(self, sse: ServerSentEvent, out: list[Event]) -> None:
        raise NotImplementedError

    def _end(self, out: list[Event]) -> None:
        """Events owed at EOF (none by default)."""
