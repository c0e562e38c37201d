"""`Cancel`: the one way a stream ends early, from any thread or task.

Every upstream (one provider request, its retries included) has one `Cancel`,
owned by the reader that reads it: the flight of a shared stream, or the lone
reader of an unshared async one. Whoever ends the stream early fires it with a
reason: a reader that closes or gives up ("cancelled"), the watchdog at a
deadline ("total", "first_chunk"); an in-process stream's timer only records
a limit that passed (`expire`), for its next event to raise. The first reason
wins; `_http` and `_source` read it to raise the matching error and never to
retry.

How firing reaches a read in progress:

- Sync: a read blocked on a socket wakes only for that socket (closing it does
  not, on Linux); shutting it down does: the read returns end-of-file at once
  and httpx reports an incomplete body. The HTTP driver arms the socket it reads
  from; a transport without one (a user's custom transport) is checked as each
  piece of data arrives instead.
- Async: each read waits inside an `asyncio.timeout`, which firing expires (in
  the event loop's thread): the read raises at once, in the reading task only.
  A producer task of ours can also be bound: firing cancels it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from typing import Any

__all__ = ["Cancel", "shutdown_socket"]


class Cancel:
    """`cancel.fire(reason)` from anywhere; the reader's driver does the rest."""

    __slots__ = ("_lock", "_socket", "reading", "_loop", "_task", "_slept", "reason")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        # The asyncio.Timeout the async read in progress waits in: set by the reading
        # task before each read (an attribute store: this runs once per chunk).
        self.reading: asyncio.Timeout | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._slept: threading.Event | None = None
        self.reason: str | None = None

    def fire(self, reason: str = "cancelled") -> None:
        """End the stream with `reason` ("cancelled", "total", "first_chunk");
        the first reason wins. Safe from any thread."""
        with self._lock:
            if self.reason is None:
                self.reason = reason
            sock, self._socket = self._socket, None
            loop, slept = self._loop, self._slept
        if slept is not None:
            slept.set()
        if sock is not None:
            shutdown_socket(sock)
        if loop is not None and not loop.is_closed():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                self._wake()
            else:
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    loop.call_soon_threadsafe(self._wake)

    def expire(self, reason: str) -> None:
        """A limit (`reason`) passed while nothing was there to end: record it
        as fire() would, without waking a read or cancelling a task; the reader
        raises the limit's error at its next event (an in-process provider's
        stream, whose timer calls this)."""
        with self._lock:
            if self.reason is None:
                self.reason = reason

    # Sync reads

    def arm(self, sock: Any) -> None:
        """`sock` is the socket being read from now on (not a socket: ignored)."""
        if not isinstance(sock, socket.socket):
            return
        with self._lock:
            fired = self.reason is not None
            if not fired:
                self._socket = sock
        if fired:
            shutdown_socket(sock)

    def disarm(self) -> None:
        """The read is over: never touch that socket again (it may go back to the pool)."""
        with self._lock:
            self._socket = None

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` (before a retry), or less if fired meanwhile."""
        with self._lock:
            if self.reason is not None:
                return
            if self._slept is None:
                self._slept = threading.Event()
            slept = self._slept
        slept.wait(seconds)

    # Async reads

    def bind(self, task: asyncio.Task[Any]) -> None:
        """`task` reads for nobody but us: firing cancels it."""
        self._loop = task.get_loop()
        self._task = task
        if self.reason is not None:
            task.cancel()

    def bind_loop(self) -> None:
        """Async reads of this stream run on the running event loop."""
        self._loop = asyncio.get_running_loop()

    def watch(self, timeout: asyncio.Timeout) -> None:
        """The read in progress waits inside `timeout`: firing expires it. Called
        in the reading task (after bind_loop()), which checks `reason` next."""
        self.reading = timeout

    async def asleep(self, seconds: float) -> None:
        """The async twin of sleep(), in the reading task (after bind_loop())."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds) as timeout:
                self.watch(timeout)
                if self.reason is None:
                    await asyncio.sleep(seconds + 1)

    def _wake(self) -> None:
        task = self._task
        if task is not None:
            task.cancel()
            return
        timeout = self.reading
        if timeout is not None and not timeout.expired():
            with contextlib.suppress(RuntimeError):  # that read is already over
                timeout.reschedule(-1)


def shutdown_socket(sock: socket.socket) -> None:
    """Wake a thread blocked reading `sock`: its read returns end-of-file now."""
    # The plain socket's method: an SSLSocket's own shutdown() drops its SSL
    # object, which the reading thread is still using.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
