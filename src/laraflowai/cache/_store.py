"""What a cache store is, and which one the settings choose.

A store keeps bytes under a key for a number of seconds. Three come built in:
`sqlite` (the default: a file in the user's cache directory, no server,
shared by every process and thread on the machine), `memory` (this process
only) and `redis` (several processes and machines; needs the `redis` extra).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

from .._config import Settings, hide_password
from .._exceptions import CacheError

__all__ = ["CacheError", "Store", "close_stores", "default_cache_path", "open_store"]


class Store(Protocol):
    name: str
    # False when calls never wait for I/O (the async driver then skips the thread hop).
    blocking: bool

    def get(self, key: str) -> bytes | None:
        """The value stored under `key`, or None when there is none or it expired."""

    def set(self, key: str, value: bytes, ttl: int) -> None:
        """Store `value` under `key` for `ttl` seconds."""

    def clear(self) -> int:
        """Remove every entry; the number removed."""

    def count(self) -> int:
        """How many entries are stored (expired ones may be counted until purged)."""

    def location(self) -> str:
        """Where the entries live, for people (no secrets)."""

    def close(self) -> None: ...


def default_cache_path() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("laraflowai", appauthor=False)) / "streams.sqlite3"


_lock = threading.Lock()
_stores: dict[tuple[str, str], Store] = {}


def open_store(settings: Settings) -> Store:
    """The store the settings name, shared by every stream with the same settings."""
    kind = settings.cache_store
    if kind == "sqlite":
        where = str(Path(settings.cache_path).expanduser()) if settings.cache_path else ""
        where = where or str(default_cache_path())
    elif kind == "redis":
        where = settings.redis_url or "redis://127.0.0.1:6379/0"
    else:
        where = ""
    with _lock:
        store = _stores.get((kind, where))
        if store is None:
            store = _stores[(kind, where)] = _new_store(kind, where)
        return store


def _new_store(kind: str, where: str) -> Store:
    if kind == "sqlite":
        from .sqlite import SQLiteStore

        return SQLiteStore(where)
    if kind == "redis":
        try:
            from .redis import RedisStore
        except ImportError:
            raise CacheError(
                f"LARAFLOWAI_CACHE_STORE=redis ({hide_password(where)}) needs the redis package: "
                'pip install "laraflowai[redis]"'
            ) from None
        return RedisStore(where)
    from .memory import MemoryStore

    return MemoryStore()


def close_stores() -> None:
    """Close and forget every open store (the memory store's entries go with it)."""
    with _lock:
        stores = list(_stores.values())
        _stores.clear()
    for store in stores:
        store.close()
