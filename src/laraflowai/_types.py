"""Type aliases shared across the package."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypedDict

Role = Literal["system", "user", "assistant", "tool"]


class Message(TypedDict):
    role: Role
    content: str


ChunkCallback = Callable[[str, str], Any]
"""Called with (chunk, full_content_so_far) for every chunk handed out."""

Options = dict[str, Any]
