"""Newline-delimited JSON decoder, sans I/O: one JSON value per line."""

from __future__ import annotations

from typing import Any

from ._json import loads
from ._lines import LineDecoder

__all__ = ["NDJSONDecoder"]


class NDJSONDecoder:
    """feed(bytes) -> decoded values of the complete lines; blank lines are skipped.
    A line that is not JSON comes out as a `ValueError` instance, not raised, so
    the caller decides what a bad line means."""

    __slots__ = ("_lines",)

    def __init__(self) -> None:
        self._lines = LineDecoder()

    def feed(self, data: bytes) -> list[Any]:
        return [_decode(line) for line in self._lines.feed(data) if line.strip()]

    def finish(self) -> list[Any]:
        rest = self._lines.finish()
        return [_decode(rest)] if rest.strip() else []


def _decode(line: bytes) -> Any:
    try:
        return loads(line)
    except ValueError as exc:
        return ValueError(f"{exc}: {line[:200]!r}")
