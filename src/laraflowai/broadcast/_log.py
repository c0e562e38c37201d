"""A stream's event log, compact: one bytearray of JSON payloads, a line each.

A stream keeps every event it produced for as long as it can be resumed, so
what an event costs to keep bounds how many streams a process holds. An
object per event costs about 200 bytes. Here a plain chunk (`{"type":
"chunk", "chunk": ...}`, nearly all of a chat) costs its JSON string and the
newline that ends it (compact JSON never holds one): its envelope is added back
when it is read. Any other event costs its JSON, the newline and one byte
before it naming its type (never a byte a JSON document starts with). The
offset of every 32nd event is noted the first time an event past it is read
(a live listener reads none), so finding one skips at most 31 lines, in C.
Nothing is ever moved or indexed per event: the cost of a chunk is its JSON
plus a byte, and the log grows by what it holds, not by twice that.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from typing import Any

from orjson import dumps  # compact JSON as UTF-8

__all__ = ["CHUNK_FORMAT", "NEWLINE", "EventLog", "dumps"]

_CHUNK_HEAD = b'{"type":"chunk","chunk":'
CHUNK_FORMAT = _CHUNK_HEAD + b"%s}"  # a plain chunk's event, from its JSON string
_QUOTE = ord('"')  # a line that starts with one is a plain chunk's JSON string
NEWLINE = ord("\n")
_TYPE_BYTE = 0x80  # + a type's number: the first byte of any other event's line
_MAX_TYPES = 0x80
_STRIDE_BITS = 5  # the offset of every 32nd event is kept
_STRIDE = 1 << _STRIDE_BITS


class EventLog:
    """Append-only; event `i`'s JSON is `payload(i)`, its type `kind(i)`."""

    __slots__ = ("_data", "_marks", "_count", "_names")

    def __init__(self) -> None:
        self._data = bytearray()
        self._marks = array("Q", [0])  # where events 0, 32, 64, ... start, as far as read
        self._count = 0
        self._names: list[str] = []

    def __len__(self) -> int:
        return self._count

    def append(self, payload: Mapping[str, Any] | str) -> tuple[int, str, bytes]:
        """Store one event (a str is a plain chunk); returns its index, type and
        JSON. Raises ValueError without a type."""
        kind: Any
        text: Any
        if isinstance(payload, str):
            kind, text = "chunk", payload
        elif not (
            (kind := payload.get("type")) == "chunk"
            and len(payload) == 2
            and isinstance(text := payload.get("chunk"), str)
        ):
            text = None
        if text is not None:
            index, stored = self.append_chunk(text)
            return index, "chunk", CHUNK_FORMAT % stored
        code = self._code(kind, payload)
        data = dumps(payload)
        index = self._count
        log = self._data
        log.append(_TYPE_BYTE + code)
        log += data
        log.append(NEWLINE)
        self._count = index + 1
        return index, kind, data

    def append_chunk(self, text: str) -> tuple[int, bytes]:
        """`append(text)` for a plain chunk, the hot path: its index and the
        chunk's JSON string (the event's JSON is `CHUNK_FORMAT % that`)."""
        stored = dumps(text)
        index = self._count
        log = self._data
        log += stored
        log.append(NEWLINE)
        self._count = index + 1
        return index, stored

    def _code(self, kind: Any, payload: object) -> int:
        if not isinstance(kind, str):
            raise ValueError(f"a stream event needs a string 'type', got {payload!r}")
        names = self._names
        if kind in names:  # a new type is the rule at a stream's start and end: no exception
            return names.index(kind)
        if len(names) == _MAX_TYPES:
            raise ValueError(f"a stream can have at most {_MAX_TYPES} event types")
        names.append(kind)
        return len(names) - 1

    def _start(self, index: int) -> int:
        """Where event `index`'s line starts."""
        if not 0 <= index < self._count:
            raise IndexError(f"no event {index} in a log of {self._count}")
        data, marks, stride = self._data, self._marks, index >> _STRIDE_BITS
        while len(marks) <= stride:  # the next mark: 32 lines past the last one
            start = marks[-1]
            for _ in range(_STRIDE):
                start = data.index(NEWLINE, start) + 1
            marks.append(start)
        start = marks[stride]
        for _ in range(index & (_STRIDE - 1)):
            start = data.index(NEWLINE, start) + 1
        return start

    def _read(self, start: int) -> tuple[str, bytes, int]:
        """The event whose line starts at `start`: its type, JSON and the next line's start."""
        data = self._data
        end = data.index(NEWLINE, start)
        first = data[start]
        if first == _QUOTE:
            return "chunk", _CHUNK_HEAD + data[start:end] + b"}", end + 1
        return self._names[first - _TYPE_BYTE], bytes(data[start + 1 : end]), end + 1

    def kind(self, index: int) -> str:
        return self._read(self._start(index))[0]

    def payload(self, index: int) -> bytes:
        return self._read(self._start(index))[1]

    def entries(self, start: int, stop: int) -> list[tuple[int, str, bytes]]:
        """(index, type, JSON) of events `start` to `stop` (excluded), in one pass."""
        if start >= stop:
            return []
        read, line = self._read, self._start(start)
        entries = []
        for index in range(start, stop):
            kind, payload, line = read(line)
            entries.append((index, kind, payload))
        return entries
