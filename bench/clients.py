"""One benchmark client per process: `python -m bench.clients NAME --url URL ...`.

Each client streams from the bench server, first once to warm up, then
`--repeat` times, and prints one JSON line with its medians. CPU time is this
process's own (user + system), so the server never counts. A cache replay
client fills its cache before the warm-up and fails if any later stream
reached the server.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import importlib
import json
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from laraflowai import Agent

PROMPT = [{"role": "user", "content": "bench"}]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# Each factory returns a function that streams once and returns (chunks, seconds to first chunk).
Stream = Callable[[], tuple[int, float]]


def raw_sync(url: str) -> Stream:
    import httpx
    from httpx_sse import connect_sse

    client = httpx.Client(timeout=60)
    body = {"model": "bench", "messages": PROMPT, "stream": True}

    def run() -> tuple[int, float]:
        start, first, count = time.perf_counter(), 0.0, 0
        with connect_sse(client, "POST", f"{url}/v1/chat/completions", json=body) as source:
            for sse in source.iter_sse():
                if sse.data == "[DONE]":
                    break
                chunk = json.loads(sse.data)
                choices = chunk.get("choices")
                if choices and choices[0]["delta"].get("content"):
                    count += 1
                    if count == 1:
                        first = time.perf_counter() - start
        return count, first

    return run


def raw_async(url: str) -> Stream:
    import httpx
    from httpx_sse import aconnect_sse

    body = {"model": "bench", "messages": PROMPT, "stream": True}
    loop = asyncio.new_event_loop()
    client = httpx.AsyncClient(timeout=60)

    async def run_async() -> tuple[int, float]:
        start, first, count = time.perf_counter(), 0.0, 0
        async with aconnect_sse(client, "POST", f"{url}/v1/chat/completions", json=body) as source:
            async for sse in source.aiter_sse():
                if sse.data == "[DONE]":
                    break
                chunk = json.loads(sse.data)
                choices = chunk.get("choices")
                if choices and choices[0]["delta"].get("content"):
                    count += 1
                    if count == 1:
                        first = time.perf_counter() - start
        return count, first

    return lambda: loop.run_until_complete(run_async())


def _drain(chunks: Iterable[object]) -> tuple[int, float]:
    start, first, count = time.perf_counter(), 0.0, 0
    for _ in chunks:
        count += 1
        if count == 1:
            first = time.perf_counter() - start
    return count, first


def _agent(url: str, **settings: Any) -> Agent:
    from laraflowai import FlowAI

    # Unless a client says otherwise: one chunk per delta, no pacing, and every
    # stream reaches the server.
    FlowAI.configure(**{"buffer_size": 1, "chunk_delay": 0, "cache_enabled": False, **settings})
    return FlowAI.agent(
        "Bench", "Stream", "openai", base_url=f"{url}/v1", api_key="sk-bench-0000000000"
    )


def agent_stream(url: str) -> Stream:
    agent = _agent(url)
    return lambda: _drain(agent.stream("bench"))


def agent_astream(url: str) -> Stream:
    agent = _agent(url)
    loop = asyncio.new_event_loop()

    async def run_async() -> tuple[int, float]:
        start, first, count = time.perf_counter(), 0.0, 0
        async for _ in agent.astream("bench"):
            count += 1
            if count == 1:
                first = time.perf_counter() - start
        return count, first

    return lambda: loop.run_until_complete(run_async())


def tools_stream(url: str) -> Stream:
    """agent.stream() of an agent with tools: a first step asking for two
    tools, both run, then the answer's chunks (the bench server's /t/ path)."""
    from laraflowai import FlowAI

    FlowAI.configure(buffer_size=1, chunk_delay=0, cache_enabled=False)

    def add(a: int, b: int) -> int:
        return a + b

    def weather(city: str) -> str:
        return "clear"

    agent = FlowAI.agent(
        "Bench",
        "Stream",
        "openai",
        base_url=f"{url.replace('/n/', '/t/')}/v1",
        api_key="sk-bench-0000000000",
        tools=[add, weather],
    )
    return lambda: _drain(agent.stream("bench"))


def crew_stream(url: str) -> Stream:
    from laraflowai import FlowAI

    agent = _agent(url)

    def run() -> tuple[int, float]:
        crew = FlowAI.crew().add_agent(agent).add_task(FlowAI.task("bench"))
        start, first, count = time.perf_counter(), 0.0, 0
        for event in crew.stream():
            if event["is_streaming"] and not event["is_complete"] and event["chunk"]:
                count += 1
                if count == 1:
                    first = time.perf_counter() - start
        return count, first

    return run


def _replay(url: str, store: str) -> Stream:
    folder = tempfile.mkdtemp(prefix="laraflowai-bench-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    agent = _agent(
        url,
        cache_enabled=True,
        cache_store=store,
        cache_path=str(Path(folder) / "streams.db"),
        cache_ttl=3600,
    )

    def run() -> tuple[int, float]:
        with agent.stream("bench") as response:
            count, first = _drain(response)
            if not response.get_stats()["cached"]:
                raise RuntimeError(f"the stream was not replayed from the {store} cache")
        return count, first

    with agent.stream("bench") as response:
        _drain(response)  # fills the cache: the one stream that reaches the server
    return run


def cache_replay(url: str) -> Stream:
    return _replay(url, "sqlite")


def cache_replay_memory(url: str) -> Stream:
    return _replay(url, "memory")


def shaping(url: str) -> Stream:
    """Counts provider chunks (one output token each on the bench server), so
    its cost per chunk compares with the raw client's."""
    agent = _agent(url, buffer_size=10, max_chunk_size=1000)

    def run() -> tuple[int, float]:
        with agent.stream("bench") as response:
            chunks, first = _drain(response)
            deltas = response.usage.output_tokens if response.usage else None
        if not deltas or chunks >= deltas:
            raise RuntimeError(f"{chunks} chunks from {deltas} provider chunks were not coalesced")
        return deltas, first

    return run


def openai_sdk(url: str) -> Stream:
    import openai

    # Any: the peers' own types change with their versions, and are not what is measured here.
    client: Any = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-bench", max_retries=0)

    def run() -> tuple[int, float]:
        start, first, count = time.perf_counter(), 0.0, 0
        stream = client.chat.completions.create(model="bench", messages=PROMPT, stream=True)
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                count += 1
                if count == 1:
                    first = time.perf_counter() - start
        return count, first

    return run


def anthropic_sdk(url: str) -> Stream:
    import anthropic

    client: Any = anthropic.Anthropic(base_url=url, api_key="sk-bench", max_retries=0)

    def run() -> tuple[int, float]:
        start, first, count = time.perf_counter(), 0.0, 0
        stream = client.messages.create(
            model="bench",
            max_tokens=10,
            messages=PROMPT,
            stream=True,
        )
        for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                count += 1
                if count == 1:
                    first = time.perf_counter() - start
        return count, first

    return run


def litellm_sdk(url: str) -> Stream:
    litellm: Any = importlib.import_module("litellm")

    def run() -> tuple[int, float]:
        start, first, count = time.perf_counter(), 0.0, 0
        stream = litellm.completion(
            model="openai/bench", messages=PROMPT, stream=True, api_base=f"{url}/v1", api_key="sk"
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                count += 1
                if count == 1:
                    first = time.perf_counter() - start
        return count, first

    return run


CLIENTS: dict[str, Callable[[str], Stream]] = {
    "raw_sync": raw_sync,
    "raw_async": raw_async,
    "agent_stream": agent_stream,
    "agent_astream": agent_astream,
    "crew_stream": crew_stream,
    "tools_stream": tools_stream,
    "cache_replay": cache_replay,
    "cache_replay_memory": cache_replay_memory,
    "shaping": shaping,
    "openai": openai_sdk,
    "anthropic": anthropic_sdk,
    "litellm": litellm_sdk,
}
REPLAYS = {"cache_replay", "cache_replay_memory"}


def _served(url: str) -> int:
    """How many streams the bench server has answered so far."""
    import httpx

    return int(httpx.get(f"{url}/requests", timeout=10).json()["streams"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("client", choices=sorted(CLIENTS))
    parser.add_argument("--url", required=True)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    try:
        run = CLIENTS[args.client](args.url)
    except ImportError as exc:
        print(json.dumps({"unavailable": str(exc)}))
        return
    served = _served(args.url)
    chunks, _ = run()  # warm-up: imports, connection pool, code paths
    cpu, wall, ttfc = [], [], []
    for _ in range(args.repeat):
        cpu_start, wall_start = _cpu(), time.perf_counter()
        chunks, first = run()
        wall.append((time.perf_counter() - wall_start) / max(chunks, 1) * 1e6)
        cpu.append((_cpu() - cpu_start) / max(chunks, 1) * 1e6)
        ttfc.append(first * 1e3)
    served = _served(args.url) - served
    if args.client in REPLAYS and served:
        sys.exit(f"{args.client}: {served} of its replays reached the server")
    print(
        json.dumps(
            {
                "chunks": chunks,
                "cpu_us_per_chunk": statistics.median(cpu),
                "wall_us_per_chunk": statistics.median(wall),
                "ttfc_ms": statistics.median(ttfc),
                "server_requests": served,
            }
        )
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
