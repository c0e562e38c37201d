"""The watchdog: one daemon thread that fires cancels at their deadlines (the
first-chunk and whole-stream limits while a sync stream is silent; see `_cancel`)."""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time

from ._cancel import Cancel

__all__ = ["Timer", "call_at"]


class Timer:
    __slots__ = ("when", "order", "cancel_", "reason")

    def __init__(self, when: float, order: int, cancel: Cancel, reason: str) -> None:
        self.when = when
        self.order = order
        self.cancel_: Cancel | None = cancel
        self.reason = reason

    def __lt__(self, other: Timer) -> bool:
        return (self.when, self.order) < (other.when, other.order)

    def cancel(self) -> None:
        self.cancel_ = None


class _Watchdog:
    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[Timer] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def call_at(self, when: float, cancel: Cancel, reason: str) -> Timer:
        timer = Timer(when, next(self._order), cancel, reason)
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
            live = [timer for timer in heap if timer.cancel_ is not None]
            if len(live) < len(heap) // 2:
                heapq.heapify(live)
                self._heap = live

    def _run(self) -> None:
        with self._cond:
            while True:
                heap = self._heap
                while heap and heap[0].cancel_ is None:
                    heapq.heappop(heap)
                if not heap:
                    self._cond.wait()
                    continue
                delay = heap[0].when - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                timer = heapq.heappop(heap)
                cancel, timer.cancel_ = timer.cancel_, None
                if cancel is not None:
                    cancel.fire(timer.reason)

    def _after_fork(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap = []
        self._thread = None


_watchdog = _Watchdog()
os.register_at_fork(after_in_child=_watchdog._after_fork)


def call_at(when: float, cancel: Cancel, reason: str) -> Timer:
    """Fire `cancel` with `reason` at `time.monotonic()` `when`, unless the timer is
    cancelled first."""
    return _watchdog.call_at(when, cancel, reason)
