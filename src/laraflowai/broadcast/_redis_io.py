"""The Redis registry's traffic, shared by every stream of the process.

Writes: every append of every stream goes into one pipeline per turn of the
event loop (one `send` for many events), written by a task of its own, so a
producer's cancel never cuts a write short and entry ids stay dense.

Reads: one blocking XREAD on a connection of its own covers every stream a
listener here waits on. A listener that needs a stream (or an earlier entry)
the XREAD in flight does not cover wakes it with CLIENT UNBLOCK, and it is
sent again with the new set of streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Tail", "Writer"]

logger = logging.getLogger("laraflowai.broadcast")

Entries = list[tuple[bytes, dict[bytes, bytes]]]


def entry_number(entry_id: bytes) -> int:
    return int(entry_id.split(b"-", 1)[1])


class Writer:
    """Pipelines everything added during one turn of the loop."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._ops: list[Callable[[Any], Any]] = []
        self._flushed: list[asyncio.Future[None]] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def backlog(self) -> int:
        return len(self._ops)

    def add(self, op: Callable[[Any], Any]) -> None:
        """`op(pipeline)` queues its commands; they are sent in order."""
        self._ops.append(op)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def flush(self) -> None:
        """Until everything added so far is written (never cancelled midway)."""
        written = asyncio.get_running_loop().create_future()
        self._flushed.append(written)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        await asyncio.shield(written)

    async def _run(self) -> None:
        while self._ops or self._flushed:
            await asyncio.sleep(0)  # what the other streams append this turn goes along
            ops, self._ops = self._ops, []
            flushed, self._flushed = self._flushed, []
            if ops:
                try:
                    async with self._client.pipeline(transaction=False) as pipe:
                        for op in ops:
                            op(pipe)
                        await pipe.execute(raise_on_error=False)
                except Exception:
                    logger.exception("%d stream event(s) could not be written to Redis", len(ops))
            for future in flushed:
                if not future.done():
                    future.set_result(None)


class _Waiter:
    __slots__ = ("key", "after", "since", "future")

    def __init__(self, key: str, after: int) -> None:
        self.key = key
        self.after = after  # the entry number last read: wants those after it
        self.since = time.monotonic()
        self.future: asyncio.Future[Entries | None] = asyncio.get_running_loop().create_future()


class Tail:
    """Waits for new entries of many streams with one blocking XREAD."""

    def __init__(self, connect: Callable[[], Any], block_ms: int, count: int) -> None:
        self._connect = connect
        self._block_ms = block_ms
        self._count = count
        self._waiters: dict[str, list[_Waiter]] = {}
        self._reading: dict[str, int] = {}  # what the XREAD in flight covers
        self._connection: Any = None
        self._client_id: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._unblocker: Any = None

    def wait(self, key: str, after: int, unblocker: Any) -> _Waiter:
        """A waiter whose future gets the entries of `key` after number `after`,
        or None after a silence of the block time."""
        waiter = _Waiter(key, after)
        self._waiters.setdefault(key, []).append(waiter)
        self._unblocker = unblocker
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        elif self._reading and not (key in self._reading and self._reading[key] <= after):
            # The XREAD in flight does not cover it: end it, and read again with it.
            asyncio.get_running_loop().create_task(self._unblock())
        return waiter

    def forget(self, waiter: _Waiter) -> None:
        waiters = self._waiters.get(waiter.key)
        if waiters is not None and waiter in waiters:
            waiters.remove(waiter)
            if not waiters:
                del self._waiters[waiter.key]
        if not waiter.future.done():
            waiter.future.cancel()

    async def _unblock(self) -> None:
        if self._client_id is not None and self._unblocker is not None:
            with contextlib.suppress(Exception):
                await self._unblocker.client_unblock(self._client_id)

    async def _run(self) -> None:
        try:
            if self._connection is None:
                self._connection = self._connect()
                self._client_id = await self._connection.client_id()
            while self._waiters:
                streams = {key: min(w.after for w in ws) for key, ws in self._waiters.items()}
                self._reading = streams
                try:
                    found = await self._connection.xread(
                        {key: f"0-{after}" for key, after in streams.items()},
                        count=self._count,
                        block=self._block_ms,
                    )
                except Exception:
                    logger.exception("reading streams from Redis failed; trying again")
                    await asyncio.sleep(0.5)
                    found = None
                finally:
                    self._reading = {}
                self._deliver(dict(found or []))
        finally:
            self._task = None

    def _deliver(self, found: dict[Any, Entries]) -> None:
        now = time.monotonic()
        silence = self._block_ms / 1000
        for key, waiters in list(self._waiters.items()):
            entries = found.get(key.encode()) or found.get(key) or []
            keep = []
            for waiter in waiters:
                if waiter.future.done():
                    continue
                mine = [entry for entry in entries if entry_number(entry[0]) > waiter.after]
                if mine:
                    waiter.future.set_result(mine)
                elif now - waiter.since >= silence:
                    waiter.future.set_result(None)
                else:
                    keep.append(waiter)
            if keep:
                self._waiters[key] = keep
            else:
                del self._waiters[key]

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.aclose()
