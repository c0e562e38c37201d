"""The part every JSON-over-SSE decoder shares: bytes in, one `_event` call per
server-sent event, typed events out."""

from __future__ import annotations

from .events import Event
from .sse import ServerSentEvent, SSEDecoder

__all__ = ["SSEJSONDecoder"]


class SSEJSONDecoder:
    __slots__ = ("_sse", "_done")

    def __init__(self) -> None:
        self._sse = SSEDecoder()
        self._done = False

    @property
    def complete(self) -> bool:
        return self._done

    def feed(self, data: bytes) -> list[Event]:
        out: list[Event] = []
        for sse in self._sse.feed(data):
            self._event(sse, out)
        return out

    def finish(self) -> list[Event]:
        out: list[Event] = []
        for sse in self._sse.finish():
            self._event(sse, out)
        self._end(out)
        return out

    def _event(self, sse: ServerSentEvent, out: list[Event]) -> None:
        raise NotImplementedError

    def _end(self, out: list[Event]) -> None:
        """Events owed at EOF (none by default)."""
