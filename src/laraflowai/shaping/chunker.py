"""Coalesce small deltas into chunks of at least `min_chars` characters and
split large ones into chunks of at most `max_chars`.

Counts are in characters (code points), never bytes, so a chunk never ends
inside a character. A split prefers the last whitespace in the final fifth of
the window, so words stay whole when that costs little.
"""

from __future__ import annotations

__all__ = ["Chunker", "split_text"]


class Chunker:
    __slots__ = ("min_chars", "max_chars", "_pending", "_pending_chars")

    def __init__(self, min_chars: int = 1, max_chars: int = 1000) -> None:
        self.min_chars = min_chars
        self.max_chars = max_chars
        self._pending: list[str] = []
        self._pending_chars = 0

    @property
    def pending(self) -> str:
        """Text received but not yet released as a chunk."""
        return "".join(self._pending)

    def feed(self, text: str) -> list[str]:
        if not self._pending and self.min_chars <= len(text) <= self.max_chars:
            return [text]
        self._pending.append(text)
        self._pending_chars += len(text)
        if self._pending_chars < self.min_chars:
            return []
        return self.flush()

    def flush(self) -> list[str]:
        if not self._pending:
            return []
        text = self._pending[0] if len(self._pending) == 1 else "".join(self._pending)
        self._pending.clear()
        self._pending_chars = 0
        if len(text) <= self.max_chars:
            return [text]
        return split_text(text, self.max_chars)


def split_text(text: str, max_chars: int) -> list[str]:
    """`text` in pieces of at most `max_chars` characters, cut at whitespace when
    there is some near the end of a piece."""
    pieces: list[str] = []
    start = 0
    end_of_text = len(text)
    lookback = max_chars // 5
    while end_of_text - start > max_chars:
        end = start + max_chars
        cut = -1
        if lookback:
            window = text[end - lookback : end]
            for index in range(len(window) - 1, -1, -1):
                if window[index].isspace():
                    cut = end - lookback + index + 1
                    break
        if cut <= start:
            cut = end
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces
