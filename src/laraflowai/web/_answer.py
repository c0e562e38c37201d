"""What the protocol routes share: reading a chat request's body, splitting a
conversation into history and task, and driving an encoder over an agent's
typed events.

An encoder is sans-I/O: `start()`, `feed(event)`, `fail(error)` and `end()`
each return the bytes to send (maybe none). `encode_answer` is the only loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from typing import Any, ClassVar, Protocol, TypeVar

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._exceptions import ConfigurationError
from .._secrets import redact
from .._types import Message
from ..broadcast import public_error
from ..crew import Agent, Task
from ..crew.conversation import check_history
from ..streaming.response import AsyncStreamingResponse
from ..wire import Event
from ._requests import BadInput, ChatConfig, build_agent, chat_task
from ._settings import WebSettings

__all__ = [
    "MAX_BODY",
    "MAX_MESSAGES",
    "Encoder",
    "encode_answer",
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


class AgentRoute:
    """One `POST` route answered by `agent`, or by the agent `chat` describes
    (the app's configured provider, role and goal). Subclasses name their
    default path and implement `answer(request)`."""

    default_path: ClassVar[str]

    def __init__(
        self,
        agent: Agent | None = None,
        *,
        chat: ChatConfig | None = None,
        web: WebSettings | None = None,
        path: str | None = None,
    ) -> None:
        self.agent = agent
        self.chat = chat if chat is not None else ChatConfig()
        self.web = web if web is not None else WebSettings.from_settings(self.chat.settings)
        self.path = path if path is not None else self.default_path

    def routes(self) -> list[Route]:
        return [Route(self.path, self.answer, methods=["POST"])]

    def answering_agent(self) -> Agent:
        return self.agent if self.agent is not None else build_agent(self.chat)

    async def answer(self, request: Request) -> Response:
        raise NotImplementedError
