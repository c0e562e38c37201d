"""Conversations: an agent answering with the turns that came before.

    conv = agent.conversation()            # or Conversation(agent, max_turns=10)
    print(conv.stream("My name is Ada.").get_content())
    print(conv.stream("What is my name?").get_content())   # sent with the first turn

The history is plain messages, `{"role": "user" | "assistant" | "system",
"content": str}`, the shape `agent.stream(task, history=[...])` takes too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .._checks import text
from .._exceptions import ConfigurationError
from .._types import Message
from ..providers import check_content
from ..streaming.response import AsyncStreamingResponse, StreamingResponse
from .task import Task

if TYPE_CHECKING:
    from .agent import Agent

__all__ = ["DEFAULT_MAX_TURNS", "Conversation", "check_history"]

DEFAULT_MAX_TURNS = 20
"""Turns (a question and its answer) a Conversation keeps unless told otherwise."""

_ROLES = ("user", "assistant", "system")
_KEYS = frozenset({"role", "content"})
_MAX_PENDING = 16


def check_history(history: Iterable[Mapping[str, Any]] | None) -> list[Message]:
    """A copy of `history` as messages, or ConfigurationError naming the first bad item."""
    if history is None:
        return []
    if isinstance(history, str | bytes | Mapping) or not isinstance(history, Iterable):
        raise ConfigurationError(
            "history must be a list of messages such as "
            "[{'role': 'user', 'content': 'Hi'}, {'role': 'assistant', 'content': 'Hello!'}], "
            f"not {type(history).__name__}"
        )
    messages: list[Message] = []
    for index, item in enumerate(history):
        where = f"history[{index}]"
        if not isinstance(item, Mapping):
            raise ConfigurationError(
                f"{where} must be a message {{'role': ..., 'content': ...}}, "
                f"not {type(item).__name__}"
            )
        unknown = sorted(set(item) - _KEYS, key=str)
        if unknown:
            raise ConfigurationError(
                f"{where} has unknown key(s) {', '.join(map(repr, unknown))}; "
                "a message has only 'role' and 'content'"
            )
        role, content = item.get("role"), item.get("content")
        if role not in _ROLES:
            raise ConfigurationError(
                f"{where} has role {role!r}; the role must be one of {', '.join(_ROLES)}"
            )
        if isinstance(content, str):
            messages.append({"role": role, "content": text(f"{where} content", content)})
        elif isinstance(content, list) and role == "user":
            # Text and image parts: {"type": "text", "text": ...}, {"type": "image", ...}.
            messages.append({"role": role, "content": check_content(f"{where} content", content)})
        else:
            raise ConfigurationError(
                f"{where} content must be a string (or, for a user message, a list of "
                f"text and image parts), not {type(content).__name__}"
            )
    return messages


class Conversation:
    """An agent and the turns so far. Each `stream()`/`astream()` sends the
    history before the new task; once its answer has completed, the question
    and the answer join the history. An answer that failed or was closed early
    is forgotten along with its question.

    At most `max_turns` turns are kept (default `DEFAULT_MAX_TURNS`, 20): the
    oldest are dropped first; system messages given in `history` always stay.
    """

    def __init__(
        self,
        agent: Agent,
        history: Iterable[Mapping[str, Any]] | None = None,
        *,
        max_turns: int = DEFAULT_MAX_TURNS,
    ) -> None:
        if not isinstance(max_turns, int) or isinstance(max_turns, bool) or max_turns < 0:
            raise ConfigurationError(f"max_turns must be a whole number >= 0, got {max_turns!r}")
        self.agent = agent
        self.max_turns = max_turns
        self._messages = check_history(history)
        self._pending: list[tuple[Message, StreamingResponse | AsyncStreamingResponse]] = []
        self._trim()

    @property
    def messages(self) -> list[Message]:
        """The history the next task is sent with (a copy)."""
        self._settle()
        return [dict(message) for message in self._messages]  # type: ignore[misc]

    def stream(self, task: Task | str, **options: Any) -> StreamingResponse:
        """`agent.stream(task, history=...)`, remembered once the answer completes."""
        question = self._question(task)
        response = self.agent.stream(task, history=self.messages, **options)
        self._pending.append((question, response))
        return response

    def astream(self, task: Task | str, **options: Any) -> AsyncStreamingResponse:
        """The async twin of stream()."""
        question = self._question(task)
        response = self.agent.astream(task, history=self.messages, **options)
        self._pending.append((question, response))
        return response

    def clear(self) -> None:
        """Forget every turn, keeping the system messages."""
        self._settle()
        self._messages = [m for m in self._messages if m["role"] == "system"]

    def _question(self, task: Task | str) -> Message:
        task = task if isinstance(task, Task) else Task(task)
        return {"role": "user", "content": task.content()}

    def _settle(self) -> None:
        """Move finished answers into the history; drop failed or abandoned ones."""
        kept = []
        for question, response in self._pending:
            if response.is_complete():
                self._messages.append(question)
                self._messages.append({"role": "assistant", "content": response.partial_content})
            elif response.get_stats()["error"] is None:
                kept.append((question, response))
        # A response closed early never completes: forget the oldest beyond a few.
        self._pending = kept[-_MAX_PENDING:]
        self._trim()

    def _trim(self) -> None:
        turns = sum(1 for m in self._messages if m["role"] == "user")
        if turns <= self.max_turns:
            return
        kept: list[Message] = []
        drop = turns - self.max_turns
        dropping = False
        for message in self._messages:
            role = message["role"]
            if role == "user":
                dropping = drop > 0
                drop -= 1
            if role == "system" or not dropping:
                kept.append(message)
        self._messages = kept

    def __len__(self) -> int:
        """Turns remembered."""
        return sum(1 for m in self.messages if m["role"] == "user")

    def __repr__(self) -> str:
        return f"Conversation({self.agent!r}, turns={len(self)}, max_turns={self.max_turns})"
