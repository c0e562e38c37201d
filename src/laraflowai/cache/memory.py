"""A cache store in this process's memory: fast, gone when the process ends."""

from __future__ import annotations

import threading
import time

__all__ = ["MemoryStore"]


class MemoryStore:
    """At most `max_entries` streams; the oldest go first."""

    name = "memory"
    blocking = False

    def __init__(self, max_entries: int = 1024) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, bytes]] = {}

    def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self._entries[key]
                return None
            return entry[1]

    def set(self, key: str, value: bytes, ttl: int) -> None:
        with self._lock:
            entries = self._entries
            entries.pop(key, None)
            entries[key] = (time.monotonic() + ttl, value)
            while len(entries) > self.max_entries:
                del entries[next(iter(entries))]

    def clear(self) -> int:
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
        return count

    def count(self) -> int:
        with self._lock:
            return len(self._entries)

    def location(self) -> str:
        return "this process's memory"

    def close(self) -> None:
        self.clear()
