"""What the protocol routes share: reading a chat request's body, splitting a
conversation into history and task, choosing the agent or crew a request's
`model` names, and driving an encoder over an agent's typed events.

An encoder is sans-I/O: `start()`, `feed(event)`, `fail(error)` and `end()`
each return the bytes to send (maybe none); an encoder may also have
`task(index, name)`, called as each task of a crew begins. `encode_answer` and
`encode_crew` are the only loops.

A crew answers a chat this way: every task gets the user's request (and the
conversation before it) as context; the last task's text is the answer, the
earlier tasks' text streams as reasoning (their progress, shown apart from
the answer), and each task begins a step where the protocol has steps.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Mapping, Sequence
from typing import Any, ClassVar, Protocol, TypeVar

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._exceptions import ConfigurationError
from .._secrets import redact
from .._types import Message
from ..broadcast import public_error
from ..crew import Agent, Crew, Task
from ..crew.conversation import check_history
from ..crew.events import CrewEvent
from ..streaming.response import AsyncStreamingResponse
from ..wire import Event, Finished, ReasoningDelta, TextDelta
from ._requests import BadInput, ChatConfig, build_agent, chat_task
from ._settings import WebSettings

__all__ = [
    "MAX_BODY",
    "MAX_MESSAGES",
    "Encoder",
    "crew_for",
    "encode_answer",
    "encode_crew",
    "read_json",
    "split_conversation",
    "start_answer",
    "unless_disconnected",
]

MAX_BODY = 4 * 1024 * 1024  # bytes of a request body
MAX_MESSAGES = 500

logger = logging.getLogger("laraflowai.web")
T = TypeVar("T")


class Encoder(Protocol):
    def start(self) -> bytes: ...
    def feed(self, event: Event) -> bytes: ...
    def fail(self, error: Mapping[str, Any]) -> bytes: ...
    def end(self) -> bytes: ...


async def read_json(request: Request) -> Any:
    """The request's JSON body, at most MAX_BODY bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise BadInput(f"the request body is over {MAX_BODY} bytes", "body")
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > MAX_BODY:
            raise BadInput(f"the request body is over {MAX_BODY} bytes", "body")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadInput(f"the request body is not valid JSON ({error})", "body") from None


def split_conversation(
    messages: Sequence[Message], web: WebSettings, where: str = "messages"
) -> tuple[list[Message], str]:
    """The history and the task: the last message must be the user's."""
    if not messages:
        raise BadInput(f"{where} must hold at least one user message", where)
    if len(messages) > MAX_MESSAGES:
        raise BadInput(f"{where} holds over {MAX_MESSAGES} messages", where)
    *earlier, last = messages
    if last["role"] != "user":
        raise BadInput(
            f"the last of {where} must be the user's (role 'user'), not {last['role']!r}", where
        )
    task = chat_task(last["content"], web, f"{where}[{len(earlier)}].content")
    try:
        history = check_history(earlier)
    except ConfigurationError as error:
        raise BadInput(error.message.replace("history", where), where) from None
    return history, task


def start_answer(
    agent: Agent, task: Task | str, history: list[Message], **options: Any
) -> AsyncStreamingResponse:
    """`agent.astream(...)`, with a setup the provider refuses reported as bad input."""
    try:
        return agent.astream(task, history=history, **options)
    except ConfigurationError as error:
        raise BadInput(error.message) from None


def log_failure(error: BaseException, agent: Agent) -> dict[str, Any]:
    """Log the whole error (secrets masked) and return the safe one to send."""
    logger.warning(
        "%s/%s: the stream failed: %s", agent.provider.name, agent.model, redact(str(error))
    )
    return public_error(error)


async def encode_answer(
    agent: Agent, response: AsyncStreamingResponse, encoder: Encoder
) -> AsyncIterator[bytes]:
    """The encoded answer, frame by frame. Closing this generator (a client
    that left) closes the response and with it the provider connection."""
    yield encoder.start()
    try:
        async with response:
            async for event in response.events():
                frame = encoder.feed(event)
                if frame:
                    yield frame
    except Exception as error:  # every failure ends the stream with the protocol's error
        yield encoder.fail(log_failure(error, agent))
        return
    yield encoder.end()


def crew_for(template: Crew, history: Sequence[Message], question: str) -> Crew:
    """A run of `template` answering `question`: the same agents and mode, each
    task with the request (and the conversation before it) as context."""
    context = [f"The user's request: {question}"]
    if history:
        said = "\n".join(f"{m['role']}: {m['content']}" for m in history)
        context.insert(0, f"The conversation so far:\n{said}")
    tasks = []
    for task in template.tasks:
        own = task.context
        tasks.append(
            Task(
                task.description,
                agent=task.agent,
                context=[*context, *([own] if isinstance(own, str) else own or ())],
            )
        )
    return Crew(
        template.agents,
        tasks,
        execution_mode=template.execution_mode,
        max_parallel_tasks=template.max_parallel_tasks,
    )


def start_crew(crew: Crew) -> AsyncGenerator[CrewEvent, None]:
    """`crew.astream()`, with a setup an agent refuses reported as bad input."""
    try:
        return crew.astream()
    except ConfigurationError as error:
        raise BadInput(error.message) from None


async def encode_crew(
    crew: Crew, events: AsyncGenerator[CrewEvent, None], encoder: Encoder
) -> AsyncIterator[bytes]:
    """A crew's run, encoded frame by frame (see the module's docstring).
    Closing this generator closes every provider connection of the crew."""
    last = len(crew.tasks) - 1
    begin = getattr(encoder, "task", None)
    begun: set[int] = set()
    yield encoder.start()
    try:
        async for event in events:
            kind = event.kind
            index = event.task_index
            if begin is not None and index not in begun and kind in _TASK_EVENTS:
                begun.add(index)
                yield begin(index, f"{event.agent.role}: {event.task.description[:100]}")
            typed: Event | None = None
            if kind == "chunk" and event.chunk:
                typed = TextDelta(event.chunk) if index == last else ReasoningDelta(event.chunk)
            elif kind in ("reasoning", "tool_call") and index == last:
                typed = event.event
            elif kind in ("task_error", "crew_error"):
                failure = event.error or (event.result.error if event.result else None)
                raise failure or RuntimeError("the crew failed")
            elif kind == "crew_complete" and event.result is not None:
                if event.result.usage is not None:
                    yield encoder.feed(event.result.usage)
                typed = Finished("stop")
            if typed is not None:
                frame = encoder.feed(typed)
                if frame:
                    yield frame
    except Exception as error:
        logger.warning("crew of %s: the stream failed: %s", _roles(crew), redact(str(error)))
        yield encoder.fail(public_error(error))
        return
    finally:
        await events.aclose()
    yield encoder.end()


_TASK_EVENTS = frozenset({"chunk", "reasoning", "tool_call", "task_complete", "task_error"})


def _roles(crew: Crew) -> str:
    return ", ".join(agent.role for agent in crew.agents)


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T | None:
    """`await work`, or cancel it and return None when the client goes away
    first (the body must have been read already)."""

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait((task, watch), return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    if task.cancelled():
        return None
    return task.result()


def check_names(agents: Mapping[str, Agent], crews: Mapping[str, Crew]) -> None:
    """Agents and crews are asked for by name: each name once, each the right kind."""
    for name, agent in agents.items():
        if not isinstance(agent, Agent):
            raise ConfigurationError(
                f"agents[{name!r}] must be an Agent, not {type(agent).__name__}"
            )
    for name, crew in crews.items():
        if not isinstance(crew, Crew):
            raise ConfigurationError(f"crews[{name!r}] must be a Crew, not {type(crew).__name__}")
        if not crew.tasks or not crew.agents:
            raise ConfigurationError(f"crews[{name!r}] needs at least one agent and one task")
    both = sorted(set(agents) & set(crews))
    if both:
        raise ConfigurationError(f"{', '.join(both)}: a name is an agent's or a crew's, not both")


class AgentRoute:
    """One `POST` route answered by `agent`, or by the agent `chat` describes
    (the app's configured provider, role and goal); a request may name one of
    `agents` or `crews` as its model instead. Subclasses name their default
    path and implement `answer(request)`."""

    default_path: ClassVar[str]

    def __init__(
        self,
        agent: Agent | None = None,
        *,
        chat: ChatConfig | None = None,
        web: WebSettings | None = None,
        path: str | None = None,
        agents: Mapping[str, Agent] | None = None,
        crews: Mapping[str, Crew] | None = None,
    ) -> None:
        self.agent = agent
        self.chat = chat if chat is not None else ChatConfig()
        self.web = web if web is not None else WebSettings.from_settings(self.chat.settings)
        self.path = path if path is not None else self.default_path
        self.agents = dict(agents or {})
        self.crews = dict(crews or {})
        check_names(self.agents, self.crews)

    def routes(self) -> list[Route]:
        return [Route(self.path, self.answer, methods=["POST"])]

    def answering_agent(self) -> Agent:
        return self.agent if self.agent is not None else build_agent(self.chat)

    def chosen(self, model: Any, where: str = "model") -> Agent | Crew:
        """The agent or crew `model` names; without one, the route's agent."""
        if model is None:
            return self.answering_agent()
        found: Agent | Crew | None = None
        if isinstance(model, str):
            found = self.agents.get(model) or self.crews.get(model)
        if found is None:
            names = [*self.agents, *self.crews]
            offered = f"one of {', '.join(names)}" if names else "none: leave it out"
            raise BadInput(
                f"{where} names no agent or crew of this server; it takes {offered}", where
            )
        return found

    async def answer(self, request: Request) -> Response:
        raise NotImplementedError
