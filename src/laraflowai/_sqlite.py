"""One process's connection to a SQLite file, for the stores that keep one
(the stream cache, the web app's conversations): usable from any thread (one
connection behind a lock), shared by any number of processes (WAL journal, a
busy timeout), opened again in a child after a fork, autocommit unless a
store begins a transaction itself."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = ["SQLiteFile"]


class SQLiteFile:
    __slots__ = ("path", "_setup", "_lock", "_connection", "_pid")

    def __init__(self, path: Path, setup: Iterable[str]) -> None:
        """`setup`: statements run on each new connection (pragmas, schema)."""
        self.path = path
        self._setup = tuple(setup)
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pid = 0

    @contextlib.contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """The connection, held by this thread until the block ends."""
        with self._lock:
            yield self._connect()

    def _connect(self) -> sqlite3.Connection:
        # A connection must not cross a fork: the child opens its own.
        if self._connection is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(
                self.path, timeout=10, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode=WAL")
            for statement in self._setup:
                connection.execute(statement)
            self._connection, self._pid = connection, os.getpid()
        return self._connection

    def close(self) -> None:
        with self._lock:
            connection, self._connection = self._connection, None
        if connection is not None and self._pid == os.getpid():
            connection.close()
