"""The SSE apps in one process, for profilers: `python -m bench.sse_profile MODE`.

Serves N streams of E events from one of `bench.sse_server`'s apps through
uvicorn's real HTTP protocol (httptools) on transports that only count bytes:
no sockets, no load client, so what a profiler sees is the server's work alone
and repeats from run to run. Instructions per event under callgrind:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python -m bench.sse_profile ours --events 200
    # minus the same with --events 100, divided by streams x 100

`--cpu` prints the process's CPU time per event instead (noisy on a shared machine);
`--memory` the Python heap per stream halfway through (tracemalloc, so without
the C parts a server's RSS also counts).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tracemalloc
from collections.abc import Callable
from functools import partial
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from .delivery import Iterated
from .sse_server import APPS, DELTA, ours, shaped


def _registry(interval: float, ticks: int) -> Any:
    """Ours without the agent: the registry and the SSE route fed by a plain
    generator on the same schedule, to tell our web layer's cost from the core's."""
    from collections.abc import AsyncIterator

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.routing import Route

    from laraflowai.broadcast import MemoryStreamRegistry
    from laraflowai.web import StreamRoutes, WebSettings
    from laraflowai.web.routes import _Streaming

    registry = MemoryStreamRegistry()
    routes = StreamRoutes(registry, WebSettings())

    async def events() -> AsyncIterator[dict[str, Any]]:
        for _ in range(ticks):
            await asyncio.sleep(interval)
            yield {"type": "chunk", "chunk": DELTA}
        yield {"type": "complete", "finish_reason": "stop"}

    async def stream(request: Request) -> Any:
        stream_id = await registry.start(events(), meta={"agent": "Bench"})
        subscription = await registry.subscribe(stream_id)
        return routes._event_stream(subscription, {"X-Stream-Id": stream_id})

    return Starlette(routes=[Route("/api/stream-chat", _Streaming(stream))])


def _agent(interval: float, ticks: int, *, wrap: str = "") -> Any:
    """`registry` fed by the agent's stream (`response_events(agent.astream())`)
    instead of a plain generator: the difference is the streaming core's share
    (with the provider's deltas); `ours` minus this is the app's own routing.
    With `wrap`, the default shaping, and the events either iterated
    (`"iterated"`: `async for`, as the registry reads a producer without
    `pump`) or watched by a `Tap` that does nothing (`"tapped"`: as a
    conversation's or the metrics' wrapper does)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.routing import Route

    from laraflowai import FlowAI
    from laraflowai.broadcast import MemoryStreamRegistry, Tap, response_events, tapped
    from laraflowai.providers import register_provider
    from laraflowai.web import StreamRoutes, WebSettings
    from laraflowai.web.routes import _Streaming

    from .sse_server import TickerProvider

    register_provider(
        "ticker", lambda **kwargs: TickerProvider(interval=interval, ticks=ticks, **kwargs),
        replace=True,
    )  # fmt: skip
    FlowAI.configure(buffer_size=10 if wrap else 1, cache_enabled=False)
    agent = FlowAI.agent("Bench", "Tick", "ticker")
    registry = MemoryStreamRegistry()
    routes = StreamRoutes(registry, WebSettings())

    async def stream(request: Request) -> Any:
        events: Any = response_events(agent.astream("bench"))
        if wrap == "iterated":
            events = Iterated(events)
        elif wrap == "tapped":
            events = tapped(events, Tap())
        stream_id = await registry.start(events, meta={"agent": "Bench"})
        subscription = await registry.subscribe(stream_id)
        return routes._event_stream(subscription, {"X-Stream-Id": stream_id})

    return Starlette(routes=[Route("/api/stream-chat", _Streaming(stream))])


MODES: dict[str, Callable[[float, int], Any]] = {
    **APPS,
    "shaped": shaped,
    # ours with the stream cache on (the default): each answer read through a flight
    "cached": partial(ours, cache=True),
    "registry": _registry,
    "agent": _agent,
    "iterated": partial(_agent, wrap="iterated"),
    "tapped": partial(_agent, wrap="tapped"),
}


class _Transport(asyncio.Transport):
    """Takes every write at once; the stream is done at its `complete` event."""

    def __init__(self, done: list[int]) -> None:
        super().__init__()
        self.done = done
        self.bytes = 0
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.bytes += len(data)
        # find(), not `in`: bytes' `in` first tries its operand as an int, and
        # that TypeError cost about 0.85k instructions per write, in every mode.
        if (data if type(data) is bytes else bytes(data)).find(b'"complete"') >= 0:
            self.done[0] += 1

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name in ("sockname", "peername"):
            return ("127.0.0.1", 8000)
        return default

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


async def serve(mode: str, streams: int, events: int, interval: float, memory: bool) -> None:
    config = uvicorn.Config(
        MODES[mode](interval, events), http="httptools", ws="none", lifespan="off",
        access_log=False, log_level="warning", server_header=False,
    )  # fmt: skip
    config.load()
    state = ServerState()
    done = [0]
    if memory:
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        rss_before = _rss_kib()
    for index in range(streams):
        protocol = HttpToolsProtocol(config, state, {})
        protocol.connection_made(_Transport(done))
        protocol.data_received(
            f"GET /api/stream-chat?task=bench-{index} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
    if memory:
        # Halfway through: every stream open, half its events sent (and logged).
        await asyncio.sleep(interval * events / 2)
        per_stream = (tracemalloc.get_traced_memory()[0] - before) / streams
        rss = (_rss_kib() - rss_before) / streams
        print(
            f"{mode}: {per_stream / 1024:.1f} KiB of heap per stream halfway ({events // 2} "
            f"events), {rss:.1f} KiB of RSS"
        )
        tracemalloc.stop()
    while done[0] < streams:
        await asyncio.sleep(interval)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.sse_profile", description=__doc__)
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--events", type=int, default=100, help="chunk events per stream")
    parser.add_argument("--interval", type=float, default=0.002)
    parser.add_argument("--cpu", action="store_true", help="print CPU µs per event")
    parser.add_argument(
        "--memory", action="store_true", help="print the heap per stream halfway (tracemalloc)"
    )
    args = parser.parse_args(argv)
    import uvloop

    before = resource.getrusage(resource.RUSAGE_SELF)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(args.mode, args.streams, args.events, args.interval, args.memory))
    after = resource.getrusage(resource.RUSAGE_SELF)
    if args.cpu:
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        print(f"{args.mode}: {cpu / (args.streams * args.events) * 1e6:.1f} µs per event")


if __name__ == "__main__":
    main()
