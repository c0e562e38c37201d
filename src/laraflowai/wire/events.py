"""The typed events every provider's stream is decoded into.

They are plain frozen, slotted dataclasses: cheap to build on the hot path and
safe to hand to user code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Event",
    "Finished",
    "ProviderToolCall",
    "ProviderToolResult",
    "ReasoningDelta",
    "ReasoningSignature",
    "StreamError",
    "TextDelta",
    "ToolCall",
    "ToolCallDelta",
    "ToolResult",
    "Usage",
]


@dataclass(frozen=True, slots=True, init=False)
class TextDelta:
    """A piece of the answer text."""

    text: str

    def __init__(self, text: str) -> None:
        # What a frozen dataclass's __init__ does, through the slot itself: one
        # is made per delta, and object.__setattr__ costs a quarter more.
        _set_text(self, text)


_set_text = vars(TextDelta)["text"].__set__


@dataclass(frozen=True, slots=True, init=False)
class ReasoningDelta:
    """A piece of the model's reasoning ("thinking"), never part of the answer."""

    text: str

    def __init__(self, text: str) -> None:
        _set_reasoning(self, text)  # as TextDelta's


_set_reasoning = vars(ReasoningDelta)["text"].__set__


@dataclass(frozen=True, slots=True)
class ReasoningSignature:
    """The provider's seal on the reasoning since the last one (Anthropic's
    thinking signature, Gemini's thoughtSignature). A tool loop sends it back
    with the step's tool calls, as these providers require; it is opaque.
    `redacted`: the reasoning's text was withheld and `signature` holds it
    encrypted (Anthropic's redacted_thinking)."""

    signature: str = field(repr=False)
    redacted: bool = False


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of a tool call: the name arrives once, the arguments in pieces."""

    index: int
    id: str | None
    name: str | None
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A complete tool call, its JSON arguments parsed."""

    index: int
    id: str | None
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool the model called gave back, as the model is sent it.

    Produced by the agent's tool loop, never by a provider. `is_error` is true
    when the tool raised (or was refused): `output` then says why.
    """

    id: str | None
    name: str
    output: str
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class ProviderToolCall:
    """A tool the provider runs itself (web search, code execution, an MCP
    server's tool...): reported, never to be run by the caller.

    `name` is the provider's name for the tool (e.g. "web_search",
    "code_execution"); `arguments` its input as the provider sent it.
    """

    id: str | None
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ProviderToolResult:
    """The result of a ProviderToolCall, as the provider sent it (JSON values)."""

    id: str | None
    name: str
    result: Any
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage as the provider reported it; a later Usage replaces an earlier one."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_input_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Finished:
    """The provider said the answer is complete.

    `reason` is normalised to "stop", "length", "tool_calls", "content_filter",
    "pause" (the provider paused a long turn; asking again with the answer so
    far continues it: never final, never cached) or the provider's own word;
    `raw_reason` is what the provider sent.
    """

    reason: str | None
    raw_reason: str | None = None


@dataclass(frozen=True, slots=True)
class StreamError:
    """An error the provider reported inside an otherwise successful stream.

    `kind` is one of "rate_limit", "quota", "overloaded", "server",
    "invalid_request", "authentication", "blocked" (content withheld by a safety
    filter), "protocol" (a malformed stream), "malformed_tool_call" (reported,
    the answer goes on), "max_steps" (an agent's tool loop stopped with calls
    left unrun: a warning) or "unknown".
    """

    kind: str
    message: str
    status: int | None = None
    code: str | None = None
    body: dict[str, Any] | None = field(default=None, compare=False)


Event = (
    TextDelta
    | ReasoningDelta
    | ReasoningSignature
    | ToolCallDelta
    | ToolCall
    | ToolResult
    | ProviderToolCall
    | ProviderToolResult
    | Usage
    | Finished
    | StreamError
)
