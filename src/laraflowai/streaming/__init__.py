"""The streaming core: one accumulator, a sync and an async driver, and the
reader between them and the provider (cache, in-flight sharing, retries, time
limits, cancelling, all HTTP I/O)."""

from ._http import (
    aclose_clients,
    check_async_client,
    check_client,
    close_clients,
    set_async_http_client,
    set_http_client,
)
from ._objects import OutputType
from ._reader import open_async_reader, open_reader
from ._state import StreamState, StreamStats
from ._steps import AsyncStepReader, Paused, StepReader, ToolLoop, ToolRunner
from .response import AsyncStreamingResponse, Response, StreamingResponse, caught_up

__all__ = [
    "AsyncStepReader",
    "AsyncStreamingResponse",
    "OutputType",
    "Paused",
    "StepReader",
    "ToolLoop",
    "ToolRunner",
    "Response",
    "StreamState",
    "StreamStats",
    "StreamingResponse",
    "aclose_clients",
    "check_async_client",
    "caught_up",
    "check_client",
    "close_clients",
    "open_async_reader",
    "open_reader",
    "set_async_http_client",
    "set_http_client",
]
