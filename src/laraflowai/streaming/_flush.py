"""forward()'s flush timer: text the chunker holds back goes out once it has
waited `flush_interval`, even while forward() is waiting for the provider.

Made the first time text is held back, so a stream whose deltas go out as they
come (buffer size 1, the default) carries none: no closure, no cells, nothing
more for the cycle collector to walk per open stream.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

from ._state import StreamState

__all__ = ["FlushTimer"]


class FlushTimer:
    """Owns forward()'s `room` (characters left under `max_chars`, None for no
    limit) once it exists, since both send chunks; forward() reads it back after
    each wait. `stop` is what ended the reading in the timer, if anything did."""

    __slots__ = ("_state", "_on_chunk", "_cancel", "_after", "handle", "room", "stop")

    def __init__(
        self,
        state: StreamState,
        on_chunk: Callable[[str], object],
        cancel: Callable[[], None],
        after: float,
        room: int | None,
    ) -> None:
        self._state = state
        self._on_chunk = on_chunk
        self._cancel = cancel  # ends the read in progress
        self._after = after
        self.handle: asyncio.TimerHandle | None = None  # None: not armed
        self.room = room
        self.stop: BaseException | None = None

    def arm(self, since: float) -> None:
        """Text held back since `since` (time.monotonic()) goes out when due;
        only when not armed (forward() looks at `handle` itself: no call per delta)."""
        wait = since + self._after - time.monotonic()
        self.handle = asyncio.get_running_loop().call_later(wait, self._due)

    def close(self) -> None:
        # The handle holds this timer through its callback: dropped, not left in a cycle.
        handle, self.handle = self.handle, None
        if handle is not None:
            handle.cancel()

    def outcome(self) -> bool:
        """forward()'s end once `stop` is set: True for `max_chars` reached, or
        what `on_chunk` raised, raised."""
        stop = self.stop
        if stop is _CUT:
            return True
        assert stop is not None
        raise stop

    def _due(self) -> None:
        self.handle = None
        chunker = self._state.chunker
        since = chunker.pending_since
        if since is None or self.stop is not None:
            return
        if since + self._after > time.monotonic():  # newer text than the timer was set for
            self.arm(since)
            return
        on_chunk, hand_out, room = self._on_chunk, self._state.hand_out, self.room
        try:
            for chunk in chunker.flush():
                hand_out(chunk)
                if room is not None:
                    if len(chunk) >= room:
                        if room:
                            _run_behind(on_chunk(chunk[:room]))
                        self.stop = _CUT
                        break
                    room -= len(chunk)
                _run_behind(on_chunk(chunk))
        except Exception as error:
            self.stop = error
        if self.stop is None:
            self.room = room
        else:
            self.room = 0  # the next chunk forward() gets ends the reading
            self._cancel()


def _run_behind(behind: object) -> None:
    # The timer cannot wait: an awaitable runs on its own (the read in progress
    # is not held up; the next chunk's wait is).
    if behind is not None and inspect.isawaitable(behind):
        running = asyncio.ensure_future(behind)
        _RUNNING_BEHIND.add(running)  # held until done: the loop keeps tasks weakly
        running.add_done_callback(_RUNNING_BEHIND.discard)


_RUNNING_BEHIND: set[asyncio.Future[Any]] = set()


class _Cut(Exception):
    """The timer reached `max_chars`."""


_CUT = _Cut()
