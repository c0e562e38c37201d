"""A scriptable HTTP/1.1 server that imitates LLM providers byte for byte.

The server runs its own asyncio loop in a daemon thread, so synchronous and asynchronous tests can
use it alike. Each request is answered by a `Reply`: a status, headers and a list of steps (`Write`,
`Sleep`, `Drop`, `Hang`) played in order, so tests control exactly which bytes reach the client,
how they are cut and when the connection breaks.

    with ProviderServer() as srv:
        srv.enqueue(Reply(steps=[Write(b"data: [DONE]\\n\\n")]))
        ...  # point the client at srv.url

The response head is sent together with the first `Write` (an empty `Write` sends the head alone),
so leading `Sleep` steps delay the status line, and a `Drop` or `Hang` before any `Write` means the
client never gets a response at all.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any, Literal, TypeAlias
from urllib.parse import parse_qsl

__all__ = [
    "Drop",
    "Exchange",
    "Framing",
    "Hang",
    "Handler",
    "ProviderServer",
    "RecordedRequest",
    "Reply",
    "Sleep",
    "Step",
    "Write",
]

_MAX_LINE = 64 * 1024
_MAX_HEADERS = 200
# Generous but bounded: stop() must never hang on a misbehaving peer.
_STOP_TIMEOUT = 5.0


# --- the script -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    """Send `data` (one HTTP chunk with chunked framing) and wait until it has left the server."""

    data: bytes


@dataclass(frozen=True)
class Sleep:
    """Pause; ends early, and ends the reply, when the client closes the connection."""

    seconds: float


@dataclass(frozen=True)
class Drop:
    """Reset the connection at once (SO_LINGER 0): no final chunk; the client gets an error."""


@dataclass(frozen=True)
class Hang:
    """Stop writing and keep the connection open until the client closes it or the server stops."""


Step: TypeAlias = Write | Sleep | Drop | Hang
Framing: TypeAlias = Literal["chunked", "length", "close"]


@dataclass(frozen=True)
class Reply:
    """What to answer to one request.

    framing: "chunked" sends each Write as one chunk and the final zero-length chunk after the last
    step; "length" sends Content-Length = the total of all Writes; "close" sends neither,
    adds `Connection: close` and ends the body by closing the connection.
    A `Content-Type: text/event-stream` header is added when the body is not empty and no
    Content-Type is given. Framing headers given in `headers` replace the computed ones.
    """

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    steps: Sequence[Step] = ()
    framing: Framing = "chunked"

    def __post_init__(self) -> None:
        # Freeze the caller's containers so a reply can be reused safely across requests.
        object.__setattr__(self, "headers", dict(self.headers))
        object.__setattr__(self, "steps", tuple(self.steps))
        if self.framing not in ("chunked", "length", "close"):
            raise ValueError(f"unknown framing {self.framing!r}")

    @property
    def body(self) -> bytes:
        """All the bytes the Write steps carry, concatenated."""
        return b"".join(step.data for step in self.steps if isinstance(step, Write))


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # keys lower-cased; repeated headers joined with ", "
    body: bytes
    target: str = ""  # the raw request target, query included
    http_version: str = "HTTP/1.1"
    index: int = 0  # position in ProviderServer.requests
    connection_id: int = 0

    def json(self) -> Any:
        return json.loads(self.body)

    def text(self) -> str:
        return self.body.decode("utf-8")


Handler: TypeAlias = Callable[[RecordedRequest], Reply]


@dataclass(frozen=True)
class Exchange:
    """A snapshot of how one request was answered (times are `time.monotonic()` values)."""

    request: RecordedRequest
    status: int | None  # None until a reply was chosen
    reply_started_at: float | None
    reply_ended_at: float | None  # None while the reply is in progress
    completed: bool  # every step ran and the body was terminated
    dropped: bool  # a Drop step reset the connection
    body_bytes_sent: int  # Write payload bytes that left the server
    client_closed_at: float | None  # when the client closed the connection that carried it
    client_closed_during_reply: bool

    @property
    def client_closed(self) -> bool:
        return self.client_closed_at is not None


@dataclass
class _ExchangeState:
    request: RecordedRequest
    status: int | None = None
    reply_started_at: float | None = None
    reply_ended_at: float | None = None
    completed: bool = False
    dropped: bool = False
    body_bytes_sent: int = 0
    client_closed_at: float | None = None
    client_closed_during_reply: bool = False
    disconnected: threading.Event = field(default_factory=threading.Event)

    def snapshot(self) -> Exchange:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(Exchange)}
        return Exchange(**values)


# --- one connection -------------------------------------------------------------------------------


class _BadRequest(Exception):
    pass


class _Connection:
    """Reads the client's bytes in the background, so a closed peer is noticed while writing too."""

    def __init__(
        self, cid: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.id = cid
        self.reader = reader
        self.writer = writer
        self.buffer = bytearray()
        self.eof = False
        self.changed = asyncio.Event()
        self.peer_closed = asyncio.Event()
        self.server_closing = False
        self.exchanges: list[_ExchangeState] = []
        self.task: asyncio.Task[Any] | None = None

    async def readline(self) -> bytes | None:
        """One line including its LF, or None at EOF."""
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0:
                line = bytes(self.buffer[: end + 1])
                del self.buffer[: end + 1]
                return line
            if len(self.buffer) > _MAX_LINE:
                raise _BadRequest("line too long")
            if self.eof:
                return None
            await self._wait()

    async def readexactly(self, size: int) -> bytes | None:
        while len(self.buffer) < size:
            if self.eof:
                return None
            await self._wait()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    async def _wait(self) -> None:
        self.changed.clear()
        await self.changed.wait()

    async def sleep(self, seconds: float) -> bool:
        """Sleep; False (at once) when the peer closed the connection."""
        if self.peer_closed.is_set():
            return False
        try:
            await asyncio.wait_for(self.peer_closed.wait(), max(seconds, 0.0))
        except TimeoutError:
            return True
        return False

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    @property
    def socket(self) -> Any:
        return self.writer.get_extra_info("socket")


def _unsent_bytes(sock: Any) -> int:
    """Bytes the kernel has not yet had acknowledged (Linux); 0 where unknown."""
    try:
        import fcntl
        import termios

        raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
        return int(struct.unpack("i", raw)[0])
    except (ImportError, AttributeError, OSError, ValueError):
        return 0


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _error_json(message: str, code: str) -> bytes:
    error = {"message": message, "type": "server_error", "param": None, "code": code}
    return json.dumps({"error": error}, separators=(",", ":")).encode("utf-8")


def _internal_error_reply(message: str, code: str) -> Reply:
    return Reply(
        status=500,
        headers={"Content-Type": "application/json"},
        steps=[Write(_error_json(message, code))],
        framing="length",
    )


def _wants_close(request: RecordedRequest) -> bool:
    tokens = {t.strip().lower() for t in request.headers.get("connection", "").split(",")}
    if request.http_version == "HTTP/1.0":
        return "keep-alive" not in tokens
    return "close" in tokens


# --- the server -----------------------------------------------------------------------------------


class ProviderServer:
    """Scriptable HTTP/1.1 server on 127.0.0.1 with a free port, run in a background thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: collections.deque[Reply] = collections.deque()
        self._handler: Handler | None = None
        self._exchanges: list[_ExchangeState] = []
        self._connections: set[_Connection] = set()
        self._connections_opened = 0
        self._next_connection_id = 0
        self._in_progress = 0
        self._peak_in_progress = 0
        self._errors: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._port: int | None = None

    # lifecycle

    def start(self) -> ProviderServer:
        if self._thread is not None:
            raise RuntimeError("ProviderServer is already running")
        loop = asyncio.new_event_loop()
        loop.set_exception_handler(self._on_loop_error)
        ready = threading.Event()
        failure: list[BaseException] = []
        thread = threading.Thread(
            target=self._run, args=(loop, ready, failure), name="ProviderServer", daemon=True
        )
        self._loop, self._thread = loop, thread
        thread.start()
        ready.wait()
        if failure:
            thread.join(_STOP_TIMEOUT)
            self._loop = self._thread = None
            raise RuntimeError("ProviderServer failed to start") from failure[0]
        return self

    def stop(self) -> None:
        """Close every connection and the listener, then join the thread. Idempotent."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if thread.is_alive():
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            with contextlib.suppress(Exception):
                future.result(_STOP_TIMEOUT)
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.stop)
            thread.join(_STOP_TIMEOUT)
        self._loop = self._thread = None
        self._server = None

    def __enter__(self) -> ProviderServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("ProviderServer is not running")
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # scripting

    def enqueue(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, first in first out."""
        with self._cond:
            self._queue.extend(replies)

    def set_handler(self, handler: Handler | None) -> None:
        """Answer with `handler(request)` when the queue is empty. It runs on the server's loop:
        keep it quick and express delays as Sleep steps."""
        with self._cond:
            self._handler = handler

    def reset(self) -> None:
        """Forget the queue, the handler, the recorded requests and the counters."""
        with self._cond:
            self._queue.clear()
            self._handler = None
            self._exchanges.clear()
            self._errors.clear()
            self._peak_in_progress = self._in_progress
            self._connections_opened = len(self._connections)

    @property
    def pending_replies(self) -> int:
        with self._cond:
            return len(self._queue)

    # observation

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._cond:
            return [state.request for state in self._exchanges]

    @property
    def request_count(self) -> int:
        with self._cond:
            return len(self._exchanges)

    @property
    def exchanges(self) -> list[Exchange]:
        with self._cond:
            return [state.snapshot() for state in self._exchanges]

    def exchange(self, index: int) -> Exchange:
        with self._cond:
            return self._exchanges[index].snapshot()

    @property
    def open_connections(self) -> int:
        with self._cond:
            return len(self._connections)

    @property
    def connections_opened(self) -> int:
        with self._cond:
            return self._connections_opened

    @property
    def max_concurrent_requests(self) -> int:
        """Peak number of replies in progress at the same time."""
        with self._cond:
            return self._peak_in_progress

    @property
    def errors(self) -> list[str]:
        """Unexpected server-side problems (bad requests, handler exceptions, loop errors)."""
        with self._cond:
            return list(self._errors)

    def wait_until_idle(self, timeout: float) -> bool:
        """True once no connection is open."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._connections, timeout)

    def wait_for_requests(self, count: int, timeout: float) -> bool:
        """True once at least `count` requests were received."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._exchanges) >= count, timeout)

    def wait_for_completion(self, request_index: int, timeout: float) -> bool:
        """True once the whole reply to request `request_index` was written."""

        def completed() -> bool:
            return request_index < len(self._exchanges) and self._exchanges[request_index].completed

        with self._cond:
            return self._cond.wait_for(completed, timeout)

    def wait_for_disconnect(self, request_index: int, timeout: float) -> bool:
        """True once the client closed the connection that carried request `request_index`."""

        def closed() -> bool:
            return (
                request_index < len(self._exchanges)
                and self._exchanges[request_index].client_closed_at is not None
            )

        with self._cond:
            return self._cond.wait_for(closed, timeout)

    # the loop thread

    def _run(
        self, loop: asyncio.AbstractEventLoop, ready: threading.Event, failure: list[BaseException]
    ) -> None:
        asyncio.set_event_loop(loop)
        try:
            try:
                server = loop.run_until_complete(
                    asyncio.start_server(self._on_connection, "127.0.0.1", 0)
                )
            except BaseException as exc:
                failure.append(exc)
                return
            self._server = server
            self._port = int(server.sockets[0].getsockname()[1])
            ready.set()
            loop.run_forever()
        finally:
            ready.set()
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self._note_error(f"loop: {context.get('message')} {context.get('exception')!r}")

    def _note_error(self, text: str) -> None:
        with self._cond:
            self._errors.append(text)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        with self._cond:
            connections = list(self._connections)
        for conn in connections:
            conn.server_closing = True
            if conn.task is not None:
                conn.task.cancel()
        tasks = [conn.task for conn in connections if conn.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=_STOP_TIMEOUT / 2)
        for conn in connections:
            conn.writer.transport.abort()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), _STOP_TIMEOUT / 4)
        current = asyncio.current_task()
        leftovers = [task for task in asyncio.all_tasks() if task is not current]
        for task in leftovers:
            task.cancel()
        if leftovers:
            await asyncio.wait(leftovers, timeout=_STOP_TIMEOUT / 4)
        # Let the aborted transports run connection_lost, which closes their sockets.
        for _ in range(3):
            await asyncio.sleep(0)

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        sock = writer.get_extra_info("socket")
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # With no buffering above the kernel, drain() returns only once each Write has left.
        writer.transport.set_write_buffer_limits(high=0)
        with self._cond:
            self._next_connection_id += 1
            conn = _Connection(self._next_connection_id, reader, writer)
            conn.task = asyncio.current_task()
            self._connections.add(conn)
            self._connections_opened += 1
            self._cond.notify_all()
        pump = asyncio.create_task(self._pump(conn))
        try:
            await self._serve_connection(conn)
        except asyncio.CancelledError:
            pass
        except OSError:
            self._mark_client_closed(conn)
        except Exception as exc:  # keep serving other connections whatever happens here
            self._note_error(f"connection {conn.id}: {exc!r}")
        finally:
            conn.server_closing = True
            pump.cancel()
            with contextlib.suppress(Exception):
                writer.close()
            with self._cond:
                self._connections.discard(conn)
                self._cond.notify_all()

    async def _pump(self, conn: _Connection) -> None:
        try:
            while True:
                data = await conn.reader.read(65536)
                if not data:
                    break
                conn.buffer += data
                conn.changed.set()
        except OSError:
            pass
        conn.eof = True
        conn.changed.set()
        if not conn.server_closing:
            self._mark_client_closed(conn)

    def _mark_client_closed(self, conn: _Connection) -> None:
        if conn.peer_closed.is_set():
            return
        now = time.monotonic()
        with self._cond:
            for state in conn.exchanges:
                if state.client_closed_at is None:
                    state.client_closed_at = now
                    state.client_closed_during_reply = (
                        state.reply_started_at is not None and state.reply_ended_at is None
                    )
                    state.disconnected.set()
            self._cond.notify_all()
        conn.peer_closed.set()

    async def _serve_connection(self, conn: _Connection) -> None:
        while not conn.peer_closed.is_set():
            try:
                parsed = await self._read_request(conn)
            except _BadRequest as exc:
                self._note_error(f"connection {conn.id}: bad request: {exc}")
                body = _error_json(f"bad request: {exc}", "bad_request")
                head = (
                    "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                )
                await conn.send(head.encode("ascii") + body)
                return
            if parsed is None:
                return
            state = self._record(conn, *parsed)
            if conn.peer_closed.is_set():
                return
            if not await self._answer(conn, state):
                return

    async def _read_request(
        self, conn: _Connection
    ) -> tuple[str, str, str, dict[str, str], bytes] | None:
        line = b""
        while not line.strip():  # RFC 9112 lets servers skip empty lines before a request
            read = await conn.readline()
            if read is None:
                return None
            line = read
        parts = line.decode("latin-1").rstrip("\r\n").split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest(f"request line {line!r}")
        method, target, version = parts

        headers: dict[str, str] = {}
        while True:
            read = await conn.readline()
            if read is None:
                return None
            if read in (b"\r\n", b"\n"):
                break
            if len(headers) >= _MAX_HEADERS:
                raise _BadRequest("too many headers")
            try:
                text = read.decode("utf-8")
            except UnicodeDecodeError:
                text = read.decode("latin-1")
            name, colon, value = text.rstrip("\r\n").partition(":")
            if not colon or not name or name != name.strip():
                raise _BadRequest(f"header line {read!r}")
            key, value = name.lower(), value.strip(" \t")
            headers[key] = f"{headers[key]}, {value}" if key in headers else value

        if "100-continue" in headers.get("expect", "").lower():
            await conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = await self._read_chunked_body(conn)
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                raise _BadRequest("bad Content-Length") from None
            if length < 0:
                raise _BadRequest("bad Content-Length")
            body = await conn.readexactly(length)
        else:
            body = b""
        if body is None:
            return None
        return method, target, version, headers, body

    async def _read_chunked_body(self, conn: _Connection) -> bytes | None:
        body = bytearray()
        while True:
            line = await conn.readline()
            if line is None:
                return None
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadRequest(f"chunk size line {line!r}") from None
            if size < 0:
                raise _BadRequest(f"chunk size line {line!r}")
            if size == 0:
                break
            data = await conn.readexactly(size)
            end = await conn.readline()
            if data is None or end is None:
                return None
            if end.strip():
                raise _BadRequest("chunk not followed by CRLF")
            body += data
        while True:  # trailer section
            line = await conn.readline()
            if line is None:
                return None
            if not line.strip():
                return bytes(body)

    def _record(
        self,
        conn: _Connection,
        method: str,
        target: str,
        version: str,
        headers: dict[str, str],
        body: bytes,
    ) -> _ExchangeState:
        path, _, query_text = target.partition("?")
        query = dict(parse_qsl(query_text, keep_blank_values=True))
        with self._cond:
            request = RecordedRequest(
                method=method,
                path=path,
                query=query,
                headers=headers,
                body=body,
                target=target,
                http_version=version,
                index=len(self._exchanges),
                connection_id=conn.id,
            )
            state = _ExchangeState(request)
            if conn.peer_closed.is_set():  # the client sent this request, then closed at once
                state.client_closed_at = time.monotonic()
                state.disconnected.set()
            self._exchanges.append(state)
            conn.exchanges.append(state)
            self._cond.notify_all()
        return state

    def _choose_reply(self, request: RecordedRequest) -> Reply:
        with self._cond:
            if self._queue:
                return self._queue.popleft()
            handler = self._handler
        if handler is None:
            return _internal_error_reply(
                f"ProviderServer: no reply was scripted for {request.method} {request.path}",
                "no_reply_scripted",
            )
        try:
            reply = handler(request)
        except Exception as exc:
            self._note_error(f"handler raised {exc!r}")
            return _internal_error_reply(f"ProviderServer: handler raised {exc!r}", "handler_error")
        if not isinstance(reply, Reply):
            self._note_error(f"handler returned {reply!r}")
            return _internal_error_reply(
                "ProviderServer: handler returned no Reply", "handler_error"
            )
        return reply

    async def _answer(self, conn: _Connection, state: _ExchangeState) -> bool:
        """Play the reply; True when the connection may carry another request."""
        request = state.request
        reply = self._choose_reply(request)
        with self._cond:
            state.status = reply.status
            state.reply_started_at = time.monotonic()
            self._in_progress += 1
            self._peak_in_progress = max(self._peak_in_progress, self._in_progress)
        try:
            return await self._play(conn, request, reply, state)
        except OSError:
            self._mark_client_closed(conn)
            return False
        finally:
            with self._cond:
                state.reply_ended_at = time.monotonic()
                self._in_progress -= 1
                self._cond.notify_all()

    async def _play(
        self, conn: _Connection, request: RecordedRequest, reply: Reply, state: _ExchangeState
    ) -> bool:
        # 1xx/204/304 replies have no body and no framing headers; HEAD replies keep the headers.
        bodyless = reply.status in (204, 304) or 100 <= reply.status < 200
        send_body = not bodyless and request.method != "HEAD"
        given = {name.lower(): value for name, value in reply.headers.items()}
        close_after = (
            reply.framing == "close"
            or _wants_close(request)
            or "close" in given.get("connection", "").lower()
        )
        head: bytes | None = self._head(reply, given, close_after, bodyless)
        chunked = reply.framing == "chunked" and send_body

        for step in reply.steps:
            if conn.peer_closed.is_set():
                return False
            if isinstance(step, Write):
                out = head or b""
                head = None
                if step.data and send_body:
                    out += (b"%x\r\n%s\r\n" % (len(step.data), step.data)) if chunked else step.data
                if out:
                    await conn.send(out)
                    state.body_bytes_sent += len(step.data) if send_body else 0
            elif isinstance(step, Sleep):
                if not await conn.sleep(step.seconds):
                    return False
            elif isinstance(step, Drop):
                await self._drop(conn)
                state.dropped = True
                return False
            elif isinstance(step, Hang):
                await conn.peer_closed.wait()
                return False

        tail = (head or b"") + (b"0\r\n\r\n" if chunked else b"")
        if tail:
            await conn.send(tail)
        state.completed = True
        with self._cond:
            self._cond.notify_all()
        return not close_after

    @staticmethod
    def _head(reply: Reply, given: Mapping[str, str], close_after: bool, bodyless: bool) -> bytes:
        lines = [f"HTTP/1.1 {reply.status} {_reason(reply.status)}"]
        lines += [f"{name}: {value}" for name, value in reply.headers.items()]
        body_length = len(reply.body)
        if not bodyless:
            if body_length and "content-type" not in given:
                lines.append("Content-Type: text/event-stream")
            if reply.framing == "chunked" and "transfer-encoding" not in given:
                lines.append("Transfer-Encoding: chunked")
            if reply.framing == "length" and "content-length" not in given:
                lines.append(f"Content-Length: {body_length}")
        if close_after and "connection" not in given:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")

    async def _drop(self, conn: _Connection) -> None:
        conn.server_closing = True
        sock = conn.socket
        # Wait (briefly) until the client has the bytes already written, so the reset cuts the body
        # exactly after the last Write instead of discarding unacknowledged data.
        deadline = time.monotonic() + 0.5
        while (
            conn.writer.transport.get_write_buffer_size() or _unsent_bytes(sock)
        ) and time.monotonic() < deadline:
            await asyncio.sleep(0.001)
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.writer.transport.abort()

    def __repr__(self) -> str:
        where = self.url if self._port is not None and self._thread is not None else "stopped"
        return f"<ProviderServer {where}>"
