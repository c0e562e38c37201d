"""The streaming core: one accumulator, a sync and an async driver."""

from .response import AsyncStreamingResponse, Response, StreamingResponse

__all__ = ["AsyncStreamingResponse", "Response", "StreamingResponse"]
