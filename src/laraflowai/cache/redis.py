"""A cache store on a Redis server, for several processes and machines.

Needs the `redis` extra (`pip install "laraflowai[redis]"`). Entries are plain
strings under `laraflowai:stream:<sha256>` with Redis's own expiry. A cache
must never stall a stream: short socket timeouts, one retry.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .._config import hide_password
from .._secrets import remember
from ._store import CacheError

__all__ = ["RedisStore"]

PREFIX = "laraflowai:stream:"


class RedisStore:
    name = "redis"
    blocking = True

    def __init__(self, url: str) -> None:
        self.url = url
        _, _, rest = url.partition("://")
        userinfo, at, _ = rest.rpartition("@")
        if at and ":" in userinfo:
            remember(userinfo.split(":", 1)[1])
        try:
            self._client: Any = redis.Redis.from_url(
                url, socket_timeout=5, socket_connect_timeout=2, retry=Retry(NoBackoff(), 1)
            )
        except ValueError as exc:
            raise CacheError(f"LARAFLOWAI_REDIS_URL is not a Redis URL: {exc}") from None

    def _failed(self, exc: Exception) -> CacheError:
        return CacheError(
            f"the Redis stream cache at {hide_password(self.url)} could not be used "
            f"({type(exc).__name__}: {exc}); check LARAFLOWAI_REDIS_URL"
        )

    def get(self, key: str) -> bytes | None:
        try:
            value = self._client.get(PREFIX + key)
        except redis.RedisError as exc:
            raise self._failed(exc) from None
        return None if value is None else bytes(value)

    def set(self, key: str, value: bytes, ttl: int) -> None:
        try:
            self._client.set(PREFIX + key, value, ex=ttl)
        except redis.RedisError as exc:
            raise self._failed(exc) from None

    def clear(self) -> int:
        removed = 0
        try:
            batch: list[Any] = []
            for name in self._client.scan_iter(match=PREFIX + "*", count=500):
                batch.append(name)
                if len(batch) == 500:
                    removed += int(self._client.unlink(*batch))
                    batch.clear()
            if batch:
                removed += int(self._client.unlink(*batch))
        except redis.RedisError as exc:
            raise self._failed(exc) from None
        return removed

    def count(self) -> int:
        try:
            return sum(1 for _ in self._client.scan_iter(match=PREFIX + "*", count=500))
        except redis.RedisError as exc:
            raise self._failed(exc) from None

    def location(self) -> str:
        return hide_password(self.url)

    def close(self) -> None:
        self._client.close()
