"""The real redis-server of the cache tests serves the Redis registry's too."""

from tests.cache.conftest import redis_server, redis_url

__all__ = ["redis_server", "redis_url"]
