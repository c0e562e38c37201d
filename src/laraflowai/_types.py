"""Type aliases shared across the package."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict

if TYPE_CHECKING:
    from .wire import ToolCall

Role = Literal["system", "user", "assistant", "tool"]


class TextPart(TypedDict):
    type: Literal["text"]
    text: str


class ImagePart(TypedDict):
    """An image: `url` (http(s) or a data: URL) or `data` (base64) with `media_type`."""

    type: Literal["image"]
    url: NotRequired[str]
    data: NotRequired[str]
    media_type: NotRequired[str]


ContentPart = TextPart | ImagePart


class ReasoningBlock(TypedDict):
    """A step's reasoning as the provider sealed it, sent back with its tool
    calls: `text` (empty when withheld) and the provider's opaque `signature`."""

    text: str
    signature: str
    redacted: bool


class Message(TypedDict):
    """One message of a conversation, in laraflowai's provider-neutral form.

    Each provider turns it into its own shape. `tool_calls` (assistant) are the
    calls the model made, `reasoning` the sealed reasoning that preceded them;
    a "tool" message answers one call: `tool_call_id` and `name` say which,
    `content` is the result the model reads.
    """

    role: Role
    content: str | list[ContentPart]
    tool_calls: NotRequired[list[ToolCall]]
    reasoning: NotRequired[list[ReasoningBlock]]
    tool_call_id: NotRequired[str | None]
    name: NotRequired[str]
    is_error: NotRequired[bool]


ChunkCallback = Callable[[str, str], Any]
"""Called with (chunk, full_content_so_far) for every chunk handed out."""

Options = dict[str, Any]
