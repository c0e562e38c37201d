"""A task: what to do, optionally for which agent and with what context."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .._checks import text
from .._exceptions import ConfigurationError
from .._types import ChunkCallback, ContentPart, ImagePart

if TYPE_CHECKING:
    from .agent import Agent

__all__ = ["Task", "image_parts"]


class Task:
    """`Task("Write a blog post about Laravel")`; `.stream(callback)` makes every
    agent that streams this task call `callback(chunk, full_content)`.

    `images=["photo.png", b"...", "https://..."]` sends images with the task
    (paths, bytes, http(s) or data: URLs) to the providers that accept them."""

    def __init__(
        self,
        description: str,
        agent: Agent | None = None,
        context: str | Sequence[str] | None = None,
        *,
        images: Sequence[str | Path | bytes] | None = None,
    ) -> None:
        if not isinstance(description, str) or not description.strip():
            raise ConfigurationError(
                "a task needs a description: a non-empty string saying what to do, "
                "e.g. FlowAI.task('Write a blog post about Laravel')"
            )
        text("the task", description)
        if isinstance(context, str):
            text("the task's context", context)
        elif context is not None:
            if not isinstance(context, Sequence) or not all(isinstance(i, str) for i in context):
                raise ConfigurationError(
                    "a task's context must be a string or a list of strings, "
                    f"got {type(context).__name__}"
                )
            context = [text(f"the task's context[{n}]", item) for n, item in enumerate(context)]
        self.description = description.strip()
        self.images: list[ImagePart] = image_parts(images)
        self.agent = agent
        self.context: str | list[str] | None = context
        self.callbacks: list[ChunkCallback] = []

    def stream(self, callback: ChunkCallback) -> Task:
        """Call `callback(chunk, full_content)` for each chunk whenever this task
        is streamed (fluent)."""
        if not callable(callback):
            raise ConfigurationError(f"Task.stream needs a callable, got {type(callback).__name__}")
        self.callbacks.append(callback)
        return self

    def get_description(self) -> str:
        return self.description

    def prompt(self) -> str:
        """The user message sent for this task."""
        context = self.context
        if not context:
            return self.description
        if isinstance(context, list):
            context = "\n\n".join(context)
        return f"{self.description}\n\nContext:\n{context}"

    def content(self) -> str | list[ContentPart]:
        """The user message's content: the prompt, and the images if any."""
        prompt = self.prompt()
        if not self.images:
            return prompt
        return [{"type": "text", "text": prompt}, *self.images]

    def __repr__(self) -> str:
        return f"Task({self.description[:60]!r})"


def image_parts(images: Sequence[str | Path | bytes] | None) -> list[ImagePart]:
    if images is None:
        return []
    if isinstance(images, str | bytes | Path) or not isinstance(images, Sequence):
        raise ConfigurationError(
            "images must be a list of images (paths, bytes, http(s) or data: URLs), "
            f"not {type(images).__name__}: wrap a single one in [...]"
        )
    from ..providers import image_part

    return [image_part(image) for image in images]
