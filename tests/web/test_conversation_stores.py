"""The two conversation stores behind one interface, each against the real
thing (a SQLite file in tmp_path, a real redis-server): turns kept in order
and trimmed, concurrent appends from two store objects (two servers) all
kept, expiry, and the settings that choose and limit them. Issue 17."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from laraflowai import ConfigurationError, Settings
from laraflowai.web.conversations import (
    ConversationSettings,
    ConversationStore,
    RedisConversations,
    SQLiteConversations,
    open_conversations,
    valid_conversation_id,
)


def make_store(kind: str, where: Any, settings: ConversationSettings) -> ConversationStore:
    if kind == "sqlite":
        return SQLiteConversations(Path(where) / "conversations.sqlite3", settings)
    return RedisConversations(where, settings)


@pytest.fixture(params=["sqlite", "redis"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """make(settings) -> a store; two made here share their data, as two servers do."""
    kind = request.param
    where: Any = tmp_path if kind == "sqlite" else request.getfixturevalue("redis_url")
    made: list[ConversationStore] = []

    def make(**changes: Any) -> ConversationStore:
        store = make_store(kind, where, ConversationSettings(store=kind, **changes))
        made.append(store)
        return store

    yield make
    for store in made:
        await store.aclose()


async def test_turns_are_kept_in_order_and_the_oldest_dropped_past_max_turns(stores: Any) -> None:
    store = stores(max_turns=2)
    conversation_id = await store.create()
    assert valid_conversation_id(conversation_id)

    for n in range(1, 4):
        assert await store.append(conversation_id, f"Q{n}", f"A{n}")

    found = await store.get(conversation_id)
    assert found is not None and found.turns == 2
    assert found.messages == [
        {"role": "user", "content": "Q2"},
        {"role": "assistant", "content": "A2"},
        {"role": "user", "content": "Q3"},
        {"role": "assistant", "content": "A3"},
    ]


async def test_appends_from_two_servers_at_once_are_all_kept(stores: Any) -> None:
    one, two = stores(), stores()
    conversation_id = await one.create()

    await asyncio.gather(
        *((one if n % 2 else two).append(conversation_id, f"Q{n}", f"A{n}") for n in range(10))
    )

    found = await two.get(conversation_id)
    assert found is not None and found.turns == 10
    pairs = list(zip(found.messages[::2], found.messages[1::2], strict=True))
    assert all(q["content"][1:] == a["content"][1:] for q, a in pairs)


async def test_a_deleted_conversation_is_never_created_again_by_an_append(stores: Any) -> None:
    store = stores()
    conversation_id = await store.create()
    assert await store.delete(conversation_id)

    assert not await store.append(conversation_id, "late", "answer")
    assert await store.get(conversation_id) is None
    assert not await store.delete(conversation_id)


async def test_a_conversation_expires_ttl_seconds_after_its_last_turn(stores: Any) -> None:
    store = stores(ttl=1)
    conversation_id = await store.create()
    await asyncio.sleep(0.6)
    assert await store.append(conversation_id, "Q", "A")  # used: kept a second more
    await asyncio.sleep(0.6)
    assert await store.get(conversation_id) is not None
    await asyncio.sleep(1.0)
    assert await store.get(conversation_id) is None
    assert not await store.append(conversation_id, "Q", "A")


async def test_max_turns_zero_keeps_no_turn(stores: Any) -> None:
    store = stores(max_turns=0)
    conversation_id = await store.create()
    assert await store.append(conversation_id, "Q", "A")
    found = await store.get(conversation_id)
    assert found is not None and found.messages == []


async def test_the_least_recently_used_goes_first_past_max_conversations(stores: Any) -> None:
    store = stores(max_conversations=2)
    old = await store.create()
    used = await store.create()
    await asyncio.sleep(0.01)
    await store.append(old, "Q", "A")  # now the most recently used
    newest = await store.create()

    assert await store.get(used) is None
    assert await store.get(old) is not None and await store.get(newest) is not None


def test_the_settings_choose_the_store_and_its_limits(tmp_path: Path) -> None:
    default = ConversationSettings.from_settings(Settings.from_env({}))
    assert (default.store, default.max_turns, default.ttl, default.max_conversations) == (
        "sqlite",
        20,
        30 * 86_400,
        10_000,
    )
    follows_streams = ConversationSettings.from_settings(
        Settings.from_env({"LARAFLOWAI_STREAM_STORE": "redis"})
    )
    assert follows_streams.store == "redis"
    chosen = ConversationSettings.from_settings(
        Settings.from_env(
            {
                "LARAFLOWAI_CONVERSATION_STORE": "sqlite",
                "LARAFLOWAI_STREAM_STORE": "redis",
                "LARAFLOWAI_CONVERSATION_PATH": str(tmp_path / "c.db"),
                "LARAFLOWAI_CONVERSATION_MAX_TURNS": "5",
                "LARAFLOWAI_CONVERSATION_TTL": "3600",
                "LARAFLOWAI_MAX_CONVERSATIONS": "7",
            }
        )
    )
    assert (chosen.store, chosen.max_turns, chosen.ttl, chosen.max_conversations) == (
        "sqlite",
        5,
        3600,
        7,
    )
    store = open_conversations(chosen)
    assert isinstance(store, SQLiteConversations) and store.location() == str(tmp_path / "c.db")
    off = Settings.from_env({"LARAFLOWAI_CONVERSATION_STORE": "off"})
    assert open_conversations(ConversationSettings.from_settings(off)) is None


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("LARAFLOWAI_CONVERSATION_STORE", "mongo", "sqlite, redis or off"),
        ("LARAFLOWAI_CONVERSATION_MAX_TURNS", "-1", "from 0 to 10000"),
        ("LARAFLOWAI_CONVERSATION_MAX_TURNS", "lots", "from 0 to 10000"),
        ("LARAFLOWAI_CONVERSATION_TTL", "5", "from 60 to"),
        ("LARAFLOWAI_MAX_CONVERSATIONS", "0", "from 1 to"),
    ],
)
def test_a_malformed_setting_is_refused_naming_the_variable(
    name: str, value: str, says: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        ConversationSettings.from_settings(Settings.from_env({name: value}))
    assert name in str(caught.value) and says in str(caught.value)


def test_the_redis_store_never_shows_the_password(redis_url: str) -> None:
    url = redis_url.replace("redis://", "redis://user:s3cret-pass@")
    store = RedisConversations(url)
    assert "s3cret-pass" not in store.location()
    assert "s3cret-pass" not in repr(ConversationSettings(redis_url=url))
