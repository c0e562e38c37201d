"""An OpenAI-compatible API in front of the configured agents, so the `openai`
SDK, Open WebUI and any OpenAI client talk to a laraflowai agent:

    POST /v1/chat/completions   streaming (`chat.completion.chunk` events, then
                                `data: [DONE]`) or not (`chat.completion`)
    GET  /v1/models             the agents, by name: the `model` to ask for

The whole `messages` list is the conversation: the last message is the task,
the ones before it the history (system messages included). The agent's own
system message (its role and goal) goes first. Accepted options: `temperature`,
`top_p`, `max_tokens` (or `max_completion_tokens`), `stop`, `seed`; others are
ignored, and so are `tools` (an agent runs its own). Reasoning streams as
`reasoning_content`, as DeepSeek's API does. A model may also be a crew: its
tasks get the request as context, the last task's text is the answer and the
earlier tasks' text streams as `reasoning_content`. Errors use OpenAI's shape,
`{"error": {"message", "type", "param", "code"}}`; one in the middle of a
stream is a data event of that shape. See
https://platform.openai.com/docs/api-reference/chat/streaming
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .._secrets import redact
from .._types import Message, Role
from ..broadcast import public_error
from ..crew import Agent, Crew
from ..streaming.response import Response as Answer
from ..wire import Event, Finished, ReasoningDelta, TextDelta, ToolCall, Usage
from ._answer import (
    check_names,
    crew_for,
    encode_answer,
    encode_crew,
    log_failure,
    read_json,
    split_conversation,
    start_answer,
    start_crew,
    unless_disconnected,
)
from ._requests import BadInput, ChatConfig, build_agent
from ._settings import WebSettings
from .sse import EventStreamResponse

__all__ = ["DEFAULT_MODEL", "ChatCompletionChunks", "OpenAIRoutes", "completion", "routes"]

logger = logging.getLogger("laraflowai.web")

DEFAULT_MODEL = "laraflowai"
"""The model name of the one agent served when no agents are given."""

_FINISH = {"stop", "length", "tool_calls", "content_filter"}
_ROLES: dict[Any, Role] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
}
_STATUS = {
    "rate_limit": (429, "rate_limit_error"),
    "quota": (429, "insufficient_quota"),
    "overloaded": (503, "server_error"),
    "timeout": (504, "server_error"),
    "configuration": (500, "server_error"),
    "internal": (500, "server_error"),
}
_DONE = b"data: [DONE]\n\n"


def error_body(message: str, type: str, code: str | None = None, param: str | None = None) -> Any:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def _error(
    status: int, message: str, type: str, code: str | None, param: str | None = None
) -> Response:
    return JSONResponse(error_body(message, type, code, param), status_code=status)


def _finish_reason(reason: str | None, runs_tools: bool = False) -> str:
    if runs_tools and reason == "tool_calls":
        # The agent ran its tools itself and stopped at max_steps: a limit, and
        # no call is left for the client to run.
        return "length"
    return reason if reason in _FINISH else "stop"


def _usage(usage: Usage | None) -> dict[str, Any]:
    """OpenAI's usage object; counts the provider did not report are 0."""
    usage = usage or Usage()
    prompt, completion_ = usage.input_tokens or 0, usage.output_tokens or 0
    body: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion_,
        "total_tokens": usage.total_tokens
        if usage.total_tokens is not None
        else prompt + completion_,
    }
    if usage.cached_input_tokens is not None:
        body["prompt_tokens_details"] = {"cached_tokens": usage.cached_input_tokens}
    if usage.reasoning_tokens is not None:
        body["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    return body


def _tool_call(call: ToolCall, number: int) -> dict[str, Any]:
    return {
        "id": call.id or f"call_{number}",
        "type": "function",
        "function": {"name": call.name, "arguments": orjson.dumps(call.arguments).decode()},
    }


def _completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


class ChatCompletionChunks:
    """Our events as `chat.completion.chunk` SSE frames (sans-I/O).

    The constant head and tail of a text chunk are encoded once; a text delta
    costs one `orjson.dumps` of its text (measured: 1.7 µs per delta, against
    4.0 µs for dumping the whole chunk object each time)."""

    def __init__(
        self,
        model: str,
        *,
        include_usage: bool = False,
        id: str | None = None,
        created: int | None = None,
        runs_tools: bool = False,
    ) -> None:
        self.include_usage = include_usage
        self._base = {
            "id": id or _completion_id(),
            "object": "chat.completion.chunk",
            "created": int(time.time()) if created is None else created,
            "model": model,
            "system_fingerprint": None,
        }
        head = orjson.dumps(self._base)[:-1]
        self._head = b"data: " + head + b',"choices":[{"index":0,"delta":'
        self._tail = b',"logprobs":null,"finish_reason":null}]' + (
            b',"usage":null}\n\n' if include_usage else b"}\n\n"
        )
        self._tools = 0
        self._finish: str | None = None
        self._usage: Usage | None = None
        # An agent with tools runs the calls itself: the client must not run them again.
        self.runs_tools = runs_tools

    def _delta(self, delta: bytes) -> bytes:
        return self._head + delta + self._tail

    def start(self) -> bytes:
        return self._delta(b'{"role":"assistant","content":""}')

    def feed(self, event: Event) -> bytes:
        kind = type(event)
        if kind is TextDelta:
            return self._delta(b'{"content":' + orjson.dumps(event.text) + b"}")  # type: ignore[union-attr]
        if kind is ReasoningDelta:
            return self._delta(b'{"reasoning_content":' + orjson.dumps(event.text) + b"}")  # type: ignore[union-attr]
        if kind is ToolCall and not self.runs_tools:
            call = {"index": self._tools, **_tool_call(event, self._tools)}  # type: ignore[arg-type]
            self._tools += 1
            return self._delta(orjson.dumps({"tool_calls": [call]}))
        if kind is Finished:
            self._finish = event.reason  # type: ignore[union-attr]
        elif kind is Usage:
            self._usage = event  # type: ignore[assignment]
        return b""

    def fail(self, error: Mapping[str, Any]) -> bytes:
        kind = error.get("kind", "internal")
        type_ = _STATUS.get(kind, (502, "server_error"))[1]
        return b"data: " + orjson.dumps(error_body(error["message"], type_, kind)) + b"\n\n"

    def end(self) -> bytes:
        finish = {
            **self._base,
            "choices": [
                {
                    "index": 0,
                    "delta": {},
                    "logprobs": None,
                    "finish_reason": _finish_reason(self._finish, self.runs_tools),
                }
            ],
        }
        if self.include_usage:
            finish["usage"] = None
        frames = [b"data: " + orjson.dumps(finish) + b"\n\n"]
        if self.include_usage:
            usage = {**self._base, "choices": [], "usage": _usage(self._usage)}
            frames.append(b"data: " + orjson.dumps(usage) + b"\n\n")
        frames.append(_DONE)
        return b"".join(frames)


def completion(
    answer: Answer,
    model: str,
    *,
    id: str | None = None,
    created: int | None = None,
    runs_tools: bool = False,
) -> dict[str, Any]:
    """A whole answer as a `chat.completion` object (`runs_tools`: the agent ran
    its tool calls itself, so none is passed on)."""
    message: dict[str, Any] = {"role": "assistant", "content": answer.content, "refusal": None}
    if answer.reasoning:
        message["reasoning_content"] = answer.reasoning
    if answer.tool_calls and not runs_tools:
        message["tool_calls"] = [_tool_call(call, n) for n, call in enumerate(answer.tool_calls)]
    return {
        "id": id or _completion_id(),
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": _finish_reason(answer.finish_reason, runs_tools),
            }
        ],
        "usage": _usage(answer.usage),
    }


def _content(value: Any, where: str) -> str:
    """A message's content: a string, or text parts (`[{"type": "text", "text": ...}]`)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = []
        for index, part in enumerate(value):
            if not (
                isinstance(part, dict)
                and part.get("type") == "text"
                and isinstance(part.get("text"), str)
            ):
                raise BadInput(
                    f"{where}[{index}] is not a text part; this server takes text only "
                    "({'type': 'text', 'text': ...})",
                    where,
                )
            texts.append(part["text"])
        return "".join(texts)
    raise BadInput(f"{where} must be a string or a list of text parts", where)


def parse_messages(raw: Any) -> list[Message]:
    if not isinstance(raw, list):
        raise BadInput("messages must be a list of messages", "messages")
    messages: list[Message] = []
    for index, item in enumerate(raw):
        where = f"messages[{index}]"
        if not isinstance(item, dict):
            raise BadInput(f"{where} must be an object with role and content", where)
        role = _ROLES.get(item.get("role"))
        if role is None:
            raise BadInput(
                f"{where}.role is {item.get('role')!r}; this server takes system, developer, "
                "user and assistant messages (tool results are not supported)",
                f"{where}.role",
            )
        content = _content(item.get("content"), f"{where}.content")
        messages.append({"role": role, "content": content})
    return messages


def _number(body: Mapping[str, Any], name: str, integer: bool = False) -> Any:
    value = body.get(name)
    if value is None:
        return None
    valid = isinstance(value, int) if integer else isinstance(value, int | float)
    if not valid or isinstance(value, bool):
        raise BadInput(f"{name} must be {'an integer' if integer else 'a number'}", name)
    return value


def _options(body: Mapping[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name in ("temperature", "top_p"):
        if (value := _number(body, name)) is not None:
            options[name] = value
    max_tokens = _number(body, "max_completion_tokens", True) or _number(body, "max_tokens", True)
    if max_tokens is not None:
        options["max_tokens"] = max_tokens
    if (seed := _number(body, "seed", True)) is not None:
        options["seed"] = seed
    stop = body.get("stop")
    if stop is not None:
        if isinstance(stop, str):
            stop = [stop]
        if not (
            isinstance(stop, list) and all(isinstance(s, str) for s in stop) and len(stop) <= 4
        ):
            raise BadInput("stop must be a string or a list of up to 4 strings", "stop")
        options["stop"] = stop
    n = body.get("n")
    if n not in (None, 1):
        raise BadInput("n must be 1: this server makes one answer per request", "n")
    return options


def _constant(answerer: Agent | Crew) -> Callable[[], Agent | Crew]:
    return lambda: answerer


class OpenAIRoutes:
    """The OpenAI-compatible routes over some agents, keyed by the model name
    clients ask for. Without `agents`, one agent named DEFAULT_MODEL answers,
    built from `chat` (the app's configured provider, role and goal)."""

    def __init__(
        self,
        agents: Mapping[str, Agent] | None = None,
        *,
        chat: ChatConfig | None = None,
        web: WebSettings | None = None,
        prefix: str = "/v1",
        crews: Mapping[str, Crew] | None = None,
    ) -> None:
        self.chat = chat if chat is not None else ChatConfig()
        self.web = web if web is not None else WebSettings.from_settings(self.chat.settings)
        self.prefix = prefix.rstrip("/")
        self.crews = dict(crews or {})
        check_names(agents or {}, self.crews)
        self._agents: dict[str, Callable[[], Agent | Crew]]
        if agents is None:
            self._agents = {DEFAULT_MODEL: lambda: build_agent(self.chat)}
        else:
            self._agents = {name: _constant(agent) for name, agent in agents.items()}
        if DEFAULT_MODEL in self.crews and agents is None:
            del self._agents[DEFAULT_MODEL]
        self._agents.update({name: _constant(crew) for name, crew in self.crews.items()})
        self.created = int(time.time())

    def routes(self) -> list[Route]:
        return [
            Route(f"{self.prefix}/chat/completions", self.chat_completions, methods=["POST"]),
            Route(f"{self.prefix}/models", self.models, methods=["GET"]),
            Route(f"{self.prefix}/models/{{model:path}}", self.model, methods=["GET"]),
        ]

    def _model(self, name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": self.created, "owned_by": "laraflowai"}

    async def models(self, request: Request) -> Response:
        return JSONResponse(
            {"object": "list", "data": [self._model(name) for name in self._agents]}
        )

    async def model(self, request: Request) -> Response:
        name = request.path_params["model"]
        if name not in self._agents:
            return self._unknown(name)
        return JSONResponse(self._model(name))

    def _unknown(self, name: Any) -> Response:
        return _error(
            404,
            f"The model {name!r} does not exist on this server; "
            f"it serves {', '.join(self._agents)}",
            "invalid_request_error",
            "model_not_found",
            "model",
        )

    async def chat_completions(self, request: Request) -> Response:
        try:
            body = await read_json(request)
            if not isinstance(body, dict):
                raise BadInput("the request body must be a JSON object", "body")
            name = body.get("model")
            if not isinstance(name, str) or not name:
                raise BadInput("model is required: one of " + ", ".join(self._agents), "model")
            if name not in self._agents:
                return self._unknown(name)
            history, task = split_conversation(parse_messages(body.get("messages")), self.web)
            options = _options(body)
            stream = body.get("stream", False)
            if not isinstance(stream, bool):
                raise BadInput("stream must be true or false", "stream")
            stream_options = body.get("stream_options") or {}
            if not isinstance(stream_options, dict):
                raise BadInput("stream_options must be an object", "stream_options")
            chosen = self._agents[name]()
            if isinstance(chosen, Crew):
                if options:
                    raise BadInput(
                        f"{', '.join(sorted(options))}: a crew's agents use their own options",
                        sorted(options)[0],
                    )
                return await self._crew(
                    request,
                    crew_for(chosen, history, task),
                    name,
                    stream,
                    stream_options.get("include_usage") is True,
                )
            agent = chosen
            response = start_answer(agent, task, history, **options)
        except BadInput as error:
            return _error(400, error.message, "invalid_request_error", None, error.param)
        if stream:
            encoder = ChatCompletionChunks(
                name,
                include_usage=stream_options.get("include_usage") is True,
                runs_tools=agent.toolbox is not None,
            )
            return EventStreamResponse(
                encode_answer(agent, response, encoder), keep_alive=self.web.keep_alive
            )

        async def whole() -> Answer:
            async with response:
                return await response.to_response()

        try:
            answer = await unless_disconnected(request, whole())
        except Exception as failure:
            public = log_failure(failure, agent)
            status, type_ = _STATUS.get(public["kind"], (502, "server_error"))
            return _error(status, public["message"], type_, public["kind"])
        if answer is None:  # the client left; nobody reads this
            return Response(status_code=499)
        return JSONResponse(completion(answer, name, runs_tools=agent.toolbox is not None))

    async def _crew(
        self, request: Request, crew: Crew, name: str, stream: bool, include_usage: bool
    ) -> Response:
        events = start_crew(crew)
        if stream:
            encoder = ChatCompletionChunks(name, include_usage=include_usage)
            return EventStreamResponse(
                encode_crew(crew, events, encoder), keep_alive=self.web.keep_alive
            )
        await events.aclose()  # checked the setup; kickoff runs it
        error: BaseException | None = None
        try:
            result = await unless_disconnected(request, crew.akickoff())
        except Exception as failure:
            result, error = None, failure
        if result is None and error is None:  # the client left; nobody reads this
            return Response(status_code=499)
        last = result.tasks[-1].response if result is not None and result.success else None
        if result is None or last is None:
            failed = error or (result.error if result is not None else None)
            failed = failed or RuntimeError("the crew gave no answer")
            logger.warning("crew %s: the answer failed: %s", name, redact(str(failed)))
            public = public_error(failed)
            status, type_ = _STATUS.get(public["kind"], (502, "server_error"))
            return _error(status, public["message"], type_, public["kind"])
        body = completion(last, name)
        body["usage"] = _usage(result.usage)
        return JSONResponse(body)


def routes(
    agents: Mapping[str, Agent] | None = None,
    *,
    chat: ChatConfig | None = None,
    web: WebSettings | None = None,
    prefix: str = "/v1",
    crews: Mapping[str, Crew] | None = None,
) -> list[Route]:
    """The OpenAI-compatible routes, to mount in any Starlette app. Guard them
    as the app guards `/api/`: `Middleware(APIGuard, token=..., prefix="/v1/")`.
    `crews` are offered as models next to `agents`."""
    return OpenAIRoutes(agents, chat=chat, web=web, prefix=prefix, crews=crews).routes()
