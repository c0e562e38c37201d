"""laraflowai: stream the answers of AI agents token by token.

from laraflowai import FlowAI

agent = FlowAI.agent("Content Writer", "Create engaging content")
for chunk in agent.stream(FlowAI.task("Write a haiku about the sea")):
    print(chunk, end="", flush=True)
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._config import Settings
from ._exceptions import (
    AuthenticationError,
    CacheError,
    ConfigurationError,
    ContentBlockedError,
    InvalidInputError,
    InvalidRequestError,
    LaraFlowAIError,
    OutputValidationError,
    ProviderConnectionError,
    ProviderError,
    ProviderOverloadedError,
    QuotaExceededError,
    RateLimitError,
    StreamCancelledError,
    StreamInterruptedError,
    StreamTimeoutError,
    ToolError,
    UnknownStreamError,
)
from ._facade import FlowAI
from .crew import Agent, Crew, CrewEvent, CrewResult, Task, TaskResult
from .streaming import AsyncStreamingResponse, Response, StreamingResponse
from .wire import (
    Event,
    Finished,
    ProviderToolCall,
    ProviderToolResult,
    ReasoningDelta,
    StreamError,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolResult,
    Usage,
)

if _TYPE_CHECKING:  # at run time imported on first use (they need pydantic)
    from .tools import Tool, tool

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # Tools need pydantic: imported on first use, not with laraflowai.
    if name in ("Tool", "tool"):
        from . import tools

        return getattr(tools, name)
    raise AttributeError(f"module 'laraflowai' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "Tool", "tool"})


__all__ = [
    "Agent",
    "AsyncStreamingResponse",
    "AuthenticationError",
    "CacheError",
    "ConfigurationError",
    "ContentBlockedError",
    "Crew",
    "CrewEvent",
    "CrewResult",
    "Event",
    "Finished",
    "FlowAI",
    "InvalidInputError",
    "InvalidRequestError",
    "LaraFlowAIError",
    "OutputValidationError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderOverloadedError",
    "ProviderToolCall",
    "ProviderToolResult",
    "QuotaExceededError",
    "RateLimitError",
    "ReasoningDelta",
    "Response",
    "Settings",
    "StreamCancelledError",
    "StreamError",
    "StreamInterruptedError",
    "StreamTimeoutError",
    "StreamingResponse",
    "Task",
    "TaskResult",
    "TextDelta",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolError",
    "ToolResult",
    "UnknownStreamError",
    "Usage",
    "tool",
]
