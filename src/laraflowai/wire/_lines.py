"""Split a byte stream into lines, whatever the read boundaries.

Lines end at CRLF, LF or a lone CR (WHATWG event-stream rules). We split bytes,
never text: a read may end in the middle of a UTF-8 character, but never inside
a line terminator's meaning, because a CR that ends a read makes us drop an LF
that starts the next one.
"""

from __future__ import annotations

import re

_NEWLINE = re.compile(rb"\r\n|\r|\n")


class LineDecoder:
    __slots__ = ("_buffer", "_skip_lf")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._skip_lf = False

    def feed(self, data: bytes) -> list[bytes]:
        """Complete lines in `data` (and what was buffered), without terminators."""
        if self._skip_lf and data:
            self._skip_lf = False
            if data[0] == 0x0A:
                data = data[1:]
        if not data:
            return []
        if b"\r" not in data:
            if b"\n" not in data:
                self._buffer += data
                return []
            lines = data.split(b"\n")
            if self._buffer:
                lines[0] = bytes(self._buffer) + lines[0]
                self._buffer.clear()
            tail = lines.pop()
            if tail:
                self._buffer += tail
            return lines
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
        return lines

    def finish(self) -> bytes:
        """The unterminated last line, if any; the decoder is then empty."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        self._skip_lf = False
        return rest
