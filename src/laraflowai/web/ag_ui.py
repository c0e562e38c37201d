"""AG-UI, the Agent-User Interaction protocol, over SSE:

    POST /api/ag-ui   a RunAgentInput: {"threadId", "runId", "messages", "tools"?,
                      "state"?, "context"?, "forwardedProps"?}

The last message is the task, the ones before it the history (developer and
system messages count as system; tool, reasoning and activity messages are
left out); each `context` entry goes with the task as context. `tools`,
`state` and `forwardedProps` are accepted and not used: the agent runs its own
tools; `forwardedProps.model` may name one of the app's agents or crews
(a crew's tasks are steps: `STEP_STARTED`/`STEP_FINISHED`, the earlier
tasks' text as reasoning, the last task's as the text message). The answer:
`RUN_STARTED`, then `REASONING_START`,
`REASONING_MESSAGE_START`/`_CONTENT`/`_END`, `REASONING_END` around reasoning,
`TEXT_MESSAGE_START`/`_CONTENT`/`_END` around text, `TOOL_CALL_START`/`_ARGS`/
`_END` for each complete tool call (also for a tool the provider ran itself),
`TOOL_CALL_RESULT` (role `tool`) for each tool result, and `RUN_FINISHED`
(with token usage) or
`RUN_ERROR` (a safe message). Names and fields follow the `ag-ui-protocol`
package's `ag_ui.core` types; see https://docs.ag-ui.com/concepts/events
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._types import Message, Role
from ..crew import Agent, Crew, Task
from ..wire import (
    Event,
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
from ._requests import MAX_FIELD, BadInput, ChatConfig
from ._settings import WebSettings
from .sse import EventStreamResponse

__all__ = ["AGUIEvents", "AGUIRoutes", "parse_run_input", "routes"]

_ROLES: dict[Any, Role] = {
    "developer": "system",
    "system": "system",
    "user": "user",
    "assistant": "assistant",
}
_SKIPPED = frozenset({"tool", "reasoning", "activity"})
_MAX_CONTEXT = 50


def _frame(event: Mapping[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(event) + b"\n\n"


class AGUIEvents:
    """Our events as AG-UI events (sans-I/O).

    Text and reasoning are messages: one opens on its first delta and closes
    when the other kind, a tool call or the end of the run comes. A delta
    costs one `orjson.dumps` of its text between two constant byte strings."""

    def __init__(
        self, thread_id: str, run_id: str, *, provider: str | None = None, model: str | None = None
    ) -> None:
        self.thread_id = thread_id
        self.run_id = run_id
        self.provider = provider
        self.model = model
        self._messages = 0
        self._open: str | None = None  # "text" or "reasoning"
        self._id = ""
        self._prefix = b""
        self._tools = 0
        self._unnamed: dict[str, str] = {}  # tool name -> id given to its call without one
        self._text_id: str | None = None  # the assistant message tool calls belong to
        self._usage: Usage | None = None
        self._step: str | None = None

    def start(self) -> bytes:
        return _frame({"type": "RUN_STARTED", "threadId": self.thread_id, "runId": self.run_id})

    def _end_step(self) -> bytes:
        name, self._step = self._step, None
        if name is None:
            return b""
        return self._close() + _frame({"type": "STEP_FINISHED", "stepName": name})

    def task(self, index: int, name: str) -> bytes:
        """A crew's task begins: a step of the run."""
        ended = self._end_step()
        self._step = f"task {index}: {name}"
        return ended + _frame({"type": "STEP_STARTED", "stepName": self._step})

    def _close(self) -> bytes:
        kind, self._open = self._open, None
        if kind == "text":
            return _frame({"type": "TEXT_MESSAGE_END", "messageId": self._id})
        if kind == "reasoning":
            return _frame({"type": "REASONING_MESSAGE_END", "messageId": self._id}) + _frame(
                {"type": "REASONING_END", "messageId": self._id}
            )
        return b""

    def _delta(self, kind: str, text: str) -> bytes:
        opening = b""
        if self._open != kind:
            opening = self._close()
            self._open = kind
            self._id = f"{self.run_id}-{kind}-{self._messages}"
            self._messages += 1
            if kind == "text":
                self._text_id = self._id
                opening += _frame(
                    {"type": "TEXT_MESSAGE_START", "messageId": self._id, "role": "assistant"}
                )
                event = b"TEXT_MESSAGE_CONTENT"
            else:
                opening += _frame({"type": "REASONING_START", "messageId": self._id})
                opening += _frame(
                    {"type": "REASONING_MESSAGE_START", "messageId": self._id, "role": "reasoning"}
                )
                event = b"REASONING_MESSAGE_CONTENT"
            self._prefix = b'data: {"type":"%s","messageId":%s,"delta":' % (
                event,
                orjson.dumps(self._id),
            )
        return opening + self._prefix + orjson.dumps(text) + b"}\n\n"

    def feed(self, event: Event) -> bytes:
        kind = type(event)
        if kind is TextDelta:
            return self._delta("text", event.text)  # type: ignore[union-attr]
        if kind is ReasoningDelta:
            return self._delta("reasoning", event.text)  # type: ignore[union-attr]
        if kind is ToolCall or kind is ProviderToolCall:
            call: ToolCall | ProviderToolCall = event  # type: ignore[assignment]
            return self._call(call.id, call.name, call.arguments)
        if kind is ToolResult:
            result: ToolResult = event  # type: ignore[assignment]
            return self._result(result.id, result.name, result.output)
        if kind is ProviderToolResult:
            got: ProviderToolResult = event  # type: ignore[assignment]
            shown = got.result if isinstance(got.result, str) else orjson.dumps(got.result).decode()
            return self._result(got.id, got.name, shown)
        if kind is Usage:
            self._usage = event  # type: ignore[assignment]
        return b""

    def _call(self, given: str | None, name: str, arguments: Any) -> bytes:
        call_id = given or f"{self.run_id}-call-{self._tools}"
        if not given:
            self._unnamed[name] = call_id
        self._tools += 1
        start: dict[str, Any] = {
            "type": "TOOL_CALL_START",
            "toolCallId": call_id,
            "toolCallName": name,
        }
        if self._text_id is not None:
            start["parentMessageId"] = self._text_id
        return (
            self._close()
            + _frame(start)
            + _frame(
                {
                    "type": "TOOL_CALL_ARGS",
                    "toolCallId": call_id,
                    "delta": orjson.dumps(arguments).decode(),
                }
            )
            + _frame({"type": "TOOL_CALL_END", "toolCallId": call_id})
        )

    def _result(self, given: str | None, name: str, content: str) -> bytes:
        call_id = given or self._unnamed.pop(name, f"{self.run_id}-call-{name}")
        message_id = f"{self.run_id}-tool-{self._messages}"
        self._messages += 1
        return self._close() + _frame(
            {
                "type": "TOOL_CALL_RESULT",
                "messageId": message_id,
                "toolCallId": call_id,
                "content": content,
                "role": "tool",
            }
        )

    def fail(self, error: Mapping[str, Any]) -> bytes:
        return self._close() + _frame(
            {"type": "RUN_ERROR", "message": error["message"], "code": error.get("kind")}
        )

    def end(self) -> bytes:
        finished: dict[str, Any] = {
            "type": "RUN_FINISHED",
            "threadId": self.thread_id,
            "runId": self.run_id,
        }
        usage = self._usage
        if usage is not None:
            counts = {
                "provider": self.provider,
                "model": self.model,
                "inputTokens": usage.input_tokens,
                "outputTokens": usage.output_tokens,
                "totalTokens": usage.total_tokens,
                "reasoningTokens": usage.reasoning_tokens,
                "cachedInputTokens": usage.cached_input_tokens,
            }
            finished["usage"] = [{k: v for k, v in counts.items() if v is not None}]
        return self._close() + self._end_step() + _frame(finished)


def _text(value: Any, where: str) -> str:
    """A message's content: a string, or parts of which the text ones count."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(
            part["text"]
            for part in value
            if isinstance(part, dict)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        )
    raise BadInput(f"{where} must be a string or a list of content parts", where)


def _id(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > MAX_FIELD:
        raise BadInput(f"{name} is required: a string of 1 to {MAX_FIELD} characters", name)
    return value


def parse_run_input(body: Any) -> tuple[str, str, list[Message], list[str]]:
    """(threadId, runId, messages, context) of a RunAgentInput."""
    if not isinstance(body, dict):
        raise BadInput("the request body must be a RunAgentInput object", "body")
    thread_id, run_id = _id(body, "threadId"), _id(body, "runId")
    raw = body.get("messages")
    if not isinstance(raw, list):
        raise BadInput("messages must be a list of messages", "messages")
    messages: list[Message] = []
    for index, item in enumerate(raw):
        where = f"messages[{index}]"
        if not isinstance(item, dict):
            raise BadInput(f"{where} must be a message object", where)
        role = item.get("role")
        if role in _SKIPPED:
            continue
        if role not in _ROLES:
            raise BadInput(
                f"{where}.role is {role!r}; AG-UI roles are developer, system, user, "
                "assistant, tool, reasoning and activity",
                where,
            )
        messages.append({"role": _ROLES[role], "content": _text(item.get("content"), where)})
    context = body.get("context") or []
    if not isinstance(context, list) or len(context) > _MAX_CONTEXT:
        raise BadInput(f"context must be a list of at most {_MAX_CONTEXT} entries", "context")
    notes = []
    for index, entry in enumerate(context):
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("description"), str)
            and isinstance(entry.get("value"), str)
        ):
            raise BadInput(f"context[{index}] must be {{description, value}} strings", "context")
        notes.append(f"{entry['description']}: {entry['value']}")
    return thread_id, run_id, messages, notes


class AGUIRoutes(AgentRoute):
    """`POST /api/ag-ui` answered by `agent`, or by the agent `chat` describes
    (the app's configured provider, role and goal)."""

    default_path = "/api/ag-ui"

    async def answer(self, request: Request) -> Response:
        try:
            body = await read_json(request)
            thread_id, run_id, messages, context = parse_run_input(body)
            history, prompt = split_conversation(messages, self.web)
            if len(orjson.dumps(context)) > self.web.max_task_length:
                raise BadInput(f"context is over {self.web.max_task_length} characters", "context")
            props = body.get("forwardedProps")
            chosen = self.chosen(
                props.get("model") if isinstance(props, dict) else None, "forwardedProps.model"
            )
            if isinstance(chosen, Crew):
                crew = crew_for(chosen, history, "\n\n".join([prompt, *context]))
                encoder = AGUIEvents(thread_id, run_id)
                frames = encode_crew(crew, start_crew(crew), encoder)
            else:
                task = Task(prompt, context=context or None)
                response = start_answer(chosen, task, history)
                encoder = AGUIEvents(
                    thread_id, run_id, provider=chosen.provider.name, model=chosen.model
                )
                frames = encode_answer(chosen, response, encoder)
        except BadInput as error:
            return error_response(400, "invalid_request", error.message, param=error.param)
        return EventStreamResponse(frames, keep_alive=self.web.keep_alive)


def routes(
    agent: Agent | None = None,
    *,
    chat: ChatConfig | None = None,
    web: WebSettings | None = None,
    path: str = "/api/ag-ui",
    agents: Mapping[str, Agent] | None = None,
    crews: Mapping[str, Crew] | None = None,
) -> list[Route]:
    """`POST /api/ag-ui`, to mount in any Starlette app behind `APIGuard`
    (which guards `/api/`). `forwardedProps.model` may name one of `agents`
    or `crews`."""
    return AGUIRoutes(agent, chat=chat, web=web, path=path, agents=agents, crews=crews).routes()
