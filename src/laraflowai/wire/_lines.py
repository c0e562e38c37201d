"""Split a byte stream into lines, whatever the read boundaries.

Lines end at CRLF, LF or a lone CR (WHATWG event-stream rules). We split bytes,
never text: a read may end in the middle of a UTF-8 character, but never inside
a line terminator's meaning, because a CR that ends a read makes us drop an LF
that starts the next one.

A line longer than `max_line` bytes is not kept: it comes out as the
`LINE_TOO_LONG` marker (compare with `is`) and its bytes are dropped up to its
end, so the buffer never holds more than `max_line` bytes however long the
junk a server sends.
"""

from __future__ import annotations

import re

from ._shape import DEFAULT_MAX_EVENT_SIZE, check_limit

__all__ = ["LINE_TOO_LONG", "LineDecoder"]

_NEWLINE = re.compile(rb"\r\n|\r|\n")

# Never the result of a split: identity tells it from any line a server sends.
LINE_TOO_LONG = b"\x00(line too long)"


class LineDecoder:
    __slots__ = ("_buffer", "_skip_lf", "_max", "_skipping")

    def __init__(self, max_line: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        self._buffer = bytearray()
        self._skip_lf = False
        self._max = check_limit("max_line", max_line)
        # Dropping the rest of a line already reported as too long.
        self._skipping = False

    @property
    def max_line(self) -> int:
        return self._max

    def feed(self, data: bytes) -> list[bytes]:
        """Complete lines in `data` (and what was buffered), without terminators."""
        if self._skip_lf and data:
            self._skip_lf = False
            if data[0] == 0x0A:
                data = data[1:]
        if self._skipping:
            data = self._skip(data)
        if not data:
            return []
        # Only a read that brings the buffer past the limit can make a long line.
        big = len(self._buffer) + len(data) > self._max
        if b"\r" not in data:
            if b"\n" not in data:
                self._buffer += data
                return self._overflowed([]) if big else []
            lines = data.split(b"\n")
            if self._buffer:
                lines[0] = bytes(self._buffer) + lines[0]
                self._buffer.clear()
            tail = lines.pop()
            if tail:
                self._buffer += tail
            return self._overflowed(lines) if big else lines
        if self._buffer:
            data = bytes(self._buffer) + data
            self._buffer.clear()
        lines = _NEWLINE.split(data)
        tail = lines.pop()
        if tail:
            self._buffer += tail
        elif data[-1] == 0x0D:
            # The CR may be the first half of a CRLF whose LF is in the next read.
            self._skip_lf = True
        return self._overflowed(lines) if big else lines

    def finish(self) -> bytes:
        """The unterminated last line, if any; the decoder is then empty."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        self._skip_lf = False
        self._skipping = False
        return rest

    def _overflowed(self, lines: list[bytes]) -> list[bytes]:
        limit = self._max
        lines = [line if len(line) <= limit else LINE_TOO_LONG for line in lines]
        if len(self._buffer) > limit:
            self._buffer.clear()
            self._skipping = True
            lines.append(LINE_TOO_LONG)
        return lines

    def _skip(self, data: bytes) -> bytes:
        """What follows the end of the line being dropped (nothing if it goes on)."""
        end = _NEWLINE.search(data)
        if end is None:
            return b""
        self._skipping = False
        if end.group() == b"\r" and end.end() == len(data):
            self._skip_lf = True
        return data[end.end() :]
