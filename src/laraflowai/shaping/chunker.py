"""Coalesce small deltas into chunks of at least `min_chars` characters and
split large ones into chunks of at most `max_chars`.

Counts are in characters (code points), never bytes. A split never cuts a
character, nor a grapheme cluster (an emoji with its skin tone or its ZWJ
family, a flag, a letter with its accents: UAX #29 extended grapheme clusters,
found by the `regex` module's `\\X`), unless one cluster alone is longer than
`max_chars`. It prefers the last whitespace in the final fifth of the window,
so words stay whole when that costs little.
"""

from __future__ import annotations

import time

import regex

__all__ = ["Chunker", "split_text"]

_GRAPHEME = regex.compile(r"\X")
# Between two code points below U+0300 UAX #29 always breaks, except inside CR LF:
# the marks, joiners and emoji that glue characters together all lie above it.
_FIRST_JOINING = "\u0300"


class Chunker:
    __slots__ = ("min_chars", "max_chars", "_pending", "_pending_chars", "pending_since")

    def __init__(self, min_chars: int = 1, max_chars: int = 1000) -> None:
        self.min_chars = min_chars
        self.max_chars = max_chars
        self._pending: list[str] = []
        self._pending_chars = 0
        # time.monotonic() when the oldest text still held back arrived; None when none is.
        self.pending_since: float | None = None

    @property
    def pending(self) -> str:
        """Text received but not yet released as a chunk."""
        return "".join(self._pending)

    def feed(self, text: str) -> list[str]:
        if not self._pending:
            if self.min_chars <= len(text) <= self.max_chars:
                return [text]
            if not text:
                return []
            self.pending_since = time.monotonic()
        self._pending.append(text)
        self._pending_chars += len(text)
        if self._pending_chars < self.min_chars:
            return []
        return self._release(keep_short_tail=True)

    def flush(self) -> list[str]:
        """Everything held back, now (still cut at max_chars)."""
        return self._release(keep_short_tail=False)

    def _release(self, *, keep_short_tail: bool) -> list[str]:
        if not self._pending:
            return []
        text = self._pending[0] if len(self._pending) == 1 else "".join(self._pending)
        self._pending.clear()
        self._pending_chars = 0
        self.pending_since = None
        if len(text) <= self.max_chars:
            return [text]
        pieces = split_text(text, self.max_chars)
        if keep_short_tail and len(pieces[-1]) < self.min_chars:
            # The rest of a split delta waits for more text like any small delta.
            tail = pieces.pop()
            self._pending.append(tail)
            self._pending_chars = len(tail)
            self.pending_since = time.monotonic()
        return pieces


def split_text(text: str, max_chars: int) -> list[str]:
    """`text` in pieces of at most `max_chars` characters, each a whole number of
    grapheme clusters, cut after whitespace when there is some near the end."""
    pieces: list[str] = []
    start = 0
    length = len(text)
    lookback = max_chars // 5
    while length - start > max_chars:
        cut = _cut(text, start, start + max_chars, lookback)
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces


def _cut(text: str, start: int, end: int, lookback: int) -> int:
    """The best place in (start, end] to end a piece that begins at `start`,
    itself a grapheme boundary."""
    low = max(start + 1, end - lookback)
    if max(text[low - 1 : end + 1]) < _FIRST_JOINING:
        for index in range(end - 1, low - 2, -1):
            if text[index].isspace() and text[index : index + 2] != "\r\n":
                return index + 1
        return end - 1 if text[end - 1 : end + 1] == "\r\n" else end
    boundaries = [
        match.start() for match in _GRAPHEME.finditer(text, start, end + 1) if match.start() > start
    ]
    for boundary in reversed(boundaries):
        if boundary < low:
            break
        if text[boundary - 1].isspace():
            return boundary
    if boundaries:
        return boundaries[-1]
    return end  # one cluster longer than max_chars: cut between code points
