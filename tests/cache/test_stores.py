"""The stores themselves: the embedded SQLite file and a real redis-server, each
shared by separate processes, plus the in-memory store."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from laraflowai import FlowAI
from laraflowai.cache import CacheError, Store, open_store
from laraflowai.cache.memory import MemoryStore
from laraflowai.cache.sqlite import SQLiteStore
from tests.cache.helpers import stream_in_child
from tests.servers import ProviderServer, openai_chunks, stream_reply

DELTAS = ["An old ", "silent pond", " / a frog ", "jumps in"]


def test_the_default_store_is_a_sqlite_file_in_the_user_cache_directory(tmp_path: Path) -> None:
    store = open_store(FlowAI.settings())
    assert isinstance(store, SQLiteStore)
    # conftest points XDG_CACHE_HOME at the test's own directory.
    assert store.path == tmp_path / "user-cache" / "laraflowai" / "streams.sqlite3"


def test_sqlite_store_is_shared_by_two_processes(server: ProviderServer, tmp_path: Path) -> None:
    server.enqueue(stream_reply(openai_chunks(DELTAS)))
    env = {"LARAFLOWAI_CACHE_PATH": str(tmp_path / "shared" / "streams.sqlite3")}
    first = stream_in_child(f"{server.url}/v1", env, tmp_path)
    second = stream_in_child(f"{server.url}/v1", env, tmp_path)
    assert first == {"chunks": DELTAS, "cached": False, "complete": True}
    assert second == {"chunks": DELTAS, "cached": True, "complete": True}
    assert server.request_count == 1


def test_redis_store_is_shared_by_two_processes(
    server: ProviderServer, tmp_path: Path, redis_url: str
) -> None:
    server.enqueue(stream_reply(openai_chunks(DELTAS)))
    env = {"LARAFLOWAI_CACHE_STORE": "redis", "LARAFLOWAI_REDIS_URL": redis_url}
    first = stream_in_child(f"{server.url}/v1", env, tmp_path)
    second = stream_in_child(f"{server.url}/v1", env, tmp_path)
    assert first == {"chunks": DELTAS, "cached": False, "complete": True}
    assert second == {"chunks": DELTAS, "cached": True, "complete": True}
    assert server.request_count == 1


def _exercise(store: Store) -> None:
    assert store.get("k") is None
    store.set("k", b"value", 60)
    store.set("other", b"\x00\xff binary", 60)
    assert store.get("k") == b"value"
    assert store.get("other") == b"\x00\xff binary"
    assert store.count() == 2
    assert store.clear() == 2
    assert store.get("k") is None and store.count() == 0


def test_memory_store(monkeypatch: pytest.MonkeyPatch) -> None:
    _exercise(MemoryStore())
    FlowAI.configure(cache_store="memory")
    assert isinstance(open_store(FlowAI.settings()), MemoryStore)


def test_sqlite_store(tmp_path: Path) -> None:
    _exercise(SQLiteStore(tmp_path / "deep" / "dir" / "streams.sqlite3"))


def test_redis_store_sets_an_expiry_and_clears_only_its_own_keys(redis_url: str) -> None:
    import redis

    from laraflowai.cache.redis import PREFIX, RedisStore

    client = redis.Redis.from_url(redis_url)
    client.set("someone-else", b"keep me")
    store = RedisStore(redis_url)
    _exercise(store)
    store.set("k", b"v", 120)
    assert 0 < client.ttl(PREFIX + "k") <= 120
    store.clear()
    assert client.get("someone-else") == b"keep me"
    store.close()
    client.close()


def test_memory_store_drops_the_oldest_entries_past_its_size() -> None:
    store = MemoryStore(max_entries=3)
    for number in range(5):
        store.set(str(number), b"x", 60)
    assert [store.get(str(number)) for number in range(5)] == [None, None, b"x", b"x", b"x"]


def test_sqlite_store_with_many_threads(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "streams.sqlite3")
    failures: list[BaseException] = []

    def work(number: int) -> None:
        try:
            for round in range(20):
                key = f"{number}-{round}"
                store.set(key, key.encode(), 60)
                assert store.get(key) == key.encode()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert store.count() == 160


def test_an_unreachable_redis_is_a_clear_cache_error() -> None:
    import socket

    from laraflowai.cache.redis import RedisStore

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = RedisStore(f"redis://user:s3cret-pass@127.0.0.1:{port}/0")
    with pytest.raises(CacheError) as caught:
        store.get("k")
    assert "LARAFLOWAI_REDIS_URL" in str(caught.value)
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "s3cret-pass" not in str(caught.value)
