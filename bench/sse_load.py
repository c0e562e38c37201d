"""The SSE load client: `python -m bench.sse_load --port P --clients N --events E ...`.

Opens N connections to `GET /api/stream-chat` ramped over `--ramp` seconds,
each a hand-written HTTP/1.1 request on a raw asyncio connection whose
chunked body is decoded and split into SSE frames at b"\\n\\n". Per
connection it records the wait for the first `chunk` event (from the moment
the connection is asked for) and the gaps between `chunk` events; it prints
one JSON line with the percentiles, the fraction of the N x E events delivered
before `--deadline`, and its own CPU time and event-loop lag, which show
whether this client could have been the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import resource
import time
from collections.abc import Callable
from typing import Any, cast

# Gaps go into a histogram (0.25 ms bins up to 10 s): constant memory, one
# increment per event, whatever N is.
_BIN = 0.25e-3
_BINS = 40_000
_CHUNK = b'"type":"chunk"'
_COMPLETE = b'"type":"complete"'
_ERROR = b'"type":"error"'


class Stats:
    __slots__ = (
        "gaps", "first", "events", "completed", "failed", "open", "finished", "closers",
    )  # fmt: skip

    def __init__(self, finished: asyncio.Future[None]) -> None:
        self.gaps = [0] * _BINS
        self.first: list[float] = []
        self.events = 0
        self.completed = 0
        self.failed: dict[str, int] = {}
        self.open = 0
        self.finished = finished
        self.closers: list[Callable[[], None]] = []

    def fail(self, reason: str) -> None:
        self.failed[reason] = self.failed.get(reason, 0) + 1

    def release(self) -> None:
        self.open -= 1
        if self.open == 0 and not self.finished.done():
            self.finished.set_result(None)


class SSEClient(asyncio.Protocol):
    """One stream, read through callbacks rather than a StreamReader: no task
    is woken per read, which keeps this process well below the server's cost
    per event."""

    def __init__(self, stats: Stats, request: bytes, started: float) -> None:
        self.stats = stats
        self.request = request
        self.started = started
        self.transport: asyncio.Transport | None = None
        self.head: bytes | None = b""
        self.pending = b""  # undecoded bytes of the chunked body
        self.left = 0  # data bytes left in the current HTTP chunk
        self.crlf = 0  # bytes of the CRLF after it still to skip
        self.sse = b""  # decoded text after the last complete SSE frame
        self.last = 0.0
        self.done = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, but have its API.
        self.transport = cast(asyncio.Transport, transport)
        self.stats.closers.append(self.transport.close)
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if self.head is not None:
            head = self.head + data
            end = head.find(b"\r\n\r\n")
            if end < 0:
                self.head = head
                return
            self.head = None
            if not head.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
                self._end(f"status {head[9:12].decode(errors='replace')}")
                return
            data = head[end + 4 :]
        text = self._dechunk(data)
        if self.sse:
            text = self.sse + text
        if text.endswith(b"\n\n"):
            self.sse = b""
        else:
            cut = text.rfind(b"\n\n") + 2
            if cut < 2:
                self.sse = text
                return
            text, self.sse = text[:cut], text[cut:]
        # Compact JSON escapes quotes inside strings, so the marker appears once
        # per chunk event and never inside a chunk's text: counting is exact.
        count = text.count(_CHUNK)
        if count:
            stats = self.stats
            stats.events += count
            if self.last:
                gaps = stats.gaps
                gaps[min(int((now - self.last) / _BIN), _BINS - 1)] += 1
                gaps[0] += count - 1  # events that came in the same read: no gap
            else:
                stats.first.append(now - self.started)
                stats.gaps[0] += count - 1
            self.last = now
        if _COMPLETE in text:
            self._end(None)
        elif _ERROR in text:
            self._end("error event")

    def _dechunk(self, data: bytes) -> bytes:
        if not (self.pending or self.left or self.crlf):
            # The usual read: exactly one whole HTTP chunk.
            eol = data.find(b"\r\n")
            if eol > 0:
                end = eol + 2 + int(data[:eol].split(b";", 1)[0], 16)
                if end + 2 == len(data) and end > eol + 2:
                    return data[eol + 2 : end]
        buf = self.pending + data if self.pending else data
        out = []
        pos, size = 0, len(buf)
        while pos < size:
            if self.left:
                take = min(self.left, size - pos)
                out.append(buf[pos : pos + take])
                pos += take
                self.left -= take
            elif self.crlf:
                skip = min(self.crlf, size - pos)
                pos += skip
                self.crlf -= skip
            else:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    break
                length = int(buf[pos:eol].split(b";", 1)[0], 16)
                pos = eol + 2
                if length == 0:
                    break
                self.left, self.crlf = length, 2
        self.pending = buf[pos:]
        return b"".join(out)

    def _end(self, failure: str | None) -> None:
        if self.done:
            return
        self.done = True
        if failure is None:
            self.stats.completed += 1
        else:
            self.stats.fail(failure)
        if self.transport is not None:
            self.transport.close()
        self.stats.release()

    def connection_lost(self, exc: Exception | None) -> None:
        self._end("closed before complete")


async def _lag_probe(lags: list[float], stop: asyncio.Event) -> None:
    """How late this loop wakes a 5 ms sleeper: if it is late, this process
    (not the server) is adding to the gaps it measures."""
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(0.005)
        lags.append(time.perf_counter() - before - 0.005)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rank(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[max(0, math.ceil(fraction * len(sorted_values)) - 1)]


def _hist_rank(hist: list[int], fraction: float) -> float | None:
    total = sum(hist)
    if not total:
        return None
    wanted, seen = math.ceil(fraction * total), 0
    for index, count in enumerate(hist):
        seen += count
        if seen >= wanted:
            return (index + 1) * _BIN  # the bin's upper edge: never flattering
    return None


async def run(port: int, clients: int, events: int, ramp: float, deadline: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    stats = Stats(loop.create_future())
    stats.open = clients
    lags: list[float] = []
    stop = asyncio.Event()
    probe = asyncio.create_task(_lag_probe(lags, stop))

    async def connect(index: int) -> None:
        request = (
            f"GET /api/stream-chat?task=bench-{index} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
        ).encode()
        started = time.perf_counter()
        try:
            await loop.create_connection(
                lambda: SSEClient(stats, request, started), "127.0.0.1", port
            )
        except OSError as error:
            stats.fail(f"connect: {error.strerror or type(error).__name__}")
            stats.release()

    cpu_start, wall_start = _cpu(), time.perf_counter()
    connecting = []
    for index in range(clients):
        delay = wall_start + index * ramp / clients - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        connecting.append(asyncio.create_task(connect(index)))
    remaining = deadline - (time.perf_counter() - wall_start)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(stats.finished), timeout=max(remaining, 0.1))
    wall = time.perf_counter() - wall_start
    cpu = _cpu() - cpu_start
    stop.set()
    await probe
    for close in stats.closers:
        close()
    for task in connecting:
        task.cancel()
    unfinished = stats.open
    first = sorted(stats.first) + [math.inf] * (clients - len(stats.first))
    lags.sort()
    p99_first = _rank(first, 0.99) if first else math.inf
    return {
        "clients": clients,
        "events_per_stream": events,
        "completed": stats.completed,
        "failed": stats.failed,
        "unfinished_at_deadline": unfinished,
        "events": stats.events,
        "delivered": stats.events / (clients * events) if clients and events else 0.0,
        "p50_gap_ms": _ms(_hist_rank(stats.gaps, 0.50)),
        "p99_gap_ms": _ms(_hist_rank(stats.gaps, 0.99)),
        "p99_first_ms": None if math.isinf(p99_first) else p99_first * 1e3,
        "max_first_ms": None if math.isinf(first[-1]) else first[-1] * 1e3,
        "cpu_s": cpu,
        "wall_s": wall,
        "cpu_share": cpu / wall if wall else None,
        "loop_lag_p99_ms": _rank(lags, 0.99) * 1e3 if lags else None,
        "loop_lag_max_ms": lags[-1] * 1e3 if lags else None,
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1e3


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.sse_load", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--events", type=int, required=True, help="chunk events per stream")
    parser.add_argument("--ramp", type=float, default=1.0, help="seconds to open them all")
    parser.add_argument("--deadline", type=float, required=True, help="seconds from the start")
    args = parser.parse_args(argv)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        result = runner.run(run(args.port, args.clients, args.events, args.ramp, args.deadline))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
