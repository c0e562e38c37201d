"""A stream's event log, compact: one bytearray of JSON payloads and their ends.

A stream keeps every event it produced for as long as it can be resumed, so
what an event costs to keep bounds how many streams a process holds. An
object per event costs about 200 bytes; here an event costs its JSON plus 5
bytes, and a plain chunk (`{"type": "chunk", "chunk": ...}`, nearly all of a
chat) only its JSON string: its envelope is added back when it is read.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from typing import Any

from orjson import dumps  # compact JSON as UTF-8

__all__ = ["EventLog", "dumps"]

_CHUNK = 0
_CHUNK_HEAD = b'{"type":"chunk","chunk":'
_CHUNK_JSON = _CHUNK_HEAD + b"%s}"
_MAX_END = 2**32 - 1  # ends are 4-byte offsets


class EventLog:
    """Append-only; event `i`'s JSON is `payload(i)`, its type `kind(i)`."""

    __slots__ = ("_data", "_ends", "_kinds", "_names")

    def __init__(self) -> None:
        self._data = bytearray()
        self._ends = array("I")
        self._kinds = bytearray()
        self._names: list[str] = ["chunk"]

    def __len__(self) -> int:
        return len(self._ends)

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
        if text is None:
            code = self._code(kind, payload)
            stored = data = dumps(payload)
        else:
            code = _CHUNK
            stored = dumps(text)
            data = _CHUNK_HEAD + stored + b"}"
        log = self._data
        if len(log) + len(stored) > _MAX_END:
            raise ValueError("a stream's event log is limited to 4 GiB")
        log += stored
        ends = self._ends
        ends.append(len(log))
        self._kinds.append(code)
        return len(ends) - 1, kind, data

    def append_chunk(self, text: str) -> tuple[int, bytes]:
        """`append(text)` for a plain chunk, the hot path: its index and JSON."""
        stored = dumps(text)
        log = self._data
        log += stored
        ends = self._ends
        try:
            ends.append(len(log))
        except OverflowError:  # an end past 4 GiB: checked here, at no cost per chunk
            del log[-len(stored) :]
            raise ValueError("a stream's event log is limited to 4 GiB") from None
        self._kinds.append(_CHUNK)
        return len(ends) - 1, _CHUNK_JSON % stored

    def _code(self, kind: Any, payload: object) -> int:
        if not isinstance(kind, str):
            raise ValueError(f"a stream event needs a string 'type', got {payload!r}")
        names = self._names
        try:
            return names.index(kind, 1)
        except ValueError:
            if len(names) == 256:
                raise ValueError("a stream can have at most 255 event types") from None
            names.append(kind)
            return len(names) - 1

    def kind(self, index: int) -> str:
        return self._names[self._kinds[index]]

    def payload(self, index: int) -> bytes:
        start = self._ends[index - 1] if index else 0
        if self._kinds[index] == _CHUNK:
            return _CHUNK_HEAD + self._data[start : self._ends[index]] + b"}"
        return bytes(self._data[start : self._ends[index]])

    def payloads(self, start: int, stop: int) -> list[bytes]:
        if stop - start == 1:
            return [self.payload(start)]
        return [self.payload(index) for index in range(start, stop)]
