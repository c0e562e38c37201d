"""The sync side of in-flight sharing (see `_inflight`): `Flight` and its readers."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import NoReturn

from .._exceptions import StreamCancelledError, StreamInterruptedError
from ..wire import Event
from ._cancel import Cancel

__all__ = ["Flight", "FlightReader", "copy_error", "reader_cancelled"]

logger = logging.getLogger("laraflowai")


def copy_error(error: BaseException) -> BaseException:
    """A fresh copy of `error` for each reader: each sets its own partial content."""
    try:
        clone = error.__class__.__new__(error.__class__, *error.args)
        clone.__dict__.update(error.__dict__)
        clone.args = error.args
    except Exception:
        return error
    clone.__cause__, clone.__context__ = error.__cause__, error.__context__
    return clone.with_traceback(error.__traceback__)


def reader_cancelled() -> StreamCancelledError:
    return StreamCancelledError("the stream was cancelled by its reader before it ended")


class Flight:
    """One sync upstream shared by readers. `upstream(cancel)` opens it, an
    iterator of batches of events (lists, never empty), where `cancel` is the
    flight's Cancel: fired when the last reader leaves, it wakes a pull blocked
    in another thread. `on_complete(events)` runs once the upstream ended
    normally, before readers see the end."""

    def __init__(
        self,
        upstream: Callable[[Cancel], Iterator[list[Event]]],
        *,
        on_complete: Callable[[list[Event]], None] | None = None,
        on_end: Callable[[Flight], None] | None = None,
    ) -> None:
        self.events: list[Event] = []
        self.done = False
        self.error: BaseException | None = None
        self.cancelled = False
        self.readers = 0
        self.cached = False
        self._open = upstream
        self._upstream: Iterator[list[Event]] | None = None
        # Held by whoever reads upstream; acquire(False) is an atomic test-and-set.
        self._token = threading.Lock()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        # Readers waiting on _changed. A puller reads it after appending, a waiter
        # raises it before looking for new events: no wakeup can be lost.
        self._waiting = 0
        self._pumping = False
        self._on_complete = on_complete
        self.cancel = Cancel()
        self._on_end = on_end
        self._context = contextvars.copy_context()

    def join(self) -> FlightReader | None:
        """A new reader from the first event, or None if the flight was cancelled."""
        with self._lock:
            if self.cancelled:
                return None
            self.readers += 1
        return FlightReader(self)

    def _pull(self) -> Event | None:
        """Read one upstream batch and record it; its first event, or None once
        the flight is over. The caller holds the token; it is released here."""
        if self.done or self.cancelled:
            self._token.release()
            return None
        try:
            upstream = self._upstream
            if upstream is None:
                upstream = self._upstream = self._open(self.cancel)
            batch = next(upstream)
        except StopIteration:
            self._end(None)
            return None
        except Exception as error:
            self._end(error)
            return None
        except BaseException:  # Ctrl-C in the pulling thread: raise it there only
            self._end(StreamInterruptedError("the stream was interrupted while it was read"))
            raise
        self.events += batch
        if self.cancelled:
            self._close_upstream()
        self._token.release()
        if self._waiting:
            with self._lock:
                self._changed.notify_all()
        return batch[0]

    def _end(self, error: BaseException | None) -> None:
        if error is None and not self.cancelled and self._on_complete is not None:
            try:
                self._on_complete(self.events)
            except Exception:
                logger.warning("the stream cache could not store a stream", exc_info=True)
        with self._lock:
            self.done = True
            self.error = error
            self._changed.notify_all()
        self._close_upstream()
        self._token.release()
        if self._on_end is not None:
            self._on_end(self)

    def _close_upstream(self) -> None:
        upstream, self._upstream = self._upstream, None
        close = getattr(upstream, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                logger.debug("closing a cancelled upstream failed", exc_info=True)

    def _start_pump(self) -> None:
        # Called with _lock held.
        self._pumping = True
        thread = threading.Thread(
            target=self._context.run, args=(self._pump,), name="laraflowai-stream", daemon=True
        )
        thread.start()

    def _pump(self) -> None:
        while True:
            self._token.acquire()
            if self._pull() is None:  # the flight is over or cancelled
                return

    def _leave(self) -> None:
        with self._lock:
            self.readers -= 1
            if self.readers or self.done or self.cancelled:
                return
            self.cancelled = True
            self._changed.notify_all()
        # Wakes a pull blocked in another thread, which then closes the upstream.
        self.cancel.fire()
        if self._token.acquire(False):
            self._close_upstream()
            self._token.release()
        if self._on_end is not None:
            self._on_end(self)


class FlightReader:
    """One reader's cursor over a flight."""

    __slots__ = ("_flight", "_next", "_left", "_cancelled", "__weakref__")

    def __init__(self, flight: Flight) -> None:
        self._flight = flight
        self._next = 0
        self._left = False
        self._cancelled = False

    @property
    def cached(self) -> bool:
        return self._flight.cached

    def read(self, timeout: float | None = None) -> Event | None:
        """The next event; None if none came within `timeout` seconds; raises
        StopIteration at the end, or the upstream's error."""
        flight = self._flight
        events = flight.events
        index = self._next
        if index < len(events) and not self._cancelled:
            self._next = index + 1
            return events[index]
        if self._cancelled:
            raise reader_cancelled()
        if timeout is None and flight._token.acquire(False):
            # The token is ours: nobody else reads upstream until it is released.
            if index < len(events):  # recorded just before we took the token
                flight._token.release()
            else:
                pulled = flight._pull()
                if pulled is None:
                    self._finished()
                self._next = index + 1
                return pulled
        return self._wait(timeout)

    def _wait(self, timeout: float | None) -> Event | None:
        flight = self._flight
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with flight._lock:
                flight._waiting += 1
                try:
                    while True:
                        index = self._next
                        if index < len(flight.events):
                            self._next = index + 1
                            return flight.events[index]
                        if flight.done or flight.cancelled or self._cancelled:
                            self._finished()
                        remaining = None
                        if deadline is None:
                            if not flight._token.locked():
                                break
                        else:
                            # A reader with a deadline must not be the one blocked in
                            # a read: a thread reads upstream for it from now on.
                            if not flight._pumping:
                                flight._start_pump()
                            remaining = deadline - time.monotonic()
                            if remaining <= 0:
                                return None
                        flight._changed.wait(remaining)
                finally:
                    flight._waiting -= 1
            if flight._token.acquire(False):
                flight._token.release()  # free: read() takes it again and pulls
                return self.read()

    def _finished(self) -> NoReturn:
        error = self._flight.error
        if error is not None:
            raise copy_error(error)
        if self._cancelled:
            raise reader_cancelled()
        raise StopIteration

    def cancel(self) -> None:
        """Leave now, from any thread: this reader's next wait for an event
        raises StreamCancelledError; the last reader to leave fires the
        flight's Cancel, which ends a read blocked in any thread."""
        if not self._cancelled:
            self._cancelled = True
            self.close()
            flight = self._flight
            with flight._lock:
                flight._changed.notify_all()

    def close(self) -> None:
        """Leave (idempotent)."""
        flight = self._flight
        with flight._lock:
            if self._left:
                return
            self._left = True
        flight._leave()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # a finaliser must never raise
            self.close()
