"""The real redis-server of the cache tests serves the Redis registry's too, and
the real pusher-js client follows WebSocket streams across processes."""

from tests.cache.conftest import redis_server, redis_url
from tests.pusher.conftest import listen, pusher_js

__all__ = ["listen", "pusher_js", "redis_server", "redis_url"]
