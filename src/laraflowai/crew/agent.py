"""An agent: a role and a goal, answering tasks with one provider's model."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2 as httpx

from .._checks import text
from .._config import Settings, get_settings
from .._exceptions import ConfigurationError
from .._types import Message
from ..providers import ChatRequest, create_provider
from ..streaming import (
    AsyncStepReader,
    AsyncStreamingResponse,
    OutputType,
    Response,
    StepReader,
    StreamingResponse,
    StreamState,
    ToolLoop,
    check_async_client,
    check_client,
    open_async_reader,
    open_reader,
)
from .conversation import Conversation, check_history
from .task import Task, image_parts

if TYPE_CHECKING:
    from ..tools import Approver, OnError, Tool, Toolbox

__all__ = ["Agent"]

DEFAULT_MAX_STEPS = 10
"""Model calls one answer may take when the agent has tools."""


def _required(name: str, value: Any, example: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"an agent needs a {name}: a non-empty string such as {example!r}")
    return text(f"the agent's {name}", value).strip()


class Agent:
    """`Agent("Content Writer", "Create engaging content", provider="openai")`.

    Extra keyword arguments (temperature, max_tokens, top_p, stop, seed, ...) go
    to the provider with every request. `http_client=httpx2.Client(...)` and
    `async_http_client=httpx2.AsyncClient(...)` send this agent's requests through
    your own clients (proxies, TLS, custom transports); they stay yours to close.

    `tools=[function, Tool(...), ...]`: functions the model may call while it
    streams; each answer takes at most `max_steps` model calls (default 10).
    A tool that raises becomes an error result the model reads
    (`on_tool_error="return"`) or ends the stream with ToolError ("raise"). A
    tool made with `requires_approval=True` runs only if `approve(call)` says
    True; without `approve` the stream pauses (finish_reason "approval") until
    `response.resume(...)`.
    """

    def __init__(
        self,
        role: str,
        goal: str,
        provider: str | None = None,
        model: str | None = None,
        *,
        backstory: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        settings: Settings | None = None,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
        tools: Iterable[Tool | Callable[..., Any]] | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        on_tool_error: OnError = "return",
        approve: Approver | None = None,
        **options: Any,
    ) -> None:
        self.role = _required("role", role, "Content Writer")
        self.goal = _required("goal", goal, "Create engaging content")
        if backstory is not None:
            text("the agent's backstory", backstory)
        self.backstory = backstory.strip() if backstory else None
        self._settings = settings
        self.provider = create_provider(
            provider, self.settings, model=model, api_key=api_key, base_url=base_url
        )
        self.http_client = check_client(http_client)
        self.async_http_client = check_async_client(async_http_client)
        self.options = options
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise ConfigurationError(
                f"max_steps must be a whole number of at least 1, got {max_steps!r}"
            )
        self.max_steps = max_steps
        self.toolbox: Toolbox | None = None
        if tools is not None or approve is not None or on_tool_error != "return":
            from ..tools import Toolbox

            self.toolbox = Toolbox(tools or (), on_error=on_tool_error, approve=approve) or None

    @property
    def settings(self) -> Settings:
        return self._settings if self._settings is not None else get_settings()

    @property
    def model(self) -> str:
        return self.provider.model

    def messages(self, task: Task, history: Iterable[Message] = ()) -> list[Message]:
        """The agent's system message, then `history`, then the task."""
        system = f"You are {self.role}. Your goal: {self.goal}."
        if self.backstory:
            system = f"{system} {self.backstory}"
        return [
            {"role": "system", "content": system},
            *history,
            {"role": "user", "content": task.content()},
        ]

    def conversation(
        self, history: Iterable[Mapping[str, Any]] | None = None, **kwargs: Any
    ) -> Conversation:
        """A Conversation with this agent: it remembers each completed answer."""
        return Conversation(self, history, **kwargs)

    def _prepare(
        self,
        task: Task | str,
        options: dict[str, Any],
        history: Iterable[Mapping[str, Any]] | None = None,
        output: OutputType | None = None,
        images: Sequence[str | Path | bytes] | None = None,
    ) -> tuple[Task, ChatRequest, StreamState, bool]:
        if isinstance(task, str):
            task = Task(task, images=images)
        elif isinstance(task, Task) and images is not None:
            task = copy.copy(task)
            task.images = task.images + image_parts(images)
        elif not isinstance(task, Task):
            raise ConfigurationError(
                f"an agent streams a Task or a string, not {type(task).__name__}"
            )
        settings = self.settings
        options = {**self.options, **options}
        # `cache` is ours, not the provider's: it never reaches the request.
        cache = options.pop("cache", settings.cache_enabled)
        if not isinstance(cache, bool):
            raise ConfigurationError(f"cache must be True or False, got {cache!r}")
        request = ChatRequest(self.messages(task, check_history(history)), options)
        if self.toolbox is not None:
            request = replace(request, tools=self.toolbox.specs)
        if output is not None:
            request = replace(request, output=output.spec)
        state = StreamState(
            agent_role=self.role,
            provider=self.provider.name,
            model=self.provider.model,
            buffer_size=settings.buffer_size,
            max_chunk_size=settings.max_chunk_size,
            streaming=settings.streaming_enabled,
            callbacks=task.callbacks,
            flush_interval=settings.flush_interval / 1000,
        )
        return task, request, state, cache and settings.cache_enabled

    def stream(
        self,
        task: Task | str,
        *,
        history: Iterable[Mapping[str, Any]] | None = None,
        output_type: Any = None,
        images: Sequence[str | Path | bytes] | None = None,
        **options: Any,
    ) -> StreamingResponse:
        """Stream the answer to `task`; the request opens on the first read.

        `history`: the conversation so far, `[{"role": "user" | "assistant" |
        "system", "content": str}, ...]`, sent between the agent's system
        message and the task. `output_type=SomeModel` asks for a JSON answer
        of that type (the provider's JSON mode): read it with `objects()` as it
        grows and `get_object()` at the end. `images=[...]` sends images with
        the task (paths, bytes, http(s) or data: URLs). `cache=False` asks the provider
        even when an identical request's answer is cached or still streaming."""
        output = None if output_type is None else OutputType(output_type)
        _, request, state, cache = self._prepare(task, options, history, output, images)
        settings, provider, client = self.settings, self.provider, self.http_client
        provider.check(request)  # refuse bad options now, not on the first read

        step = functools.partial(open_reader, provider, settings, cache, client)
        opener = self._opener(request, state, step, StepReader)
        return StreamingResponse(opener, state, settings.chunk_delay / 1000, output)

    def astream(
        self,
        task: Task | str,
        *,
        history: Iterable[Mapping[str, Any]] | None = None,
        output_type: Any = None,
        images: Sequence[str | Path | bytes] | None = None,
        **options: Any,
    ) -> AsyncStreamingResponse:
        """The async twin of stream()."""
        output = None if output_type is None else OutputType(output_type)
        _, request, state, cache = self._prepare(task, options, history, output, images)
        settings, provider, client = self.settings, self.provider, self.async_http_client
        provider.check(request)

        step = functools.partial(open_async_reader, provider, settings, cache, client)
        opener = self._opener(request, state, step, AsyncStepReader)
        return AsyncStreamingResponse(opener, state, settings.chunk_delay / 1000, output)

    def _opener(
        self,
        request: ChatRequest,
        state: StreamState,
        step: Callable[[ChatRequest, StreamState], Any],
        steps: type[StepReader | AsyncStepReader],
    ) -> Callable[[], Any]:
        """What opens the answer's reader on the first read: the request's own
        reader, or with tools a reader of every step."""
        toolbox = self.toolbox
        if toolbox is None:
            # A partial, not a closure: fewer objects per open stream for the collector.
            return functools.partial(step, request, state)
        loop = ToolLoop(request, self.max_steps)
        return lambda: steps(loop, step, toolbox, state)

    def handle(self, task: Task | str, **options: Any) -> Response:
        """The whole answer at once."""
        with self.stream(task, **options) as response:
            return response.to_response()

    async def ahandle(self, task: Task | str, **options: Any) -> Response:
        async with self.astream(task, **options) as response:
            return await response.to_response()

    def __repr__(self) -> str:
        return f"Agent(role={self.role!r}, provider={self.provider.name!r}, model={self.model!r})"
