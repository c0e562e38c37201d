"""The app under test on a real loopback port, a real SSE client, and a TCP
proxy that can cut every connection passing through it."""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import uvicorn
from httpx_sse._decoders import SSEDecoder, SSELineDecoder

__all__ = [
    "AppServer",
    "CutProxy",
    "GranianAppServer",
    "Event",
    "LiveStream",
    "Received",
    "read_sse",
    "sse_stream",
]


class AppServer:
    """uvicorn serving an ASGI app in a background thread on 127.0.0.1."""

    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(
            app,
            log_level="warning",
            ws="none",
            lifespan="on",
            timeout_graceful_shutdown=1,
        )
        self.app = app
        self.server = uvicorn.Server(config)
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port = int(self.socket.getsockname()[1])
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AppServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the app server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.socket.close()


class GranianAppServer:
    """granian's embedded server (the `granian` extra) serving an ASGI app in a
    background thread on 127.0.0.1, with the same interface as AppServer."""

    def __init__(self, app: Any) -> None:
        from granian.constants import HTTPModes, Interfaces
        from granian.server.embed import Server

        self.app = app
        with socket.socket() as probe:  # granian binds its own socket
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.server = Server(
            app,
            address="127.0.0.1",
            port=self.port,
            interface=Interfaces.ASGI,
            websockets=False,
            http=HTTPModes.http1,
            log_enabled=False,
        )
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())

    def start(self) -> GranianAppServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if not self.thread.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError("the app server did not start") from None
                time.sleep(0.02)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.server.stop)
        self.thread.join(10)


@dataclass(frozen=True)
class Event:
    """One dispatched event (a block with data, per the WHATWG rules)."""

    id: str
    data: str
    event: str

    def json(self) -> Any:
        import json

        return json.loads(self.data)


@dataclass
class Received:
    """What a client saw, in arrival order: events and comments."""

    status: int
    headers: httpx2.Headers
    items: list[Event | str] = field(default_factory=list)  # str: a comment line
    retry: int | None = None

    @property
    def events(self) -> list[Event]:
        return [item for item in self.items if isinstance(item, Event)]

    @property
    def comments(self) -> list[str]:
        return [item for item in self.items if isinstance(item, str)]

    @property
    def payloads(self) -> list[dict[str, Any]]:
        return [event.json() for event in self.events]


class LiveStream:
    """An open SSE response being read as it arrives."""

    def __init__(self, received: Received, items: Iterator[Event | str]) -> None:
        self.received = received
        self._items = items

    def read_events(self, count: int) -> Received:
        """Read until `count` events in all have arrived."""
        while len(self.received.events) < count:
            if next(self._items, None) is None:
                raise AssertionError(
                    f"the stream ended after {len(self.received.events)} of {count} events"
                )
        return self.received

    def read_to_end(self) -> Received:
        for _ in self._items:
            pass
        return self.received


@contextlib.contextmanager
def sse_stream(
    client: httpx2.Client, url: str, *, last_event_id: str | None = None, **kwargs: Any
) -> Iterator[LiveStream]:
    """Open an SSE request and read it as it arrives; leaving the block
    disconnects (the response is closed half-read)."""
    headers = dict(kwargs.pop("headers", {}))
    headers.setdefault("Accept", "text/event-stream")
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    with client.stream("GET", url, headers=headers, **kwargs) as response:
        received = Received(response.status_code, response.headers)

        def handle(decoder: SSEDecoder, line: str) -> Event | str | None:
            if line.startswith(":"):
                return line[1:].strip()
            sse = decoder.decode(line)
            if sse is None:
                return None
            if sse.retry is not None:
                received.retry = sse.retry
            # A block without data dispatches nothing (WHATWG), e.g. `retry:` alone.
            if sse.data == "":
                return None
            return Event(sse.id, sse.data, sse.event or "message")

        def items() -> Iterator[Event | str]:
            lines = SSELineDecoder()
            decoder = SSEDecoder()
            for text in response.iter_text():
                for line in lines.decode(text):
                    item = handle(decoder, line)
                    if item is not None:
                        received.items.append(item)
                        yield item
            for line in lines.flush():
                item = handle(decoder, line)
                if item is not None:
                    received.items.append(item)
                    yield item

        yield LiveStream(received, items())


def read_sse(client: httpx2.Client, url: str, **kwargs: Any) -> Received:
    """The whole stream, read to its end."""
    with sse_stream(client, url, **kwargs) as stream:
        return stream.read_to_end()


class CutProxy:
    """A TCP forwarder on 127.0.0.1 in front of `target_port`; `cut()` resets
    every connection open through it, as a dropped network would."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = int(self.listener.getsockname()[1])
        self.lock = threading.Lock()
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.accepted = 0
        self.closed = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self.lock:
                self.pairs.append((client, upstream))
                self.accepted += 1
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 0.5)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except (OSError, ValueError):  # ValueError: cut() closed a socket under select()
            return
        finally:
            for sock in (a, b):
                with contextlib.suppress(OSError):
                    sock.close()

    def cut(self) -> int:
        """Reset every open connection; returns how many were cut."""
        import struct

        with self.lock:
            pairs, self.pairs = self.pairs, []
        for client, upstream in pairs:
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()
        return len(pairs)

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self.listener.close()
        self.cut()
