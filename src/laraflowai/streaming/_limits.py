"""The three time limits of a stream, and the error each one raises.

- total (LARAFLOWAI_STREAMING_TIMEOUT): the whole stream, retries included;
- first_chunk (LARAFLOWAI_STREAMING_FIRST_CHUNK_TIMEOUT): until the first
  piece of the answer (text, reasoning or a tool call) arrives;
- idle (LARAFLOWAI_STREAMING_IDLE_TIMEOUT): silence between two reads, which is
  httpx's read timeout, so keep-alive comments count as activity.

While the response head is awaited, httpx's read timeout is the nearest of the
three. Once it is in, the read timeout is the idle limit and the other two are
checked as data arrives; when one of them is nearer than the idle limit, a
silent stream is ended on time by the watchdog (sync) or by `asyncio.timeout`
around each read (async).
"""

from __future__ import annotations

import time
from typing import Any

from .._config import Settings
from .._exceptions import StreamTimeoutError
from ..wire import ReasoningDelta, TextDelta, ToolCall, ToolCallDelta
from ._watchdog import Abort, Timer, call_at

__all__ = ["CONTENT", "Limits"]

CONTENT = frozenset({TextDelta, ReasoningDelta, ToolCallDelta, ToolCall})

_VARIABLES = {
    "total": "LARAFLOWAI_STREAMING_TIMEOUT",
    "first_chunk": "LARAFLOWAI_STREAMING_FIRST_CHUNK_TIMEOUT",
    "idle": "LARAFLOWAI_STREAMING_IDLE_TIMEOUT",
}


class Limits:
    """The deadlines of one request, shared by its attempts."""

    __slots__ = (
        "provider", "settings", "total_at", "first_at", "waiting", "abort", "read_limit", "_timers",
    )  # fmt: skip

    def __init__(self, provider: Any, settings: Settings, abort: Abort | None = None) -> None:
        now = time.monotonic()
        self.provider = provider
        self.settings = settings
        self.total_at = now + settings.timeout
        self.first_at = now + settings.first_chunk_timeout
        self.waiting = True  # for the first piece of the answer
        self.abort = abort if abort is not None else Abort()
        self.read_limit = "idle"  # which limit httpx's read timeout stands for now
        self._timers: list[Timer] = []

    def seconds(self, limit: str) -> float:
        settings = self.settings
        if limit == "total":
            return settings.timeout
        if limit == "first_chunk":
            return settings.first_chunk_timeout
        return settings.idle_timeout

    def head_read_timeout(self) -> float:
        """httpx's read timeout until the response head is in: the nearest limit."""
        now = time.monotonic()
        label, seconds = "idle", self.settings.idle_timeout
        if self.total_at - now < seconds:
            label, seconds = "total", self.total_at - now
        if self.waiting and self.first_at - now < seconds:
            label, seconds = "first_chunk", self.first_at - now
        self.read_limit = label
        return max(seconds, 0.001)

    def body_started(self, response: Any, *, watchdog: bool) -> None:
        """The head is in: from now on httpx's read timeout is the idle limit."""
        # httpcore reads the read timeout from this dict when the body's first
        # read starts, so changing it here applies to the body only.
        timeouts = response.request.extensions.get("timeout")
        if isinstance(timeouts, dict):
            timeouts["read"] = self.settings.idle_timeout
        self.read_limit = "idle"
        if not watchdog:
            return
        stream = response.extensions.get("network_stream")
        if stream is not None:
            self.abort.arm(stream.get_extra_info("socket"))
        idle = self.settings.idle_timeout
        if self.settings.timeout < idle:
            self._timers.append(call_at(self.total_at, self.abort, "total"))
        if self.waiting and self.settings.first_chunk_timeout < idle:
            self._timers.append(call_at(self.first_at, self.abort, "first_chunk"))

    def check(self, now: float | None = None) -> None:
        """Raise the timeout error if the whole-stream or first-chunk limit passed."""
        if now is None:
            now = time.monotonic()
        if now > self.total_at:
            raise self.error("total")
        if self.waiting and now > self.first_at:
            raise self.error("first_chunk")

    def content_arrived(self) -> None:
        self.waiting = False
        for timer in self._timers:
            if timer.reason == "first_chunk":
                timer.cancel()

    def nearest(self) -> tuple[str, float]:
        """The limit that ends this stream first, and its deadline (async reads)."""
        if self.waiting and self.first_at < self.total_at:
            return "first_chunk", self.first_at
        return "total", self.total_at

    def body_ended(self) -> None:
        self.abort.disarm()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def error(self, limit: str) -> StreamTimeoutError:
        provider = self.provider
        seconds = self.seconds(limit)
        variable = _VARIABLES[limit]
        label = getattr(provider, "label", "the provider")
        if limit == "total":
            message = (
                f"the stream from {label} took longer than the {seconds:g} s limit ({variable})"
            )
        elif limit == "first_chunk":
            message = (
                f"{label} sent no part of the answer within {seconds:g} s ({variable}); "
                "the stream was ended"
            )
        else:
            message = f"{label} sent nothing for {seconds:g} s ({variable}); the stream was ended"
        return StreamTimeoutError(
            message,
            limit=limit,
            seconds=seconds,
            provider=getattr(provider, "name", None),
            model=getattr(provider, "model", None),
        )
