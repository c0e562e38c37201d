"""Streams in Redis: any server process follows, resumes or stops any stream.

Needs the `redis` extra. For stream `<id>` (keys under `<prefix>:<id>`):

    :log    a Redis Stream; event n has the entry id `0-(n+1)`, fields `t` (type), `d` (JSON)
    :meta   a hash: status, started_at, ended_at, listeners
    :alive  refreshed by the producing process while the stream runs
    :ctl    a pub/sub channel to the producing process: stop, attached, detached

Event n's id is the same `<id>-<n>` as in the memory registry, so SSE resume
works against any process. Entry ids are explicit, so an append happens once:
when the producing process dies, the first listener to notice (its `:alive`
expired) appends the `error` event, and a second one's append is refused.
Ended streams expire after `retention` seconds with Redis's own expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import Any

import orjson
import redis.asyncio as aioredis

from ._redis_io import Tail, Writer
from .base import (
    TERMINAL_TYPES,
    StreamEntry,
    StreamInfo,
    StreamRegistry,
    StreamStatus,
    Subscription,
    UnknownStreamError,
)

__all__ = ["RedisStreamRegistry"]

logger = logging.getLogger("laraflowai.broadcast")

_CANCEL_WAIT = 5.0
_ALIVE_SECONDS = 6
_BLOCK_MS = 2000
_BATCH = 1000
_CONNECTIONS = 64
# A running stream's keys outlive a crash of every process by this much at most.
_RUNNING_TTL = 24 * 3600
_STATUS_BY_REASON: dict[str, StreamStatus] = {
    "stop": "stopped",
    "abandoned": "abandoned",
    "shutdown": "stopped",
}
_LIVE = (b"running", b"queued")
_DEAD_PRODUCER = orjson.dumps(
    {"type": "error", "kind": "server", "message": "The server producing this answer stopped."}
)
# Append the error of a stream whose producer died, once, if it is still running.
_END_DEAD = """
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local n = redis.call('XLEN', KEYS[2])
redis.call('XADD', KEYS[2], '0-' .. (n + 1), 't', 'error', 'd', ARGV[1])
redis.call('HSET', KEYS[1], 'status', 'error', 'ended_at', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""


# Take a queued stream: the process that runs this produces it.
_CLAIM = """
if redis.call('HGET', KEYS[1], 'status') ~= 'queued' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'running')
redis.call('SET', KEYS[2], 1, 'EX', ARGV[1])
return 1
"""
# End a stream that no process has taken yet.
_STOP_QUEUED = """
if redis.call('HGET', KEYS[1], 'status') ~= 'queued' then return 0 end
local n = redis.call('XLEN', KEYS[2])
redis.call('XADD', KEYS[2], '0-' .. (n + 1), 't', 'complete', 'd', ARGV[1])
redis.call('HSET', KEYS[1], 'status', 'stopped', 'ended_at', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""
_STOPPED = orjson.dumps({"type": "complete", "stopped": True, "reason": "stop"})


class _Stopped(Exception):
    """A pumped producer's event after its stream ended: stop producing."""


class _Owned:
    """A stream this process produces."""

    __slots__ = (
        "id", "keys", "count", "task", "status", "cancel_reason", "grace", "background", "events",
    )  # fmt: skip

    def __init__(self, stream_id: str, keys: _Keys) -> None:
        self.id = stream_id
        self.keys = keys
        self.count = 0
        self.task: asyncio.Task[None] | None = None
        self.status: StreamStatus = "running"
        self.cancel_reason: str | None = None
        self.grace: asyncio.TimerHandle | None = None
        self.background = False
        self.events: Any = None


class _Keys:
    __slots__ = ("log", "meta", "alive", "ctl")

    def __init__(self, prefix: str, stream_id: str) -> None:
        base = f"{prefix}:{stream_id}"
        self.log, self.meta, self.alive, self.ctl = (
            f"{base}:log", f"{base}:meta", f"{base}:alive", f"{base}:ctl",
        )  # fmt: skip


def _index(entry_id: bytes) -> int:
    return int(entry_id.split(b"-", 1)[1]) - 1


class _RedisSubscription(Subscription):
    __slots__ = ("stream_id", "_registry", "_keys", "_cursor", "_closed", "_ended")

    def __init__(self, registry: RedisStreamRegistry, stream_id: str, cursor: int) -> None:
        self.stream_id = stream_id
        self._registry = registry
        self._keys = _Keys(registry.prefix, stream_id)
        self._cursor = cursor
        self._closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._ended = False

    @property
    def cursor(self) -> int:
        return self._cursor

    @property
    def exhausted(self) -> bool:
        return self._ended

    async def next(self) -> list[StreamEntry]:
        registry = self._registry
        keys = self._keys
        while not self._closed.done() and not self._ended:
            waiter = registry._tail.wait(keys.log, self._cursor, registry.client)
            pending: set[asyncio.Future[Any]] = {waiter.future, self._closed}
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if not waiter.future.done():
                registry._tail.forget(waiter)
                break
            found = waiter.future.result()
            if found:
                entries = self._take(found)
                if entries[-1].type in TERMINAL_TYPES:
                    self._ended = True
                return entries
            # Silence: an expired stream is over; a running one may have lost its producer.
            client = registry.client
            if await client.hget(keys.meta, "status") not in _LIVE:
                if not await client.exists(keys.log):
                    self._ended = True
                continue
            await registry._check_alive(self.stream_id)
        return []

    def _take(self, found: list[tuple[bytes, dict[bytes, bytes]]]) -> list[StreamEntry]:
        entries = [
            StreamEntry(_index(entry_id), fields[b"t"].decode(), fields[b"d"])
            for entry_id, fields in found
        ]
        self._cursor = entries[-1].index + 1
        return entries

    async def aclose(self) -> None:
        if self._closed.done():
            return
        self._closed.set_result(None)
        await self._registry._detach(self.stream_id)

    async def initial_state(self) -> None:
        """Whether it is already over with nothing left to read (for `exhausted`)."""
        client = self._registry.client
        status = await client.hget(self._keys.meta, "status")
        if status not in _LIVE:
            length = await client.xlen(self._keys.log)
            self._ended = self._cursor >= length


class RedisStreamRegistry(StreamRegistry):
    """Streams kept in Redis, served by every process that shares `url`."""

    def __init__(
        self,
        url: str,
        *,
        resume_grace: float = 15.0,
        retention: float = 300.0,
        prefix: str = "laraflowai:s",
    ) -> None:
        if resume_grace < 0 or retention < 0:
            raise ValueError("resume_grace and retention must be at least 0 seconds")
        self.resume_grace = resume_grace
        self.retention = retention
        self.prefix = prefix
        # Requests wait for a connection instead of failing when all are busy
        # (redis-py's own pool refuses the 101st).
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=_CONNECTIONS, timeout=10, socket_connect_timeout=2
        )
        self.client: Any = aioredis.Redis(connection_pool=pool)
        self._writer = Writer(self.client)
        self._tail = Tail(
            lambda: aioredis.Redis.from_url(url, single_connection_client=True),
            block_ms=_BLOCK_MS,
            count=_BATCH,
        )
        self._owned: dict[str, _Owned] = {}
        self._pubsub: Any = None
        self._listener: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._end_dead = self.client.register_script(_END_DEAD)
        self._claim = self.client.register_script(_CLAIM)
        self._stop_queued = self.client.register_script(_STOP_QUEUED)

    def __repr__(self) -> str:
        return f"<RedisStreamRegistry prefix={self.prefix!r} owned={len(self._owned)}>"

    async def start(
        self,
        events: AsyncIterator[Mapping[str, Any]],
        *,
        meta: Mapping[str, Any] | None = None,
    ) -> str:
        stream_id = await self.enqueue(meta=meta, background=False)
        await self.adopt(stream_id, events)
        return stream_id

    async def enqueue(
        self, *, meta: Mapping[str, Any] | None = None, background: bool = True
    ) -> str:
        """A stream whose producer another process adopts later (a worker's job):
        it can be followed, and stopped, from now on. A `background` stream is
        never abandoned: it runs to its end with or without listeners."""
        stream_id = secrets.token_hex(12)
        keys = _Keys(self.prefix, stream_id)
        start = {"type": "start", "stream_id": stream_id, **(meta or {})}
        async with self.client.pipeline(transaction=True) as pipe:
            fields = {"status": "queued", "started_at": time.time(), "listeners": 0}
            pipe.hset(keys.meta, mapping={**fields, "background": int(background)})
            pipe.xadd(keys.log, {"t": "start", "d": orjson.dumps(start)}, id="0-1")
            pipe.expire(keys.meta, _RUNNING_TTL)
            pipe.expire(keys.log, _RUNNING_TTL)
            await pipe.execute()
        return stream_id

    async def adopt(self, stream_id: str, events: AsyncIterator[Mapping[str, Any]]) -> bool:
        """Produce a queued stream from `events` in this process. False (and
        `events` closed) when it is not queued: stopped meanwhile, or adopted
        by another process (a redelivered job)."""
        keys = _Keys(self.prefix, stream_id)
        if not await self._claim(keys=[keys.meta, keys.alive], args=[_ALIVE_SECONDS]):
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()
            return False
        owned = _Owned(stream_id, keys)
        owned.count = await self.client.xlen(keys.log)
        owned.background = await self.client.hget(keys.meta, "background") == b"1"
        self._owned[stream_id] = owned
        await self._control()
        owned.events = events
        owned.task = asyncio.create_task(self._run(owned, events), name=f"laraflowai-{stream_id}")
        if self._heartbeat is None:
            self._heartbeat = asyncio.create_task(self._beat())
        await self._maybe_abandon(owned)
        return True

    async def wait(self, stream_id: str) -> None:
        """Until this process's producer of `stream_id` is done."""
        owned = self._owned.get(stream_id)
        if owned is not None and owned.task is not None:
            await asyncio.wait({owned.task})

    async def subscribe(self, stream_id: str, after: int | None = None) -> Subscription:
        keys = _Keys(self.prefix, stream_id)
        status = await self.client.hget(keys.meta, "status")
        if status is None:
            raise UnknownStreamError(
                f"no stream {stream_id!r}: it never existed or its retention window ended"
            )
        if after is not None:
            length = await self.client.xlen(keys.log)
            if not 0 <= after < length:
                raise ValueError(
                    f"stream {stream_id} has no event {after} (it has {length} so far)"
                )
        await self.client.hincrby(keys.meta, "listeners", 1)
        if status in _LIVE:
            await self.client.publish(keys.ctl, "attached")
        subscription = _RedisSubscription(self, stream_id, 0 if after is None else after + 1)
        await subscription.initial_state()
        return subscription

    async def stop(self, stream_id: str) -> StreamInfo:
        owned = self._owned.get(stream_id)
        if owned is not None:
            await self._cancel(owned, "stop")
        else:
            info = await self._info(stream_id)
            keys = _Keys(self.prefix, stream_id)
            retention = max(int(self.retention), 1)
            if await self._stop_queued(
                keys=[keys.meta, keys.log], args=[_STOPPED, time.time(), retention]
            ):
                return await self._info(stream_id)
            if info.status == "running":
                await self.client.publish(keys.ctl, "stop")
                deadline = time.monotonic() + _CANCEL_WAIT + 1
                while (await self._info(stream_id)).status == "running":
                    if time.monotonic() > deadline:
                        await self._check_alive(stream_id)  # nobody produces it any more
                        break
                    await asyncio.sleep(0.02)
        return await self._info(stream_id)

    async def info(self, stream_id: str) -> StreamInfo | None:
        try:
            return await self._info(stream_id)
        except UnknownStreamError:
            return None

    async def aclose(self) -> None:
        owned = list(self._owned.values())
        await asyncio.gather(*(self._cancel(o, "shutdown") for o in owned), return_exceptions=True)
        for task in (self._heartbeat, self._listener):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        if self._pubsub is not None:
            await self._pubsub.aclose()
        await self._tail.aclose()
        await self.client.aclose()
        await self.client.connection_pool.disconnect()  # a pool given to a client stays open

    # the producing side

    async def _run(self, owned: _Owned, events: AsyncIterator[Mapping[str, Any]]) -> None:
        try:
            pump = getattr(events, "pump", None)
            if pump is not None:
                await self._pump(owned, pump)
            else:
                async for payload in events:
                    if owned.status != "running":
                        break
                    await self._append(owned, payload)
        except (asyncio.CancelledError, _Stopped):
            pass  # stop, abandonment or shutdown: _finalize writes the last event
        except Exception:
            logger.exception("stream %s: the producer failed", owned.id)
            await self._append(
                owned, {"type": "error", "message": "The answer could not be completed."}
            )
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
            await self._finalize(owned)

    async def _pump(self, owned: _Owned, pump: Any) -> None:
        """A producer with `pump(append)` (an agent's answer) pushes its events
        here: a chunk goes from the provider's read to the pipeline in one
        frame. The last event's append, which awaits its write, is handed
        back for the producer to wait for."""

        def append(payload: Mapping[str, Any] | str) -> object:
            if owned.status != "running":
                raise _Stopped
            if isinstance(payload, str):
                return self._add(owned, "chunk", {"type": "chunk", "chunk": payload})
            kind = payload.get("type")
            if kind in TERMINAL_TYPES:
                return self._append(owned, payload)
            return self._add(owned, kind, payload)

        await pump(append)

    def _add(self, owned: _Owned, kind: Any, payload: Mapping[str, Any]) -> Awaitable[None] | None:
        """Queue the entry of an event that does not end the stream; what to
        wait for when Redis is slower than the producers."""
        writer = self._queue(owned, kind, payload)
        return writer.flush() if writer.backlog > _BATCH else None

    def _queue(self, owned: _Owned, kind: Any, payload: Mapping[str, Any]) -> Writer:
        if not isinstance(kind, str):
            raise ValueError(f"a stream event needs a string 'type', got {payload!r}")
        owned.count += 1
        log, entry_id = owned.keys.log, f"0-{owned.count}"
        fields = {"t": kind, "d": orjson.dumps(payload)}
        writer = self._writer
        writer.add(lambda pipe: pipe.xadd(log, fields, id=entry_id))
        return writer

    async def _append(self, owned: _Owned, payload: Mapping[str, Any]) -> None:
        kind = payload.get("type")
        if not isinstance(kind, str):
            raise ValueError(f"a stream event needs a string 'type', got {payload!r}")
        if owned.status != "running":
            return
        if kind not in TERMINAL_TYPES:
            behind = self._add(owned, kind, payload)
            if behind is not None:  # Redis is slower than the producers: wait
                await behind
            return
        writer = self._queue(owned, kind, payload)
        if kind == "error":
            status: StreamStatus = "error"
        elif payload.get("stopped"):
            status = _STATUS_BY_REASON.get(str(payload.get("reason")), "stopped")
        else:
            status = "complete"
        owned.status = status
        keys = owned.keys
        retention = max(int(self.retention), 1)
        ended = {"status": status, "ended_at": time.time()}

        def end(pipe: Any) -> None:
            pipe.hset(keys.meta, mapping=ended)
            pipe.expire(keys.log, retention)
            pipe.expire(keys.meta, retention)
            pipe.delete(keys.alive)

        writer.add(end)
        await writer.flush()
        if owned.grace is not None:
            owned.grace.cancel()
        self._owned.pop(owned.id, None)

    async def _finalize(self, owned: _Owned) -> None:
        if owned.status != "running":
            return
        reason = owned.cancel_reason
        if reason is None:
            await self._append(owned, {"type": "complete"})
        else:
            await self._append(owned, {"type": "complete", "stopped": True, "reason": reason})

    async def _cancel(self, owned: _Owned, reason: str) -> None:
        task = owned.task
        if owned.status == "running" and task is not None:
            owned.cancel_reason = owned.cancel_reason or reason
            cancel = getattr(owned.events, "cancel", None)
            if cancel is not None:
                # A response stops at once and its producer ends without an error event.
                cancel(owned.cancel_reason)
                await asyncio.wait({task}, timeout=_CANCEL_WAIT)
            if not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=_CANCEL_WAIT)
            await self._finalize(owned)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(_ALIVE_SECONDS / 3)
            running = [o for o in self._owned.values() if o.status == "running"]
            if running:
                with contextlib.suppress(Exception):
                    async with self.client.pipeline(transaction=False) as pipe:
                        for owned in running:
                            pipe.set(owned.keys.alive, 1, ex=_ALIVE_SECONDS)
                        await pipe.execute()

    async def _control(self) -> None:
        # One pattern subscription for every stream this process will produce: the
        # connection is never touched by another task while the listener reads it.
        if self._pubsub is None:
            self._pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            await self._pubsub.psubscribe(f"{self.prefix}:*:ctl")
            self._listener = asyncio.create_task(self._listen())

    async def _listen(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except Exception:
                logger.exception("the Redis control channel failed; reconnecting")
                await asyncio.sleep(0.5)
                continue
            if message is None or message.get("type") != "pmessage":
                continue
            stream_id = message["channel"].decode().split(":")[-2]
            owned = self._owned.get(stream_id)
            if owned is None:
                continue
            command = message["data"]
            if command == b"stop":
                asyncio.create_task(self._cancel(owned, "stop"))
            elif command == b"attached" and owned.grace is not None:
                owned.grace.cancel()
                owned.grace = None
            elif command == b"detached":
                await self._maybe_abandon(owned)

    async def _maybe_abandon(self, owned: _Owned) -> None:
        if owned.background:
            return
        listeners = int(await self.client.hget(owned.keys.meta, "listeners") or 0)
        if listeners > 0 or owned.status != "running":
            return
        if self.resume_grace <= 0:
            await self._cancel(owned, "abandoned")
            return
        if owned.grace is not None:
            owned.grace.cancel()
        owned.grace = asyncio.get_running_loop().call_later(
            self.resume_grace, lambda: asyncio.create_task(self._abandon_if_idle(owned))
        )

    async def _abandon_if_idle(self, owned: _Owned) -> None:
        owned.grace = None
        listeners = int(await self.client.hget(owned.keys.meta, "listeners") or 0)
        if listeners <= 0 and owned.status == "running":
            await self._cancel(owned, "abandoned")

    # shared

    async def _detach(self, stream_id: str) -> None:
        keys = _Keys(self.prefix, stream_id)
        with contextlib.suppress(Exception):
            left = await self.client.hincrby(keys.meta, "listeners", -1)
            if left <= 0 and await self.client.hget(keys.meta, "status") in _LIVE:
                await self.client.publish(keys.ctl, "detached")

    async def _check_alive(self, stream_id: str) -> None:
        """End a running stream whose producing process is gone."""
        keys = _Keys(self.prefix, stream_id)
        if stream_id not in self._owned:
            await self._end_dead(
                keys=[keys.meta, keys.log, keys.alive],
                args=[_DEAD_PRODUCER, time.time(), max(int(self.retention), 1)],
            )

    async def _info(self, stream_id: str) -> StreamInfo:
        keys = _Keys(self.prefix, stream_id)
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.meta)
            pipe.xlen(keys.log)
            meta, length = await pipe.execute()
        if not meta:
            raise UnknownStreamError(
                f"no stream {stream_id!r}: it never existed or its retention window ended"
            )
        ended = meta.get(b"ended_at")
        status = meta[b"status"].decode()
        return StreamInfo(
            stream_id,
            "running" if status == "queued" else status,  # waiting for a worker
            length,
            max(int(meta.get(b"listeners", 0)), 0),
            float(meta[b"started_at"]),
            float(ended) if ended else None,
        )
