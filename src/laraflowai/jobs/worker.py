"""The worker side: the taskiq broker on Redis Streams and the job that
produces a stream. `laraflowai worker` runs it (taskiq's own worker, which
imports `laraflowai.jobs.worker:broker`).

A job adopts a stream that the dispatcher queued in the Redis registry; a job
delivered twice (taskiq-redis redelivers a dead worker's unacknowledged jobs)
finds it taken or ended and does nothing. A worker that dies mid-stream stops
refreshing the stream's liveness key, and its listeners end with an error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from taskiq import TaskiqEvents, TaskiqState
from taskiq_redis import RedisStreamBroker

from .._collector import tune_collector
from .._config import Settings, get_settings
from .._exceptions import ConfigurationError, LaraFlowAIError
from ..broadcast import RedisStreamRegistry, public_error, response_events
from ..crew import Agent

__all__ = ["TASK_NAME", "broker", "make_broker", "run_stream"]

logger = logging.getLogger("laraflowai.jobs")

TASK_NAME = "laraflowai.stream"
QUEUE = "laraflowai:jobs"


def make_broker(settings: Settings | None = None) -> RedisStreamBroker:
    settings = settings if settings is not None else get_settings()
    url = settings.redis_url
    if not url:
        raise ConfigurationError("LARAFLOWAI_QUEUE=redis needs LARAFLOWAI_REDIS_URL")
    new = RedisStreamBroker(
        url=url,
        queue_name=QUEUE,
        consumer_group_name="laraflowai",
        # A new group reads the queue from its start: jobs queued while no
        # worker ever ran are run when the first one starts.
        consumer_id="0",
        # A job is redelivered when unacknowledged this long: above the longest stream.
        idle_timeout=int((settings.timeout + 60) * 1000),
    )
    new.register_task(run_stream, task_name=TASK_NAME)
    # A worker process runs nothing but streams: the collector's threshold of
    # `laraflowai serve` (laraflowai/_collector.py), from this broker's settings.
    threshold = settings.gc_threshold
    new.add_event_handler(TaskiqEvents.WORKER_STARTUP, lambda _: tune_collector(threshold))
    new.add_event_handler(TaskiqEvents.WORKER_SHUTDOWN, _shutdown)
    return new


_registries: dict[asyncio.AbstractEventLoop, RedisStreamRegistry] = {}


def _registry() -> RedisStreamRegistry:
    loop = asyncio.get_running_loop()
    registry = _registries.get(loop)
    if registry is None:
        settings = get_settings()
        registry = RedisStreamRegistry(str(settings.redis_url))
        _registries[loop] = registry
    return registry


async def _shutdown(state: TaskiqState) -> None:
    registry = _registries.pop(asyncio.get_running_loop(), None)
    if registry is not None:
        await registry.aclose()


async def _failed(error: LaraFlowAIError) -> AsyncIterator[dict[str, Any]]:
    yield public_error(error)


async def run_stream(stream_id: str, spec: dict[str, Any]) -> None:
    """Produce stream `stream_id`: the answer of the agent `spec` describes."""
    registry = _registry()
    try:
        agent = Agent(
            spec.get("role") or "Chat Assistant",
            spec.get("goal") or "Help users",
            spec.get("provider"),
            spec.get("model"),
            **dict(spec.get("options") or {}),
        )
        events = response_events(agent.astream(spec["task"]))
    except LaraFlowAIError as error:
        logger.error("job for stream %s cannot run here: %s", stream_id, error)
        events = _failed(error)
    if await registry.adopt(stream_id, events):
        await registry.wait(stream_id)


broker = make_broker()
