"""In-flight sharing: one upstream event stream, read once, for many readers.

Goals. Identical requests made while the first is still streaming share its
upstream; every reader gets every event from the start, at its own pace; a
reader that leaves does not disturb the others; when the last one leaves, the
upstream is cancelled (its connection closed).

Plan. A flight records every upstream event in a list; each reader is a cursor
into it. Events already recorded are read without a lock (list reads are atomic
under the GIL).

- Sync (`Flight`): whichever reader needs an event nobody has yet takes the
  pull token (a lock acquired without blocking) and reads the next batch (the
  events of one piece of data) itself, while the others wait on a condition; a
  lone reader thus pays two uncontended lock calls per batch. A reader that
  must not wait longer than some time (the buffer's flush interval) cannot be
  the one blocked in a read, so its first timed wait starts a pump thread that
  pulls from then on. A reader closes
  from its own thread, or cancels from any thread; a pull blocked in a read
  when the last reader leaves is woken by the flight's `Cancel` (which shuts
  the socket down).
- Async (`AsyncFlight`): a lone reader pulls in its own task. Once shared, a
  producer task pulls, so that one reader's cancellation (a client that went
  away) never lands inside the shared upstream; readers wait on their own
  futures. The last reader to leave fires the flight's `Cancel`, bound to the
  task: the task is cancelled and closes the connection.

Sync readers share with sync readers of the same process; async readers with
async readers on the same event loop.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from ._aflight import AsyncFlight, AsyncFlightReader, DirectAsyncReader, aiter_list
from ._flight import Flight, FlightReader

__all__ = [
    "AsyncFlight",
    "AsyncFlightReader",
    "DirectAsyncReader",
    "Flight",
    "FlightReader",
    "Registry",
    "aiter_list",
    "loop_registry",
]

_F = TypeVar("_F", Flight, AsyncFlight)


class Registry(Generic[_F]):
    """The flights in progress, by request key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[Any, _F] = {}

    def join_or_start(
        self, key: Any, start: Callable[[], _F]
    ) -> tuple[FlightReader | AsyncFlightReader, bool]:
        """A reader of the flight in progress for `key` (and True), or of a new
        one made by `start()` (and False)."""
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None:
                reader = flight.join()
                if reader is not None:
                    return reader, True
            flight = self._flights[key] = start()
            reader = flight.join()
            assert reader is not None
            return reader, False

    def discard(self, key: Any, flight: _F) -> None:
        with self._lock:
            if self._flights.get(key) is flight:
                del self._flights[key]


_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Registry[AsyncFlight]] = (
    weakref.WeakKeyDictionary()
)


def loop_registry() -> Registry[AsyncFlight]:
    """The async flights of the running event loop."""
    loop = asyncio.get_running_loop()
    registry = _loops.get(loop)
    if registry is None:
        registry = _loops[loop] = Registry()
    return registry
