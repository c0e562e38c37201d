"""Newline-delimited JSON decoder, sans I/O: one JSON value per line."""

from __future__ import annotations

from typing import Any

from ._json import loads
from ._lines import LINE_TOO_LONG, LineDecoder
from ._shape import DEFAULT_MAX_EVENT_SIZE

__all__ = ["LineTooLong", "NDJSONDecoder"]


class LineTooLong(ValueError):
    """A line passed the decoder's `max_line` and was dropped."""


class NDJSONDecoder:
    """feed(bytes) -> decoded values of the complete lines; blank lines are skipped.
    A line that is not JSON comes out as a `ValueError` instance, not raised, so
    the caller decides what a bad line means; a line longer than `max_line`
    bytes as a `LineTooLong` (its bytes are never kept). Messages name the
    parser's complaint and the line's length, never its content."""

    __slots__ = ("_lines",)

    def __init__(self, max_line: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        self._lines = LineDecoder(max_line)

    def feed(self, data: bytes) -> list[Any]:
        return [self._decode(line) for line in self._lines.feed(data) if line.strip()]

    def finish(self) -> list[Any]:
        rest = self._lines.finish()
        return [self._decode(rest)] if rest.strip() else []

    def _decode(self, line: bytes) -> Any:
        try:
            return loads(line)
        except (ValueError, RecursionError) as exc:  # the latter from json, without orjson
            if line is LINE_TOO_LONG:
                return LineTooLong(f"a line longer than {self._lines.max_line} bytes")
            reason = getattr(exc, "msg", None) or type(exc).__name__
            position = getattr(exc, "pos", None)
            where = f" at character {position}" if isinstance(position, int) else ""
            return ValueError(f"{reason}{where}; {len(line)} bytes")
