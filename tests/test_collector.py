"""The cycle collector threshold of the processes laraflowai owns (LARAFLOWAI_GC_THRESHOLD)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from laraflowai._collector import tune_collector
from laraflowai._config import Settings, reset_settings
from tests.conftest import require


@pytest.fixture(autouse=True)
def kept_threshold() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


def test_the_youngest_generation_threshold_is_set_and_the_others_kept(
    kept_threshold: tuple[int, int, int],
) -> None:
    tune_collector(Settings.from_env({"LARAFLOWAI_GC_THRESHOLD": "25000"}).gc_threshold)
    assert gc.get_threshold() == (25_000, *kept_threshold[1:])
    assert gc.isenabled()


def test_zero_leaves_the_interpreter_setting(kept_threshold: tuple[int, int, int]) -> None:
    tune_collector(Settings.from_env({"LARAFLOWAI_GC_THRESHOLD": "0"}).gc_threshold)
    assert gc.get_threshold() == kept_threshold


async def test_each_worker_process_sets_it_at_its_start(
    monkeypatch: pytest.MonkeyPatch, kept_threshold: tuple[int, int, int]
) -> None:
    """What the broker runs in each worker process as it starts (laraflowai
    worker's processes, or taskiq's own `worker` command on our broker)."""
    require("taskiq_redis", "background jobs come with the jobs extra")
    from taskiq import TaskiqEvents
    from taskiq.utils import maybe_awaitable

    from laraflowai.jobs.worker import make_broker

    monkeypatch.setenv("LARAFLOWAI_GC_THRESHOLD", "31000")
    reset_settings()
    broker = make_broker()
    for handler in broker.event_handlers[TaskiqEvents.WORKER_STARTUP]:
        await maybe_awaitable(handler(broker.state))  # as the broker's startup() does
    assert gc.get_threshold() == (31_000, *kept_threshold[1:])
