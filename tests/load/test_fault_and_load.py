"""A hostile world, bounded: a provider that drops, stalls, fails, sends junk
and echoes the API key, behind a real `laraflowai serve` process, and 200
concurrent SSE clients that read, disconnect and resume, follow and stop.

Checked: every completed stream's text is exact; every failed one ends with
exactly one safe error event; no event is lost or repeated across resumes;
nothing hangs; the server's file descriptors and memory come back near their
baseline once the streams' retention ends; the key is in no byte the server
sent or logged. Run with the memory store and with the Redis store. The
summary is printed (pytest -s shows it).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.servers import (
    Drop,
    ProviderServer,
    RecordedRequest,
    Reply,
    Sleep,
    Write,
    error_body,
    openai_chunks,
    sse_data,
)
from tests.web.test_serve import free_port, serve_env, wait_until_serving

KEY = "sk-hostile-4f9a2c7e1b8d3f6a0c5e9b2d"
CLIENTS = 200
FAULTS = ("ok", "drop", "http_error", "junk", "stall", "echo_error")


def words(case: int) -> list[str]:
    return [f"c{case}w{n} " for n in range(6)]


def reply_for(request: RecordedRequest) -> Reply:
    """The provider's answer for the case named in the task: `case-<n>`."""
    task = request.json()["messages"][-1]["content"]
    case = int(task.rpartition("-")[2])
    fault = FAULTS[case % len(FAULTS)]
    events = openai_chunks(words(case), usage={"prompt_tokens": 5, "completion_tokens": 6,
                                               "total_tokens": 11})  # fmt: skip
    paced: list[Any] = []
    for event in events:
        paced += [Write(event), Sleep(0.03)]
    if fault == "ok":
        return Reply(steps=paced)
    if fault == "drop":
        return Reply(steps=[*paced[:6], Drop()])
    if fault == "http_error":
        body = error_body(f"Incorrect API key provided: {KEY}", type="invalid_request_error",
                          code="invalid_api_key")  # fmt: skip
        return Reply(status=401, headers={"content-type": "application/json"},
                      steps=[Write(body)])  # fmt: skip
    if fault == "junk":
        junk = sse_data(b'{"choices": [1], "echo": "' + KEY.encode() + b'"}')
        return Reply(steps=[*paced[:4], Write(junk), Write(b"data: not json " + KEY.encode()
                                                            + b"\n\n"), *paced[4:]])  # fmt: skip
    if fault == "stall":
        return Reply(steps=[*paced[:4], Sleep(3.0), *paced[4:]])
    # An error inside a 200 stream whose message echoes the key.
    error = sse_data({"error": {"message": f"upstream said {KEY} is bad", "type": "server_error"}})
    return Reply(steps=[*paced[:4], Write(error)])


@dataclass
class Seen:
    case: int
    behaviour: str
    events: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    reconnects: int = 0
    raw: bytearray = field(default_factory=bytearray)
    stream_id: str | None = None

    @property
    def payloads(self) -> list[dict[str, Any]]:
        return [payload for _, payload in self.events]


async def read_sse(
    client: httpx2.AsyncClient,
    url: str,
    seen: Seen,
    *,
    params: dict[str, str] | None = None,
    last_event_id: str | None = None,
    stop_after: int | None = None,
    limit: int | None = None,
) -> bool:
    """Read events into `seen`; True when the stream ended, False when this client left."""
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    async with client.stream("GET", url, params=params, headers=headers) as response:
        if response.status_code == 204:
            return True
        assert response.status_code == 200, await response.aread()
        event_id, data = None, []
        count = 0
        async for line in response.aiter_lines():
            seen.raw += line.encode() + b"\n"
            if line.startswith("id:"):
                event_id = line[3:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif line == "" and data:
                payload = json.loads("\n".join(data))
                index = int(str(event_id).rpartition("-")[2])
                seen.events.append((index, payload))
                if payload["type"] == "start":
                    seen.stream_id = payload["stream_id"]
                data, count = [], count + 1
                if payload["type"] in ("complete", "error"):
                    return True
                if stop_after is not None and count == stop_after and seen.stream_id:
                    await client.post(f"{url}/{seen.stream_id}/stop")
                    stop_after = None
                if limit is not None and count >= limit:
                    return False
    return True


async def run_client(client: httpx2.AsyncClient, base: str, case: int) -> Seen:
    behaviour = ("read", "resume", "follow", "stop")[case // len(FAULTS) % 4]
    seen = Seen(case, behaviour)
    url = f"{base}/api/stream-chat"
    params = {"task": f"case-{case}"}
    if behaviour == "read":
        await read_sse(client, url, seen, params=params)
    elif behaviour == "stop":
        await read_sse(client, url, seen, params=params, stop_after=3)
    elif behaviour == "resume":
        ended = await read_sse(client, url, seen, params=params, limit=2)
        while not ended:
            seen.reconnects += 1
            last = f"{seen.stream_id}-{seen.events[-1][0]}"
            ended = await read_sse(client, url, seen, last_event_id=last, limit=3)
    else:  # follow: a second tab reads the same stream from its start, to the end
        first = await read_sse(client, url, seen, params=params, limit=2)
        follower = Seen(case, "follower")
        await read_sse(client, url, follower, params={"stream_id": str(seen.stream_id)})
        if not first:
            seen.reconnects += 1
            last = f"{seen.stream_id}-{seen.events[-1][0]}"
            await read_sse(client, url, seen, last_event_id=last)
        assert [i for i, _ in follower.events] == list(range(len(follower.events)))
        assert follower.payloads[-1]["type"] in ("complete", "error")
        seen.raw += follower.raw
    return seen


def pooled_sockets(pid: int, port: int) -> int:
    """Connections of process `pid` to loopback port `port`, from /proc."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    count = 0
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                remote_port = int(fields[2].rpartition(":")[2], 16)
                count += remote_port == port and fields[9] in inodes
    return count


def process_figures(pid: int) -> tuple[int, int]:
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return fds, rss


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "memory":
        return {}
    url = request.getfixturevalue("redis_url")
    return {"LARAFLOWAI_STREAM_STORE": "redis", "LARAFLOWAI_REDIS_URL": url}


@pytest.fixture
def hostile_serve(server: ProviderServer, store: dict[str, str], tmp_path: Path
                  ) -> Iterator[tuple[str, subprocess.Popen[str], Path, str]]:  # fmt: skip
    server.set_handler(reply_for)
    port = free_port()
    log = tmp_path / "server.log"
    env = serve_env(
        OPENAI_API_KEY=KEY,
        OPENAI_BASE_URL=f"{server.url}/v1",
        LARAFLOWAI_STREAMING_CACHE="false",
        LARAFLOWAI_STREAMING_BUFFER_SIZE="1",
        LARAFLOWAI_MAX_RETRIES="0",
        LARAFLOWAI_STREAMING_IDLE_TIMEOUT="1",
        LARAFLOWAI_SSE_RESUME_GRACE="5",
        LARAFLOWAI_SSE_RETENTION="3",
        **store,
    )
    with log.open("w") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "laraflowai", "serve", "--provider", "openai",
             "--port", str(port), "--log-level", "warning"],
            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=errors, text=True,
        )  # fmt: skip
    try:
        wait_until_serving(process, port)
        yield f"http://127.0.0.1:{port}", process, log, server.url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


async def test_two_hundred_clients_against_a_hostile_provider_lose_and_leak_nothing(
    hostile_serve: tuple[str, subprocess.Popen[str], Path, str], store: dict[str, str]
) -> None:
    base, process, log, provider_url = hostile_serve
    redis = store.get("LARAFLOWAI_REDIS_URL")
    limits = httpx2.Limits(max_connections=CLIENTS * 2, max_keepalive_connections=0)
    timeout = httpx2.Timeout(30, connect=10)
    async with httpx2.AsyncClient(limits=limits, timeout=timeout) as warm:
        await read_sse(warm, f"{base}/api/stream-chat", Seen(0, "warm"), params={"task": "case-0"})
    await asyncio.sleep(4)  # the warm-up stream's retention ends
    fds_before, rss_before = process_figures(process.pid)

    started = time.monotonic()
    async with httpx2.AsyncClient(limits=limits, timeout=timeout) as client:
        results = await asyncio.wait_for(
            asyncio.gather(*(run_client(client, base, case) for case in range(CLIENTS))), 120
        )
    elapsed = time.monotonic() - started

    summary: collections.Counter[str] = collections.Counter()
    for seen in results:
        fault = FAULTS[seen.case % len(FAULTS)]
        summary[f"fault:{fault}"] += 1
        indices = [index for index, _ in seen.events]
        assert indices == list(range(len(indices))), (seen.case, indices)  # no gap, no duplicate
        last = seen.payloads[-1]
        assert last["type"] in ("complete", "error"), (seen.case, last)  # no hang
        chunks = "".join(p["chunk"] for p in seen.payloads if p["type"] == "chunk")
        errors = [p for p in seen.payloads if p["type"] == "error"]
        if last["type"] == "complete" and last.get("stopped"):
            summary["stopped"] += 1
            assert "".join(words(seen.case)).startswith(chunks)
        elif last["type"] == "complete":
            summary["completed exact"] += 1
            assert fault == "ok", (seen.case, fault)
            assert chunks == "".join(words(seen.case))
        else:
            summary["failed with one error"] += 1
            assert fault != "ok", (seen.case, last)
            assert len(errors) == 1, (seen.case, fault, errors)
            assert errors[0].get("kind") and errors[0]["message"], (seen.case, fault, errors)
            assert "".join(words(seen.case)).startswith(chunks)  # what came before is kept
        summary["reconnects"] += seen.reconnects
        assert KEY.encode() not in seen.raw and KEY[3:15].encode() not in seen.raw

    await asyncio.sleep(4)  # every stream's retention ends
    fds_after, rss_after = process_figures(process.pid)
    provider_port = int(provider_url.rpartition(":")[2])
    redis_port = int(redis.rpartition(":")[2].split("/")[0]) if redis else None
    logged = log.read_text()
    assert KEY not in logged and KEY[3:15] not in logged
    # Idle connections stay pooled, by design: 40 at most to the provider, and to
    # Redis 64 for commands, one blocking reader and one control subscription.
    pooled = pooled_sockets(process.pid, provider_port)
    assert pooled <= 40
    if redis_port is not None:
        to_redis = pooled_sockets(process.pid, redis_port)
        assert to_redis <= 66
        pooled += to_redis
    assert fds_after - pooled <= fds_before + 5
    print(
        f"\nfault-and-load: {CLIENTS} clients in {elapsed:.1f} s; "
        + ", ".join(f"{name} {count}" for name, count in sorted(summary.items()) if count)
        + f"; lost 0, duplicated 0, hangs 0; fds {fds_before} -> {fds_after} "
        f"({pooled} pooled); "
        f"RSS {rss_before // 1024} -> {rss_after // 1024} MiB"
    )
    assert rss_after <= rss_before + 60 * 1024  # KiB: near the baseline, not growing per stream
