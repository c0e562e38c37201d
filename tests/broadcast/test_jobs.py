"""Streams as background jobs: dispatched through the Python API onto a real
redis-server, run by real `laraflowai worker` processes against the local
provider server, followed from here by id."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from laraflowai import Settings
from laraflowai.jobs import StreamJobs
from tests.conftest import API_KEY, require
from tests.servers import Hang, ProviderServer, openai_chunks, stream_reply

WORDS = ["one ", "two ", "three ", "four"]


@pytest.fixture
def env(server: ProviderServer, redis_url: str) -> dict[str, str]:
    require("taskiq_redis", "background jobs come with the jobs extra")
    return {
        "LARAFLOWAI_REDIS_URL": redis_url,
        "LARAFLOWAI_STREAMING_CACHE": "false",
        "LARAFLOWAI_STREAMING_BUFFER_SIZE": "1",
        "LARAFLOWAI_MAX_RETRIES": "0",
        "OPENAI_API_KEY": API_KEY,
        "OPENAI_BASE_URL": f"{server.url}/v1",
    }


@pytest.fixture
async def jobs(env: dict[str, str]) -> AsyncIterator[StreamJobs]:
    jobs = StreamJobs(Settings.from_env(env))
    yield jobs
    await jobs.aclose()


@pytest.fixture
def worker(env: dict[str, str], tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []

    def start() -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "laraflowai", "worker", "--log-level", "warning"],
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own group: the test can kill it with its children
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


async def collect(jobs: StreamJobs, stream_id: str) -> list[dict[str, Any]]:
    return [event async for event in jobs.follow(stream_id)]


async def test_a_job_queued_with_no_worker_runs_when_a_worker_starts(
    server: ProviderServer, jobs: StreamJobs, worker: Callable[[], Any]
) -> None:
    server.enqueue(stream_reply(openai_chunks(WORDS)))
    stream_id = await jobs.dispatch("Count", role="Counter", goal="Count", provider="openai")
    reading = asyncio.ensure_future(collect(jobs, stream_id))
    await asyncio.sleep(0.5)
    assert server.request_count == 0 and not reading.done()  # queued, nobody runs it yet
    worker()
    events = await asyncio.wait_for(reading, 60)
    assert [e["type"] for e in events] == ["start"] + ["chunk"] * 4 + ["complete"]
    assert "".join(e["chunk"] for e in events if e["type"] == "chunk") == "".join(WORDS)
    assert [e["id"] for e in events] == [f"{stream_id}-{n}" for n in range(6)]
    sent = server.requests[0].json()
    assert sent["messages"][0]["content"].startswith("You are Counter.")


async def test_killing_the_worker_mid_stream_ends_every_follower_with_one_error(
    server: ProviderServer, jobs: StreamJobs, worker: Callable[[], Any]
) -> None:
    events = openai_chunks(["Partial ", "answer"], finish_reason=None, include_done=False)
    server.enqueue(stream_reply(events, then=[Hang()]))
    process = worker()
    stream_id = await jobs.dispatch("Go", provider="openai")
    followers = [asyncio.ensure_future(collect(jobs, stream_id)) for _ in range(2)]
    deadline = time.monotonic() + 60
    while server.request_count == 0:
        assert time.monotonic() < deadline, "no worker took the job"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    os.killpg(process.pid, signal.SIGKILL)
    killed = time.monotonic()
    ends = await asyncio.wait_for(asyncio.gather(*followers), 30)
    assert time.monotonic() - killed < 20
    for seen in ends:
        assert seen[-1]["type"] == "error" and seen[-1]["kind"] == "server"
        assert sum(e["type"] == "error" for e in seen) == 1
        assert [e["chunk"] for e in seen if e["type"] == "chunk"] == ["Partial ", "answer"]


async def test_a_job_stopped_before_any_worker_takes_it_never_runs(
    server: ProviderServer, jobs: StreamJobs, worker: Callable[[], Any]
) -> None:
    stream_id = await jobs.dispatch("Never", provider="openai")
    assert await jobs.stop(stream_id) == "stopped"
    events = await collect(jobs, stream_id)
    assert events[-1] == {
        "type": "complete", "stopped": True, "reason": "stop", "id": f"{stream_id}-1"
    }  # fmt: skip
    worker()
    # A job that runs next shows the worker is up and has passed the stopped one by.
    server.enqueue(stream_reply(openai_chunks(["ok"])))
    later = await jobs.dispatch("Now", provider="openai")
    await asyncio.wait_for(collect(jobs, later), 60)
    assert server.request_count == 1
