"""The Vercel AI SDK's UI message stream, so a React app's `useChat` streams
from a laraflowai agent:

    POST /api/chat   {"id", "messages": [{"id", "role", "parts": [{"type": "text", "text"}]}],
                      "trigger"?, "messageId"?}

`useChat` sends the whole conversation each time; its last message is the task
and the ones before it the history (their text parts; other parts are left
out). An optional `model` (useChat's `body: {model}`) names one of the app's
agents or crews. The answer is SSE with `x-vercel-ai-ui-message-stream: v1`: `start`,
`start-step`, `reasoning-start`/`-delta`/`-end`, `text-start`/`-delta`/`-end`,
`tool-input-available` for each complete tool call (a dynamic tool: the
client need not declare it), `tool-output-available` (or `tool-output-error`)
for each tool result, both with `providerExecuted: true` for a tool the
provider ran itself; text after tool results opens a new step
(`finish-step`, `start-step`); `finish-step`, `finish` (with the finish reason
and, as message metadata, the token usage), then `data: [DONE]`; or `error`
with a safe `errorText`. The chunk shapes are the `ai` package's
`uiMessageChunkSchema`; see https://ai-sdk.dev/docs/ai-sdk-ui/stream-protocol
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._types import Message
from ..crew import Agent, Crew
from ..wire import (
    Event,
    Finished,
    ProviderToolCall,
    ProviderToolResult,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolResult,
    Usage,
)
from ._answer import (
    AgentRoute,
    crew_for,
    encode_answer,
    encode_crew,
    read_json,
    split_conversation,
    start_answer,
    start_crew,
)
from ._errors import error_response
from ._requests import BadInput, ChatConfig
from ._settings import WebSettings
from .sse import EventStreamResponse

__all__ = ["UI_STREAM_HEADERS", "UIChatRoutes", "UIMessageStream", "parse_ui_messages", "routes"]

UI_STREAM_HEADERS = {"x-vercel-ai-ui-message-stream": "v1"}
_FINISH = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool-calls",
    "content_filter": "content-filter",
}
_ROLES = frozenset({"system", "user", "assistant"})
_DONE = b"data: [DONE]\n\n"
_START_STEP = b'data: {"type":"start-step"}\n\n'
_FINISH_STEP = b'data: {"type":"finish-step"}\n\n'


def _frame(chunk: Mapping[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


class UIMessageStream:
    """Our events as UI message stream chunks (sans-I/O).

    Text and reasoning arrive in blocks: a block opens on its first delta and
    closes when the other kind, a tool call or the end comes. A delta costs
    one `orjson.dumps` of its text between two constant byte strings."""

    def __init__(self, message_id: str | None = None) -> None:
        self.message_id = message_id or "msg-" + secrets.token_hex(12)
        self._blocks = 0
        self._open: str | None = None  # "text" or "reasoning"
        self._id = ""
        self._prefix = b""
        self._finish: str | None = None
        self._usage: Usage | None = None
        self._calls = 0
        self._unnamed: dict[str, str] = {}  # tool name -> id given to its call without one
        self._results = False  # tool results came: what follows is the next step

    def start(self) -> bytes:
        return _frame({"type": "start", "messageId": self.message_id}) + _START_STEP

    def task(self, index: int, name: str) -> bytes:
        """A crew's task begins: each task is a step (the first one is open)."""
        if index == 0 and not self._blocks and not self._calls:
            return b""
        self._results = False
        return self._close() + _FINISH_STEP + _START_STEP

    def _step(self) -> bytes:
        if not self._results:
            return b""
        self._results = False
        return self._close() + _FINISH_STEP + _START_STEP

    def _call_id(self, given: str | None, name: str) -> str:
        if given:
            return given
        made = f"call-{self.message_id}-{self._calls}"
        self._unnamed[name] = made
        return made

    def _call(self, call_id: str | None, name: str, arguments: Any, provider: bool) -> bytes:
        chunk: dict[str, Any] = {
            "type": "tool-input-available",
            "toolCallId": self._call_id(call_id, name),
            "toolName": name,
            "input": arguments,
            "dynamic": True,
        }
        self._calls += 1
        if provider:
            chunk["providerExecuted"] = True
        return self._step() + self._close() + _frame(chunk)

    def _result(
        self, call_id: str | None, name: str, output: Any, is_error: bool, provider: bool
    ) -> bytes:
        # Our tools ran between two model calls: what follows is the next step.
        # A provider's tool ran inside the same call.
        self._results = self._results or not provider
        chunk: dict[str, Any] = {
            "toolCallId": call_id or self._unnamed.pop(name, f"call-{self.message_id}-{name}"),
            "dynamic": True,
        }
        if is_error:
            chunk["type"] = "tool-output-error"
            chunk["errorText"] = (
                output if isinstance(output, str) else orjson.dumps(output).decode()
            )
        else:
            chunk["type"] = "tool-output-available"
            chunk["output"] = output
        if provider:
            chunk["providerExecuted"] = True
        return self._close() + _frame(chunk)

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        frame = _frame({"type": f"{self._open}-end", "id": self._id})
        self._open = None
        return frame

    def _delta(self, kind: str, text: str) -> bytes:
        opening = b""
        if self._open != kind:
            opening = self._close()
            self._open = kind
            self._id = f"{kind}-{self._blocks}"
            self._blocks += 1
            opening += _frame({"type": f"{kind}-start", "id": self._id})
            self._prefix = b'data: {"type":"%s-delta","id":"%s","delta":' % (
                kind.encode(),
                self._id.encode(),
            )
        return opening + self._prefix + orjson.dumps(text) + b"}\n\n"

    def feed(self, event: Event) -> bytes:
        kind = type(event)
        if kind is TextDelta:
            if self._results:
                return self._step() + self._delta("text", event.text)  # type: ignore[union-attr]
            return self._delta("text", event.text)  # type: ignore[union-attr]
        if kind is ReasoningDelta:
            return self._step() + self._delta("reasoning", event.text)  # type: ignore[union-attr]
        if kind is ToolCall:
            call: ToolCall = event  # type: ignore[assignment]
            return self._call(call.id, call.name, call.arguments, False)
        if kind is ToolResult:
            result: ToolResult = event  # type: ignore[assignment]
            return self._result(result.id, result.name, result.output, result.is_error, False)
        if kind is ProviderToolCall:
            ran: ProviderToolCall = event  # type: ignore[assignment]
            return self._call(ran.id, ran.name, ran.arguments, True)
        if kind is ProviderToolResult:
            got: ProviderToolResult = event  # type: ignore[assignment]
            return self._result(got.id, got.name, got.result, got.is_error, True)
        if kind is Finished:
            self._finish = event.reason  # type: ignore[union-attr]
        elif kind is Usage:
            self._usage = event  # type: ignore[assignment]
        return b""

    def fail(self, error: Mapping[str, Any]) -> bytes:
        return self._close() + _frame({"type": "error", "errorText": error["message"]}) + _DONE

    def end(self) -> bytes:
        finish: dict[str, Any] = {
            "type": "finish",
            "finishReason": _FINISH.get(self._finish or "stop", "other"),
        }
        usage = self._usage
        if usage is not None:
            counts = {
                "inputTokens": usage.input_tokens,
                "outputTokens": usage.output_tokens,
                "totalTokens": usage.total_tokens,
            }
            finish["messageMetadata"] = {
                "usage": {name: value for name, value in counts.items() if value is not None}
            }
        return self._close() + _FINISH_STEP + _frame(finish) + _DONE


def parse_ui_messages(raw: Any) -> list[Message]:
    """`useChat`'s messages as plain messages: the text of their text parts."""
    if not isinstance(raw, list):
        raise BadInput("messages must be a list of UI messages", "messages")
    messages: list[Message] = []
    for index, item in enumerate(raw):
        where = f"messages[{index}]"
        if not isinstance(item, dict):
            raise BadInput(f"{where} must be a UI message {{id, role, parts}}", where)
        role = item.get("role")
        if role not in _ROLES:
            raise BadInput(f"{where}.role must be system, user or assistant, not {role!r}", where)
        parts = item.get("parts")
        if parts is None and isinstance(item.get("content"), str):
            text = item["content"]  # the older message shape
        elif isinstance(parts, list):
            texts = []
            for part in parts:
                if not isinstance(part, dict):
                    raise BadInput(f"{where}.parts must be a list of objects", where)
                if part.get("type") == "text":
                    if not isinstance(part.get("text"), str):
                        raise BadInput(f"{where}: a text part needs a string 'text'", where)
                    texts.append(part["text"])
            text = "".join(texts)
        else:
            raise BadInput(f"{where}.parts must be a list of parts", where)
        messages.append({"role": role, "content": text})
    return messages


class UIChatRoutes(AgentRoute):
    """`POST /api/chat` answered by `agent`, or by the agent `chat` describes
    (the app's configured provider, role and goal)."""

    default_path = "/api/chat"

    async def answer(self, request: Request) -> Response:
        try:
            body = await read_json(request)
            if not isinstance(body, dict):
                raise BadInput("the request body must be a JSON object", "body")
            history, task = split_conversation(parse_ui_messages(body.get("messages")), self.web)
            chosen = self.chosen(body.get("model"))
            if isinstance(chosen, Crew):
                crew = crew_for(chosen, history, task)
                frames = encode_crew(crew, start_crew(crew), UIMessageStream())
            else:
                frames = encode_answer(
                    chosen, start_answer(chosen, task, history), UIMessageStream()
                )
        except BadInput as error:
            return error_response(400, "invalid_request", error.message, param=error.param)
        return EventStreamResponse(
            frames, keep_alive=self.web.keep_alive, headers=UI_STREAM_HEADERS
        )


def routes(
    agent: Agent | None = None,
    *,
    chat: ChatConfig | None = None,
    web: WebSettings | None = None,
    path: str = "/api/chat",
    agents: Mapping[str, Agent] | None = None,
    crews: Mapping[str, Crew] | None = None,
) -> list[Route]:
    """`POST /api/chat` for `useChat`, to mount in any Starlette app behind
    `APIGuard` (which guards `/api/`). A request's `model` may name one of
    `agents` or `crews`."""
    return UIChatRoutes(agent, chat=chat, web=web, path=path, agents=agents, crews=crews).routes()
