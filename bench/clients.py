"""One benchmark client per process: `python -m bench.clients NAME --url URL ...`.

Each client streams from the bench server, first once to warm up, then
`--repeat` times, and prints one JSON line with its medians. CPU time is this
process's own (user + system), so the server never counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

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


def _agent(url: str) -> Any:
    from laraflowai import FlowAI

    settings = {"buffer_size": 1}
    if "cache_enabled" in FlowAI.settings().__dataclass_fields__:
        settings["cache_enabled"] = False  # every run must reach the server
    FlowAI.configure(**settings)
    return FlowAI.agent(
        "Bench", "Stream", "openai", base_url=f"{url}/v1", api_key="sk-bench-0000000000"
    )


def agent_stream(url: str) -> Stream:
    agent = _agent(url)

    def run() -> tuple[int, float]:
        start, first, count = time.perf_counter(), 0.0, 0
        for _ in agent.stream("bench"):
            count += 1
            if count == 1:
                first = time.perf_counter() - start
        return count, first

    return run


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


def crew_stream(url: str) -> Stream:
    from laraflowai import FlowAI

    agent = _agent(url)

    def run() -> tuple[int, float]:
        crew = FlowAI.crew().add_agent(agent).add_task(FlowAI.task("bench"))  # type: ignore[attr-defined]
        start, first, count = time.perf_counter(), 0.0, 0
        for event in crew.stream():
            if event["is_streaming"] and not event["is_complete"] and event["chunk"]:
                count += 1
                if count == 1:
                    first = time.perf_counter() - start
        return count, first

    return run


def openai_sdk(url: str) -> Stream:
    import openai

    client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-bench", max_retries=0)

    def run() -> tuple[int, float]:
        start, first, count = time.perf_counter(), 0.0, 0
        stream = client.chat.completions.create(model="bench", messages=PROMPT, stream=True)  # type: ignore[arg-type]
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                count += 1
                if count == 1:
                    first = time.perf_counter() - start
        return count, first

    return run


def anthropic_sdk(url: str) -> Stream:
    import anthropic

    client = anthropic.Anthropic(base_url=url, api_key="sk-bench", max_retries=0)

    def run() -> tuple[int, float]:
        start, first, count = time.perf_counter(), 0.0, 0
        stream = client.messages.create(
            model="bench",
            max_tokens=10,
            messages=PROMPT,
            stream=True,  # type: ignore[arg-type]
        )
        for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                count += 1
                if count == 1:
                    first = time.perf_counter() - start
        return count, first

    return run


def litellm_sdk(url: str) -> Stream:
    import litellm

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
    "openai": openai_sdk,
    "anthropic": anthropic_sdk,
    "litellm": litellm_sdk,
}


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
    chunks, _ = run()  # warm-up: imports, connection pool, code paths
    cpu, wall, ttfc = [], [], []
    for _ in range(args.repeat):
        cpu_start, wall_start = _cpu(), time.perf_counter()
        chunks, first = run()
        wall.append((time.perf_counter() - wall_start) / max(chunks, 1) * 1e6)
        cpu.append((_cpu() - cpu_start) / max(chunks, 1) * 1e6)
        ttfc.append(first * 1e3)
    print(
        json.dumps(
            {
                "chunks": chunks,
                "cpu_us_per_chunk": statistics.median(cpu),
                "wall_us_per_chunk": statistics.median(wall),
                "ttfc_ms": statistics.median(ttfc),
            }
        )
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
