"""Streams as background jobs on a real queue (taskiq on Redis Streams).

    jobs = StreamJobs()                       # LARAFLOWAI_REDIS_URL
    stream_id = await jobs.dispatch("Write a haiku", role="Poet", goal="Write verse")
    async for event in jobs.follow(stream_id):    # from any process, by id
        print(event)                              # {"type": "chunk", "chunk": ..., "id": ...}
    await jobs.aclose()

`laraflowai worker` runs the jobs. A stream dispatched here is the same kind
of stream the web app serves with LARAFLOWAI_STREAM_STORE=redis: any server
process follows, resumes or stops it by its id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from .._config import Settings, get_settings
from .._exceptions import ConfigurationError
from ._spec import agent_spec

__all__ = ["StreamJobs", "agent_spec"]


class StreamJobs:
    """Dispatches streams to the workers and follows them (needs the `jobs` extra)."""

    def __init__(self, settings: Settings | None = None, *, registry: Any = None) -> None:
        try:
            from ..broadcast.redis import RedisStreamRegistry
            from .worker import TASK_NAME, make_broker
        except ImportError:
            raise ConfigurationError(
                'background jobs need the jobs extra: pip install "laraflowai[jobs]"'
            ) from None
        settings = settings if settings is not None else get_settings()
        self._broker = make_broker(settings)
        self._task = self._broker.find_task(TASK_NAME)
        self._own_registry = registry is None
        self.registry = registry or RedisStreamRegistry(str(settings.redis_url))
        self._started = False

    async def dispatch(
        self,
        task: str,
        *,
        role: str | None = None,
        goal: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        options: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
        background: bool = True,
    ) -> str:
        """Queue the agent's answer to `task` as a stream; its id, to follow at once.
        A `background` stream runs to its end; otherwise, like an SSE stream, it is
        abandoned once its last listener has been gone for the resume grace."""
        spec = agent_spec(task, options, role=role, goal=goal, provider=provider, model=model)
        if not self._started:
            await self._broker.startup()
            self._started = True
        stream_id: str = await self.registry.enqueue(meta=meta, background=background)
        assert self._task is not None
        await self._task.kiq(stream_id, spec)
        return stream_id

    async def follow(
        self, stream_id: str, after: int | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """The stream's events from its start (or after event `after`), each with its `id`."""
        async with await self.registry.subscribe(stream_id, after) as subscription:
            async for entry in subscription:
                event: dict[str, Any] = orjson.loads(entry.data)
                event["id"] = f"{stream_id}-{entry.index}"
                yield event

    async def stop(self, stream_id: str) -> str:
        """Stop the stream wherever it runs (or before a worker takes it); its status."""
        return str((await self.registry.stop(stream_id)).status)

    async def aclose(self) -> None:
        if self._started:
            await self._broker.shutdown()
        if self._own_registry:
            await self.registry.aclose()
