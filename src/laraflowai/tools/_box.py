"""The tools an agent has, and running the calls of one step.

The calls of a step are independent: several run at once (threads for the sync
stream, tasks for the async one); their results come back in the order the
model made the calls. A tool that raises, an unknown tool or arguments that do
not fit become an error result the model reads (`on_error="return"`, the
default), or end the stream with ToolError (`on_error="raise"`).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal

import pydantic

from .._exceptions import ConfigurationError, StreamCancelledError, ToolError
from .._secrets import redact
from ..providers import ToolSpec
from ..wire import ToolCall, ToolResult
from ._tool import Tool

__all__ = ["Approver", "OnError", "Toolbox"]

Approver = Callable[[ToolCall], "bool | Awaitable[bool]"]
"""Decides whether a call of a tool that requires approval may run."""

OnError = Literal["return", "raise"]

# An error result is for the model to read: long tracebacks only cost tokens.
_MAX_ERROR = 2000
_MAX_THREADS = 8
DENIED = "the user did not approve this call; do not call it again unless asked to"


class Toolbox:
    """The tools an agent may call, by name."""

    __slots__ = ("tools", "specs", "on_error", "approve")

    def __init__(
        self,
        tools: Iterable[Tool | Callable[..., Any]],
        *,
        on_error: OnError = "return",
        approve: Approver | None = None,
    ) -> None:
        if isinstance(tools, str | bytes) or not isinstance(tools, Iterable):
            raise ConfigurationError(
                f"tools must be a list of functions or Tools, not {type(tools).__name__}"
            )
        if on_error not in ("return", "raise"):
            raise ConfigurationError(
                f"on_tool_error must be 'return' (the model reads the error) or 'raise' "
                f"(the stream ends with ToolError), got {on_error!r}"
            )
        if approve is not None and not callable(approve):
            raise ConfigurationError(
                f"approve must be a function of a ToolCall returning True or False, "
                f"not {type(approve).__name__}"
            )
        self.tools: dict[str, Tool] = {}
        for item in tools:
            made = item if isinstance(item, Tool) else Tool(item)
            if made.name in self.tools:
                raise ConfigurationError(
                    f"two tools are named {made.name!r}: give one another name with "
                    "Tool(function, name=...)"
                )
            self.tools[made.name] = made
        self.specs: tuple[ToolSpec, ...] = tuple(t.spec for t in self.tools.values())
        self.on_error: OnError = on_error
        self.approve = approve

    def __bool__(self) -> bool:
        return bool(self.tools)

    def awaiting_approval(self, calls: Sequence[ToolCall]) -> list[ToolCall]:
        """The calls that must wait for a decision nobody can make now (no
        `approve` callback): the run pauses before any call of the step runs."""
        if self.approve is not None:
            return []
        return [c for c in calls if (t := self.tools.get(c.name)) and t.requires_approval]

    # --- sync ----------------------------------------------------------------------------------

    def run(
        self,
        calls: Sequence[ToolCall],
        cancelled: threading.Event,
        decisions: dict[str | None, bool] | None = None,
    ) -> list[ToolResult]:
        """Run `calls` (several at once in threads); StreamCancelledError when
        `cancelled` is set before they are done (they finish in the background)."""
        if len(calls) == 1:
            return [self._call(calls[0], decisions)]
        wake = threading.Event()
        pool = ThreadPoolExecutor(min(len(calls), _MAX_THREADS), "laraflowai-tool")
        try:
            futures: list[Future[ToolResult]] = []
            for call in calls:
                future = pool.submit(self._call, call, decisions)
                future.add_done_callback(lambda _: wake.set())
                futures.append(future)
            while not all(f.done() for f in futures):
                if cancelled.is_set():
                    raise StreamCancelledError("the stream was cancelled while its tools ran")
                wake.wait(0.5)
                wake.clear()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return [f.result() for f in futures]

    def _call(self, call: ToolCall, decisions: dict[str | None, bool] | None) -> ToolResult:
        found = self._find(call)
        if isinstance(found, Tool) and found.requires_approval:
            answer: Any = _decided(call, decisions)
            if answer is None and self.approve is not None:
                answer = self.approve(call)
                if inspect.isawaitable(answer):
                    answer = asyncio.run(_awaited(answer))
            if not _decision(answer):
                return ToolResult(call.id, call.name, DENIED, is_error=True)
        ready = self._ready(found, call)
        if isinstance(ready, ToolResult):
            return ready
        function, arguments, is_async = ready
        try:
            value = asyncio.run(function(**arguments)) if is_async else function(**arguments)
        except Exception as exc:
            return self._failed(call, exc)
        return ToolResult(call.id, call.name, Tool.output(value))

    # --- async ---------------------------------------------------------------------------------

    async def arun(
        self, calls: Sequence[ToolCall], decisions: dict[str | None, bool] | None = None
    ) -> list[ToolResult]:
        """Run `calls` concurrently as tasks (sync tools in threads)."""
        if len(calls) == 1:
            return [await self._acall(calls[0], decisions)]
        return list(await asyncio.gather(*(self._acall(c, decisions) for c in calls)))

    async def _acall(self, call: ToolCall, decisions: dict[str | None, bool] | None) -> ToolResult:
        found = self._find(call)
        if isinstance(found, Tool) and found.requires_approval:
            answer: Any = _decided(call, decisions)
            if answer is None and self.approve is not None:
                answer = self.approve(call)
                if inspect.isawaitable(answer):
                    answer = await answer
            if not _decision(answer):
                return ToolResult(call.id, call.name, DENIED, is_error=True)
        ready = self._ready(found, call)
        if isinstance(ready, ToolResult):
            return ready
        function, arguments, is_async = ready
        try:
            if is_async:
                value = await function(**arguments)
            else:
                value = await asyncio.to_thread(function, **arguments)
        except Exception as exc:
            return self._failed(call, exc)
        return ToolResult(call.id, call.name, Tool.output(value))

    # --- shared --------------------------------------------------------------------------------

    def _find(self, call: ToolCall) -> Tool | ToolResult:
        found = self.tools.get(call.name)
        if found is not None:
            return found
        names = ", ".join(self.tools) or "none"
        message = f"there is no tool named {call.name!r}; the tools are: {names}"
        if self.on_error == "raise":
            raise ToolError(f"the model called {message}", tool=call.name)
        return ToolResult(call.id, call.name, message, is_error=True)

    def _ready(
        self, found: Tool | ToolResult, call: ToolCall
    ) -> ToolResult | tuple[Callable[..., Any], dict[str, Any], bool]:
        """The function and its checked arguments, or the result that replaces the call."""
        if isinstance(found, ToolResult):
            return found
        try:
            return found.function, found.arguments(call.arguments), found.is_async
        except pydantic.ValidationError as exc:
            return self._invalid(call, exc)

    def _invalid(self, call: ToolCall, exc: pydantic.ValidationError) -> ToolResult:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()
        )
        message = redact(f"invalid arguments for {call.name}: {problems}", _MAX_ERROR)
        if self.on_error == "raise":
            raise ToolError(f"the model called {message}", tool=call.name) from None
        return ToolResult(call.id, call.name, message, is_error=True)

    def _failed(self, call: ToolCall, exc: Exception) -> ToolResult:
        message = redact(f"{call.name} failed: {type(exc).__name__}: {exc}", _MAX_ERROR)
        if self.on_error == "raise":
            error = ToolError(f"the tool {message}", tool=call.name)
            raise error from exc
        return ToolResult(call.id, call.name, message, is_error=True)


async def _awaited(answer: Awaitable[Any]) -> Any:
    return await answer


def _decided(call: ToolCall, decisions: dict[str | None, bool] | None) -> bool | None:
    """The decision given with resume(), if any."""
    if decisions is not None and call.id in decisions:
        return decisions[call.id]
    return None


def _decision(answer: Any) -> bool:
    if answer is None:  # nobody can decide now: not approved
        return False
    if not isinstance(answer, bool):
        raise ConfigurationError(
            f"the approve callback must return True or False, got {type(answer).__name__}"
        )
    return answer
