"""The streaming core alone, for profilers: `python -m bench.core_profile MODE`.

Reads `--runs` answers of `--events` text deltas each with buffer size 1 and
the cache off, after one warm-up answer, in one of these modes:
- `astream` / `stream`: `agent.astream()` / `agent.stream()` of an OpenAI
  agent against bench/server.py's provider server, which runs in a child
  process so that a profiler of this one sees the client's work only;
- `inprocess`: `agent.astream()` of an in-process provider yielding its deltas
  without pause (the SSE bench's provider, bench/sse_server.py, without its
  sleeps): the core's own cost on the SSE path, with no network and no decoder;
- `ashaped`: `astream` with the default shaping (buffer_size 10, a 50 ms flush
  interval): `async for` reading with a flush deadline, the path of a user's
  own loop and of every consumer that iterates an answer (cost per provider delta);
- `crew`: `crew.stream()` of one agent and one task, as bench/clients.py reads it;
- `raw`: bench/clients.py's raw_sync client (httpx, httpx-sse, json.loads per
  event), the baseline bench/run divides by.

Instructions per event under callgrind (deterministic, unlike time here):

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python -m bench.core_profile astream --events 20000
    # minus the same with --events 2000, divided by 18000 x runs

`--cpu` prints the CPU time per event instead (noisy on a shared machine).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parent.parent


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _serve() -> None:
    from .server import start_server

    server = start_server()
    print(server.url, flush=True)
    sys.stdin.read()  # until the parent closes it
    server.stop()


def _agent(base_url: str, buffer_size: int = 1) -> Any:
    from laraflowai import FlowAI

    FlowAI.configure(buffer_size=buffer_size, chunk_delay=0, cache_enabled=False)
    return FlowAI.agent("Bench", "Stream", "openai", base_url=base_url, api_key="sk-bench-0000")


def _inprocess_agent() -> Any:
    from laraflowai import Finished, FlowAI, TextDelta
    from laraflowai.providers import ChatRequest, InProcessProvider, register_provider
    from laraflowai.wire import Event

    class Deltas(InProcessProvider):
        """`request.options["count"]` deltas, at once."""

        name: ClassVar[str] = "deltas"
        label: ClassVar[str] = "Deltas"
        default_model: ClassVar[str] = "deltas-1"

        def iter_events(self, request: ChatRequest) -> Iterator[Event]:
            for _ in range(request.options["count"]):
                yield TextDelta("tok ")
            yield Finished("stop")

        async def aiter_events(self, request: ChatRequest) -> AsyncIterator[Event]:
            for _ in range(request.options["count"]):
                yield TextDelta("tok ")
            yield Finished("stop")

    register_provider("deltas", lambda **kwargs: Deltas(**kwargs), replace=True)
    FlowAI.configure(buffer_size=1, chunk_delay=0, cache_enabled=False)
    return FlowAI.agent("Bench", "Stream", "deltas")


async def _adrain(agent: Any, expected: int | None, **options: Any) -> int:
    """The chunks of one answer, checked against `expected` (None: the
    number of characters, returned unchecked)."""
    chunks = characters = 0
    async for chunk in agent.astream("bench", **options):
        chunks += 1
        characters += len(chunk)
    if expected is None:
        return characters
    if chunks != expected:
        raise RuntimeError(f"{chunks} chunks instead of {expected}")
    return chunks


def _drain(agent: Any, expected: int) -> int:
    chunks = sum(1 for _ in agent.stream("bench"))
    if chunks != expected:
        raise RuntimeError(f"{chunks} chunks instead of {expected}")
    return chunks


def run(mode: str, events: int, runs: int, url: str) -> float:
    """CPU seconds of the `runs` answers (the warm-up excluded)."""
    if mode == "inprocess":
        agent = _inprocess_agent()

        async def answers() -> float:
            await _adrain(agent, 3, count=3)
            start = _cpu()
            for _ in range(runs):
                await _adrain(agent, events, count=events)
            return _cpu() - start

        return asyncio.run(answers())
    if mode == "raw":
        from .clients import raw_sync

        warm_raw, raw = raw_sync(f"{url}/n/3"), raw_sync(f"{url}/n/{events}")
        warm_raw()
        start = _cpu()
        for _ in range(runs):
            if raw()[0] != events:
                raise RuntimeError("the raw client missed chunks")
        return _cpu() - start
    if mode == "ashaped":
        shaped = _agent(f"{url}/n/{events}/v1", buffer_size=10)
        # The deltas are "tok<n> ": the chunks hold them all, whatever their number.
        length = sum(len(f"tok{index} ") for index in range(events))

        async def shaped_answers() -> float:
            await _adrain(shaped, None)
            start = _cpu()
            for _ in range(runs):
                if await _adrain(shaped, None) != length:
                    raise RuntimeError("the shaped answer missed text")
            return _cpu() - start

        return asyncio.run(shaped_answers())
    warm, agent = _agent(f"{url}/n/3/v1"), _agent(f"{url}/n/{events}/v1")
    if mode == "crew":
        from .clients import crew_stream

        crew_stream(f"{url}/n/3")()
        run_crew = crew_stream(f"{url}/n/{events}")
        start = _cpu()
        for _ in range(runs):
            if run_crew()[0] != events:
                raise RuntimeError("the crew missed chunks")
        return _cpu() - start
    if mode == "stream":
        _drain(warm, 3)
        start = _cpu()
        for _ in range(runs):
            _drain(agent, events)
        return _cpu() - start

    async def aanswers() -> float:
        await _adrain(warm, 3)
        start = _cpu()
        for _ in range(runs):
            await _adrain(agent, events)
        return _cpu() - start

    return asyncio.run(aanswers())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.core_profile", description=__doc__)
    parser.add_argument(
        "mode", choices=["astream", "ashaped", "stream", "inprocess", "crew", "raw", "serve"]
    )
    parser.add_argument("--events", type=int, default=2000, help="text deltas per answer")
    parser.add_argument("--runs", type=int, default=1, help="answers measured")
    parser.add_argument("--cpu", action="store_true", help="print CPU µs per event")
    args = parser.parse_args(argv)
    if args.mode == "serve":
        _serve()
        return
    server = None
    url = ""
    if args.mode != "inprocess":
        server = subprocess.Popen(
            [sys.executable, "-m", "bench.core_profile", "serve"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, text=True,
        )  # fmt: skip
        assert server.stdout is not None
        url = server.stdout.readline().strip()
    try:
        cpu = run(args.mode, args.events, args.runs, url)
    finally:
        if server is not None:
            assert server.stdin is not None
            server.stdin.close()
            server.wait(timeout=30)
    if args.cpu:
        print(f"{args.mode}: {cpu / (args.events * args.runs) * 1e6:.2f} µs per event")


if __name__ == "__main__":
    main()
