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
from .._exceptions import LaraFlowAIError, StreamCancelledError, StreamTimeoutError
from ..wire import ReasoningDelta, TextDelta, ToolCall, ToolCallDelta
from ._cancel import Cancel
from ._watchdog import Timer, call_at

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
        "provider", "settings", "total_at", "first_at", "waiting", "cancel", "read_limit",
        "_timers",
    )  # fmt: skip

    def __init__(self, provider: Any, settings: Settings, cancel: Cancel) -> None:
        now = time.monotonic()
        self.provider = provider
        self.settings = settings
        self.total_at = now + settings.timeout
        self.first_at = now + settings.first_chunk_timeout
        self.waiting = True  # for the first piece of the answer
        self.cancel = cancel  # the watchdog fires it at the "total" and "first_chunk" deadlines
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
            self.cancel.arm(stream.get_extra_info("socket"))
        idle = self.settings.idle_timeout
        if self.settings.timeout < idle:
            self._timers.append(call_at(self.total_at, self.cancel, "total"))
        if self.waiting and self.settings.first_chunk_timeout < idle:
            self._timers.append(call_at(self.first_at, self.cancel, "first_chunk"))

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
        self.cancel.disarm()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def cancelled(self) -> LaraFlowAIError | None:
        """The error for the reason the stream's Cancel fired with, if it fired."""
        reason = self.cancel.reason
        if reason is None:
            return None
        if reason in _VARIABLES:
            return self.error(reason)
        provider = self.provider
        return StreamCancelledError(
            f"the stream from {getattr(provider, 'label', 'the provider')} was cancelled "
            "by its reader before it ended",
            provider=getattr(provider, "name", None),
            model=getattr(provider, "model", None),
        )

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
