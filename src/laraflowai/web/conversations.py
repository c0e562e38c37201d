"""Conversations the web app keeps by id, so a chat is multi-turn.

A conversation is its id (`secrets.token_urlsafe`: unguessable, and the only
way to read it) and its turns, a question and its answer each, as plain
messages `{"role": "user" | "assistant", "content": str}`. The SSE route sends
the stored turns as the agent's `history=` and stores a turn once its answer
has completed; an answer that failed, was stopped or cut at the output cap is
not stored.

Two stores behind one small interface: `sqlite` (the default: a file in the
user's data directory, shared by every process on the machine) and `redis`
(several machines; the app's LARAFLOWAI_REDIS_URL). Limits, each a variable:

    LARAFLOWAI_CONVERSATION_STORE       sqlite | redis | off (default: redis when
                                        LARAFLOWAI_STREAM_STORE=redis, else sqlite)
    LARAFLOWAI_CONVERSATION_PATH        the sqlite file (default: user data dir)
    LARAFLOWAI_CONVERSATION_MAX_TURNS   turns kept, oldest dropped first (20)
    LARAFLOWAI_CONVERSATION_TTL         seconds a conversation is kept after its
                                        last turn (2592000: 30 days)
    LARAFLOWAI_MAX_CONVERSATIONS        conversations kept; creating one more drops
                                        the least recently used (10000)
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import orjson

from .._config import Settings, get_settings, hide_password
from .._exceptions import ConfigurationError
from .._sqlite import SQLiteFile
from .._types import Message
from ..crew.conversation import DEFAULT_MAX_TURNS

__all__ = [
    "ConversationSettings",
    "ConversationStore",
    "RedisConversations",
    "SQLiteConversations",
    "StoredConversation",
    "default_conversation_path",
    "new_conversation_id",
    "open_conversations",
    "valid_conversation_id",
]

_T = TypeVar("_T")
_ID_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_DAY = 86_400


def new_conversation_id() -> str:
    """32 URL-safe characters, 192 random bits."""
    return secrets.token_urlsafe(24)


def valid_conversation_id(value: str) -> bool:
    return 16 <= len(value) <= 64 and set(value) <= _ID_ALPHABET


def default_conversation_path() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("laraflowai", appauthor=False)) / "conversations.sqlite3"


@dataclass(frozen=True, slots=True)
class StoredConversation:
    conversation_id: str
    messages: list[Message]
    created_at: float
    updated_at: float

    @property
    def turns(self) -> int:
        return sum(1 for message in self.messages if message["role"] == "user")


def _whole(settings: Settings, name: str, default: int, low: int, high: int) -> int:
    raw = settings.env(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ConfigurationError(f"{name} must be a whole number from {low} to {high}, got {raw!r}")
    return int(raw)


@dataclass(frozen=True, slots=True)
class ConversationSettings:
    """Where conversations live and how much of them is kept."""

    store: str = "sqlite"
    path: str | None = None
    redis_url: str | None = field(default=None, repr=False)
    max_turns: int = DEFAULT_MAX_TURNS
    ttl: int = 30 * _DAY
    max_conversations: int = 10_000

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> ConversationSettings:
        settings = settings if settings is not None else get_settings()
        streams = (settings.env("LARAFLOWAI_STREAM_STORE") or "memory").strip().lower()
        store = (settings.env("LARAFLOWAI_CONVERSATION_STORE") or "").lower()
        store = store or ("redis" if streams == "redis" else "sqlite")
        if store not in ("sqlite", "redis", "off"):
            raise ConfigurationError(
                f"LARAFLOWAI_CONVERSATION_STORE must be sqlite, redis or off, got {store!r}"
            )
        if store == "redis" and not settings.redis_url:
            raise ConfigurationError(
                "LARAFLOWAI_CONVERSATION_STORE=redis needs LARAFLOWAI_REDIS_URL"
            )
        return cls(
            store=store,
            path=settings.env("LARAFLOWAI_CONVERSATION_PATH"),
            redis_url=settings.redis_url,
            max_turns=_whole(
                settings, "LARAFLOWAI_CONVERSATION_MAX_TURNS", DEFAULT_MAX_TURNS, 0, 10_000
            ),
            ttl=_whole(settings, "LARAFLOWAI_CONVERSATION_TTL", 30 * _DAY, 60, 3650 * _DAY),
            max_conversations=_whole(
                settings, "LARAFLOWAI_MAX_CONVERSATIONS", 10_000, 1, 100_000_000
            ),
        )


class ConversationStore(Protocol):
    """Conversations by id. Every method is safe from several processes at once."""

    settings: ConversationSettings

    async def create(self) -> str:
        """A new, empty conversation; its id."""

    async def get(self, conversation_id: str) -> StoredConversation | None:
        """The conversation, or None when there is none (never was, deleted or expired)."""

    async def append(self, conversation_id: str, question: str, answer: str) -> bool:
        """Add a turn, dropping the oldest beyond max_turns; False if the
        conversation is gone (it is never created again by this)."""

    async def delete(self, conversation_id: str) -> bool:
        """Forget the conversation; False if there was none."""

    def location(self) -> str:
        """Where conversations live, for people (no secrets)."""

    async def aclose(self) -> None: ...


def _turn(question: str, answer: str) -> list[Message]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS conversations (id TEXT PRIMARY KEY, messages BLOB NOT NULL, "
    "created_at REAL NOT NULL, updated_at REAL NOT NULL, expires_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS conversations_used ON conversations (updated_at)",
)


class SQLiteConversations:
    """Conversations in one SQLite file: no server, any number of processes
    (SQLite's locking; each change is one IMMEDIATE transaction)."""

    def __init__(self, path: str | Path, settings: ConversationSettings | None = None) -> None:
        self.path = Path(path).expanduser()
        self.settings = settings if settings is not None else ConversationSettings()
        self._file = SQLiteFile(self.path, _SCHEMA)

    async def _run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        def locked() -> _T:
            with self._file.connection() as connection:
                connection.execute("BEGIN IMMEDIATE")
                try:
                    result = work(connection)
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
                connection.execute("COMMIT")
                return result

        return await asyncio.to_thread(locked)

    async def create(self) -> str:
        conversation_id = new_conversation_id()
        limit = self.settings.max_conversations

        def create(connection: sqlite3.Connection) -> None:
            now = time.time()
            connection.execute("DELETE FROM conversations WHERE expires_at <= ?", (now,))
            (count,) = connection.execute("SELECT count(*) FROM conversations").fetchone()
            if count >= limit:
                connection.execute(
                    "DELETE FROM conversations WHERE id IN (SELECT id FROM conversations "
                    "ORDER BY updated_at LIMIT ?)",
                    (count - limit + 1,),
                )
            connection.execute(
                "INSERT INTO conversations VALUES (?, ?, ?, ?, ?)",
                (conversation_id, b"[]", now, now, now + self.settings.ttl),
            )

        await self._run(create)
        return conversation_id

    async def get(self, conversation_id: str) -> StoredConversation | None:
        def get(connection: sqlite3.Connection) -> Any:
            return connection.execute(
                "SELECT messages, created_at, updated_at FROM conversations "
                "WHERE id = ? AND expires_at > ?",
                (conversation_id, time.time()),
            ).fetchone()

        row = await self._run(get)
        if row is None:
            return None
        return StoredConversation(conversation_id, orjson.loads(row[0]), row[1], row[2])

    async def append(self, conversation_id: str, question: str, answer: str) -> bool:
        keep = 2 * self.settings.max_turns

        def append(connection: sqlite3.Connection) -> bool:
            now = time.time()
            row = connection.execute(
                "SELECT messages FROM conversations WHERE id = ? AND expires_at > ?",
                (conversation_id, now),
            ).fetchone()
            if row is None:
                return False
            messages = [*orjson.loads(row[0]), *_turn(question, answer)]
            connection.execute(
                "UPDATE conversations SET messages = ?, updated_at = ?, expires_at = ? "
                "WHERE id = ?",
                (
                    orjson.dumps(messages[len(messages) - keep :] if keep else []),
                    now,
                    now + self.settings.ttl,
                    conversation_id,
                ),
            )
            return True

        return await self._run(append)

    async def delete(self, conversation_id: str) -> bool:
        def delete(connection: sqlite3.Connection) -> bool:
            cursor = connection.execute(
                "DELETE FROM conversations WHERE id = ? AND expires_at > ?",
                (conversation_id, time.time()),
            )
            return cursor.rowcount > 0

        return await self._run(delete)

    def location(self) -> str:
        return str(self.path)

    async def aclose(self) -> None:
        self._file.close()


# KEYS: the index; ARGV: id, now, ttl, max_conversations, key prefix.
_CREATE = """
local now, ttl, limit, prefix = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
local over = redis.call('ZCARD', KEYS[1]) - limit + 1
if over > 0 then
  for _, old in ipairs(redis.call('ZRANGE', KEYS[1], 0, over - 1)) do
    redis.call('DEL', prefix .. old, prefix .. old .. ':messages')
    redis.call('ZREM', KEYS[1], old)
  end
end
redis.call('HSET', prefix .. ARGV[1], 'created_at', ARGV[2], 'updated_at', ARGV[2])
redis.call('EXPIRE', prefix .. ARGV[1], ttl)
redis.call('ZADD', KEYS[1], now, ARGV[1])
return 1
"""
# KEYS: the conversation, its messages, the index; ARGV: question, answer
# (JSON), messages kept, now, ttl, id.
_APPEND = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local keep = tonumber(ARGV[3])
if keep > 0 then
  redis.call('RPUSH', KEYS[2], ARGV[1], ARGV[2])
  redis.call('LTRIM', KEYS[2], -keep, -1)
  redis.call('EXPIRE', KEYS[2], ARGV[5])
end
redis.call('HSET', KEYS[1], 'updated_at', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[6])
return 1
"""


class RedisConversations:
    """Conversations in Redis, for several processes and machines: a hash
    `<prefix><id>` (times), a list `<prefix><id>:messages` (one JSON message
    each) and a sorted set `<prefix>index` of ids by last use. Every change is
    one script, so two servers appending at once lose no turn."""

    def __init__(
        self,
        url: str,
        settings: ConversationSettings | None = None,
        *,
        prefix: str = "laraflowai:c:",
    ) -> None:
        import redis.asyncio as aioredis

        self.settings = settings if settings is not None else ConversationSettings()
        self.prefix = prefix
        self._url = url
        self.client: Any = aioredis.Redis.from_url(url, socket_connect_timeout=2)
        self._create = self.client.register_script(_CREATE)
        self._append = self.client.register_script(_APPEND)

    async def create(self) -> str:
        conversation_id = new_conversation_id()
        await self._create(
            keys=[self.prefix + "index"],
            args=[
                conversation_id,
                time.time(),
                self.settings.ttl,
                self.settings.max_conversations,
                self.prefix,
            ],
        )
        return conversation_id

    async def get(self, conversation_id: str) -> StoredConversation | None:
        key = self.prefix + conversation_id
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hgetall(key)
            pipe.lrange(key + ":messages", 0, -1)
            times, raw = await pipe.execute()
        if not times:
            return None
        return StoredConversation(
            conversation_id,
            [orjson.loads(message) for message in raw],
            float(times[b"created_at"]),
            float(times[b"updated_at"]),
        )

    async def append(self, conversation_id: str, question: str, answer: str) -> bool:
        key = self.prefix + conversation_id
        asked, answered = (orjson.dumps(message) for message in _turn(question, answer))
        done = await self._append(
            keys=[key, key + ":messages", self.prefix + "index"],
            args=[
                asked,
                answered,
                2 * self.settings.max_turns,
                time.time(),
                self.settings.ttl,
                conversation_id,
            ],
        )
        return bool(done)

    async def delete(self, conversation_id: str) -> bool:
        key = self.prefix + conversation_id
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(key, key + ":messages")
            pipe.zrem(self.prefix + "index", conversation_id)
            deleted, _ = await pipe.execute()
        return bool(deleted)

    def location(self) -> str:
        return hide_password(self._url)

    async def aclose(self) -> None:
        await self.client.aclose()


def open_conversations(settings: ConversationSettings) -> ConversationStore | None:
    """The store `settings` name (None when LARAFLOWAI_CONVERSATION_STORE=off)."""
    if settings.store == "off":
        return None
    if settings.store == "redis":
        try:
            import redis.asyncio  # noqa: F401
        except ImportError:
            raise ConfigurationError(
                "LARAFLOWAI_CONVERSATION_STORE=redis needs the redis extra: "
                'pip install "laraflowai[redis]"'
            ) from None
        assert settings.redis_url is not None
        return RedisConversations(settings.redis_url, settings)
    return SQLiteConversations(settings.path or default_conversation_path(), settings)
