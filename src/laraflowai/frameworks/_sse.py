"""A stream's events as SSE frames, sync and async, for any framework."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from typing import Any

import orjson

from .._exceptions import ConfigurationError
from ..broadcast import crew_events, iter_crew_events, iter_response_events, response_events
from ..streaming import AsyncStreamingResponse, StreamingResponse

__all__ = ["SSE_HEADERS", "SSE_MEDIA_TYPE", "asse_frames", "sse_frames"]

SSE_MEDIA_TYPE = "text/event-stream"
# No hop-by-hop header (Connection): WSGI servers refuse them, and ASGI servers keep
# the connection open for a streamed body anyway.
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _frame(index: int, payload: dict[str, Any]) -> bytes:
    return b"id: %d\ndata: %s\n\n" % (index, orjson.dumps(payload))


def sse_frames(source: StreamingResponse | Generator[Any, None, None]) -> Iterator[bytes]:
    """SSE frames of `agent.stream(...)` or `crew.stream()`; closing them closes the stream."""
    if isinstance(source, StreamingResponse):
        events = iter_response_events(source)
    elif isinstance(source, Generator):
        events = iter_crew_events(source)
    else:
        raise ConfigurationError(
            "sse_frames() streams agent.stream(...) or crew.stream(), "
            f"not {type(source).__name__} (for astream() use asse_frames())"
        )
    try:
        for index, payload in enumerate(events):
            yield _frame(index, payload)
    finally:
        events.close()  # type: ignore[attr-defined]


async def asse_frames(
    source: AsyncStreamingResponse | AsyncGenerator[Any, None],
) -> AsyncIterator[bytes]:
    """SSE frames of `agent.astream(...)` or `crew.astream()`; cancelling or closing
    them (a client that left) closes the provider request."""
    if isinstance(source, AsyncStreamingResponse):
        events: AsyncIterator[dict[str, Any]] = response_events(source)
    elif isinstance(source, AsyncGenerator):
        events = crew_events(source)
    else:
        raise ConfigurationError(
            "asse_frames() streams agent.astream(...) or crew.astream(), "
            f"not {type(source).__name__} (for stream() use sse_frames())"
        )
    try:
        index = 0
        async for payload in events:
            yield _frame(index, payload)
            index += 1
    finally:
        await events.aclose()  # type: ignore[attr-defined]
