"""Ending a sync HTTP read that blocks in another thread, on request or on time.

On Linux, closing a socket does not wake a thread blocked reading it; shutting
it down does: the read returns end-of-file at once, httpx reports an incomplete
body, and `reason` tells `_http` what to raise instead. `Abort` holds the socket
of the response being read; the watchdog is one daemon thread that fires
aborts at their deadlines (the first-chunk and whole-stream limits while a sync
stream is silent).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from typing import Any

__all__ = ["Abort", "Timer", "call_at", "shutdown_socket"]


class Abort:
    """Makes the current read of one stream fail now, from any thread."""

    __slots__ = ("_lock", "_socket", "reason")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self.reason: str | None = None

    def arm(self, sock: Any) -> None:
        """`sock` is the socket being read from now on."""
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

    def fire(self, reason: str) -> None:
        """End the read with `reason` ("cancelled", "first_chunk", "total"); the first wins."""
        with self._lock:
            if self.reason is None:
                self.reason = reason
            sock, self._socket = self._socket, None
        if sock is not None:
            shutdown_socket(sock)


def shutdown_socket(sock: socket.socket) -> None:
    """Wake a thread blocked reading `sock`: its read returns end-of-file now."""
    # The plain socket's method: an SSLSocket's own shutdown() drops its SSL
    # object, which the reading thread is still using.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class Timer:
    __slots__ = ("when", "order", "abort", "reason")

    def __init__(self, when: float, order: int, abort: Abort, reason: str) -> None:
        self.when = when
        self.order = order
        self.abort: Abort | None = abort
        self.reason = reason

    def __lt__(self, other: Timer) -> bool:
        return (self.when, self.order) < (other.when, other.order)

    def cancel(self) -> None:
        self.abort = None


class _Watchdog:
    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[Timer] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def call_at(self, when: float, abort: Abort, reason: str) -> Timer:
        timer = Timer(when, next(self._order), abort, reason)
        with self._cond:
            self._prune()
            heapq.heappush(self._heap, timer)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="laraflowai-watchdog", daemon=True
                )
                self._thread.start()
            elif self._heap[0] is timer:
                self._cond.notify()
        return timer

    def _prune(self) -> None:
        # Cancelled timers stay in the heap until due; rebuild before they pile up.
        heap = self._heap
        if len(heap) > 256:
            live = [timer for timer in heap if timer.abort is not None]
            if len(live) < len(heap) // 2:
                heapq.heapify(live)
                self._heap = live

    def _run(self) -> None:
        with self._cond:
            while True:
                heap = self._heap
                while heap and heap[0].abort is None:
                    heapq.heappop(heap)
                if not heap:
                    self._cond.wait()
                    continue
                delay = heap[0].when - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                timer = heapq.heappop(heap)
                abort, timer.abort = timer.abort, None
                if abort is not None:
                    abort.fire(timer.reason)

    def _after_fork(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap = []
        self._thread = None


_watchdog = _Watchdog()
os.register_at_fork(after_in_child=_watchdog._after_fork)


def call_at(when: float, abort: Abort, reason: str) -> Timer:
    """Fire `abort` with `reason` at `time.monotonic()` `when`, unless cancelled first."""
    return _watchdog.call_at(when, abort, reason)
