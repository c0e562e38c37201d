"""The default cache store: one SQLite file, no server.

Safe with several threads (one connection behind a lock) and several
processes (SQLite's own locking, WAL journal, a busy timeout). Entries expire
by wall-clock time, so every process agrees on it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .._sqlite import SQLiteFile
from ._store import CacheError

__all__ = ["SQLiteStore"]

_T = TypeVar("_T")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS streams "
    "(key TEXT PRIMARY KEY, value BLOB NOT NULL, expires_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS streams_expiry ON streams (expires_at)",
)


class SQLiteStore:
    name = "sqlite"
    blocking = True

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = SQLiteFile(self.path, ("PRAGMA synchronous=NORMAL", *_SCHEMA))

    def _run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        try:
            with self._file.connection() as connection:
                return work(connection)
        except (sqlite3.Error, OSError) as exc:
            raise CacheError(f"the stream cache at {self.path} could not be used: {exc}") from None

    def get(self, key: str) -> bytes | None:
        def get(connection: sqlite3.Connection) -> bytes | None:
            row = connection.execute(
                "SELECT value FROM streams WHERE key = ? AND expires_at > ?", (key, time.time())
            ).fetchone()
            return None if row is None else bytes(row[0])

        return self._run(get)

    def set(self, key: str, value: bytes, ttl: int) -> None:
        def set(connection: sqlite3.Connection) -> None:
            now = time.time()
            connection.execute("DELETE FROM streams WHERE expires_at <= ?", (now,))
            connection.execute(
                "INSERT OR REPLACE INTO streams (key, value, expires_at) VALUES (?, ?, ?)",
                (key, value, now + ttl),
            )

        self._run(set)

    def clear(self) -> int:
        return self._run(lambda connection: connection.execute("DELETE FROM streams").rowcount)

    def count(self) -> int:
        def count(connection: sqlite3.Connection) -> int:
            row = connection.execute(
                "SELECT count(*) FROM streams WHERE expires_at > ?", (time.time(),)
            ).fetchone()
            return int(row[0])

        return self._run(count)

    def location(self) -> str:
        return str(self.path)

    def close(self) -> None:
        self._file.close()
