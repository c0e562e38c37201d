"""The SSE server under load: `python -m bench.sse_server [--mode M] [--server S] ...`.

One server process (uvicorn with uvloop and httptools when installed, or with
`--server granian` granian's embedded server on uvloop; one worker, no access
log) serving `GET /api/stream-chat?task=...`, the app chosen by `--mode`:
- `ours`: laraflowai's own app (`create_app`) with an agent whose in-process
  provider yields one text delta every `--interval` seconds for `--duration`
  seconds, one SSE event per delta;
- `bare`: a bare Starlette `StreamingResponse` streaming the same provider's
  deltas as the same frames, each delta's text encoded with the standard
  library's json as a hand-written endpoint would: the reference the issue
  compares with (what ours adds over it is the registry: resume, stop, the
  limits, the stats);
- `floor`: a raw ASGI app writing frames encoded once at start-up on the same
  schedule: what the server alone costs, with no framework and no work per event.
Prints `port <n>` once it is ready.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import resource
import secrets
import socket
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from laraflowai import Finished, TextDelta
from laraflowai._config import Settings
from laraflowai.providers import ChatRequest, InProcessProvider, register_provider
from laraflowai.web import create_app
from laraflowai.wire import Event

DELTA = "tok "
WARM_UP_TICKS = 3


class TickerProvider(InProcessProvider):
    """One `DELTA` every `interval` seconds, `ticks` times, then Finished."""

    name: ClassVar[str] = "ticker"
    label: ClassVar[str] = "Ticker"
    default_model: ClassVar[str] = "ticker-1"

    def __init__(self, *, interval: float, ticks: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.interval = interval
        self.ticks = ticks

    def iter_events(self, request: ChatRequest) -> Iterator[Event]:
        for _ in range(self.ticks):
            time.sleep(self.interval)
            yield TextDelta(DELTA)
        yield Finished("stop")

    def aiter_events(self, request: ChatRequest) -> AsyncIterator[Event]:
        return ticker(self.interval, self.ticks)


async def ticker(interval: float, count: int) -> AsyncIterator[Event]:
    """The provider's stream, which `bare` reads as it is."""
    for _ in range(count):
        await asyncio.sleep(interval)
        yield TextDelta(DELTA)
    yield Finished("stop")


def ours(interval: float, ticks: int, *, buffer_size: int = 1, cache: bool = False) -> Starlette:
    def factory(count: int) -> Any:
        return lambda **kwargs: TickerProvider(interval=interval, ticks=count, **kwargs)

    register_provider("ticker", factory(ticks), replace=True)
    # Warms the code paths (lazy imports, first allocations) before any figure is read.
    register_provider("ticker-warmup", factory(WARM_UP_TICKS), replace=True)
    # Buffer size 1: each provider delta is one SSE event. No cache, so no stream
    # is replayed or shared. Plain defaults otherwise: no .env or environment.
    settings = Settings().replace(
        buffer_size=buffer_size, cache_enabled=cache, cache_store="memory"
    )  # the memory store: nothing on disk, nothing replayed in a later run
    return create_app(settings, provider="ticker", role="Bench", goal="Tick")


def shaped(interval: float, ticks: int) -> Starlette:
    """`ours` with the default shaping (buffer_size 10, a 50 ms flush interval):
    deltas coalesce into chunks, the path most deployments run. For the
    profilers only (its events are not one per delta, so the load client's
    criterion does not apply)."""
    return ours(interval, ticks, buffer_size=Settings().buffer_size)


def bare(interval: float, ticks: int) -> Starlette:
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

    async def frames(count: int) -> AsyncIterator[bytes]:
        stream_id = secrets.token_hex(12)
        prefix = f"id: {stream_id}-"
        start = {"type": "start", "stream_id": stream_id, "agent": "Bench", "model": "ticker-1"}
        yield b"retry: 3000\n\n"
        yield f"{prefix}0\ndata: {_compact(start)}\n\n".encode()
        index, reason = 0, None
        async for event in ticker(interval, count):
            if type(event) is TextDelta:
                # json.dumps of a str takes its fast path (no encoder is built).
                index += 1
                chunk = json.dumps(event.text)
                yield f'{prefix}{index}\ndata: {{"type":"chunk","chunk":{chunk}}}\n\n'.encode()
            elif type(event) is Finished:
                reason = event.reason
        complete = _compact({"type": "complete", "finish_reason": reason or "stop"})
        yield f"{prefix}{index + 1}\ndata: {complete}\n\n".encode()

    async def stream(request: Request) -> StreamingResponse:
        count = WARM_UP_TICKS if request.query_params.get("provider") else ticks
        return StreamingResponse(frames(count), media_type="text/event-stream", headers=headers)

    return Starlette(routes=[Route("/api/stream-chat", stream)])


def floor(interval: float, ticks: int) -> Any:
    headers = [
        (b"content-type", b"text/event-stream"),
        (b"cache-control", b"no-cache"),
        (b"x-accel-buffering", b"no"),
    ]
    stream_id = secrets.token_hex(12)
    prefix = f"id: {stream_id}-"
    start = {"type": "start", "stream_id": stream_id, "agent": "Bench", "model": "ticker-1"}
    chunk = _compact({"type": "chunk", "chunk": DELTA})
    complete = _compact({"type": "complete", "finish_reason": "stop"})

    def encode(count: int) -> list[dict[str, Any]]:
        frames = [b"retry: 3000\n\n", f"{prefix}0\ndata: {_compact(start)}\n\n".encode()]
        frames += [f"{prefix}{index}\ndata: {chunk}\n\n".encode() for index in range(1, count + 1)]
        frames.append(f"{prefix}{count + 1}\ndata: {complete}\n\n".encode())
        return [{"type": "http.response.body", "body": f, "more_body": True} for f in frames]

    # Every stream sends the same messages: nothing is encoded or built per event.
    messages = {count: encode(count) for count in (WARM_UP_TICKS, ticks)}
    end = {"type": "http.response.body", "body": b"", "more_body": False}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        warm = b"provider=" in scope["query_string"]
        frames = messages[WARM_UP_TICKS if warm else ticks]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(frames[0])
        await send(frames[1])
        for message in frames[2:-1]:
            await asyncio.sleep(interval)
            await send(message)
        await send(frames[-1])
        await send(end)

    return app


APPS = {"ours": ours, "bare": bare, "floor": floor}


def _compact(payload: dict[str, str]) -> str:
    return json.dumps(payload, separators=(",", ":"))


async def warm_up(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET /api/stream-chat?task=warm&provider=ticker-warmup HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
    )
    body = b""
    while b'"complete"' not in body:
        data = await reader.read(65536)
        if not data:
            raise RuntimeError(f"the warm-up stream ended early: {body[-200:]!r}")
        body += data
    writer.close()


class _Server(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        port = sockets[0].getsockname()[1] if sockets else 0
        await asyncio.wait_for(warm_up(port), timeout=30)
        print(f"port {port}", flush=True)


def _granian(app: Any) -> None:
    from granian.constants import HTTPModes, Interfaces
    from granian.server.embed import Server

    with socket.socket() as probe:  # granian binds its own socket: a free port for it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = Server(
        app, address="127.0.0.1", port=port, interface=Interfaces.ASGI, websockets=False,
        http=HTTPModes.http1, backlog=4096, log_enabled=False,
    )  # fmt: skip

    async def serve() -> None:
        serving = asyncio.create_task(server.serve())
        for _ in range(200):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            break
        await asyncio.wait_for(warm_up(port), timeout=30)
        print(f"port {port}", flush=True)
        await serving

    import uvloop

    uvloop.run(serve())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.sse_server", description=__doc__)
    parser.add_argument("--mode", choices=APPS, default="ours", help="the app served (see above)")
    parser.add_argument("--server", choices=("uvicorn", "granian"), default="uvicorn")
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between events")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of events")
    args = parser.parse_args(argv)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ticks = max(1, round(args.duration / args.interval))
    app = APPS[args.mode](args.interval, ticks)
    if args.server == "granian":
        _granian(app)
        return
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    has_httptools = importlib.util.find_spec("httptools") is not None
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools" if has_httptools else "h11",
        ws="none",
        workers=1,
        access_log=False,
        log_level="warning",
        lifespan="on",
        server_header=False,
        backlog=4096,
        timeout_graceful_shutdown=1,
    )
    _Server(config).run(sockets=[sock])
    sys.exit(0)


if __name__ == "__main__":
    main()
