"""Checking a ChatRequest's messages, tools, tool choice and output shape once,
before any provider turns it into its own format.

Every provider builds its body from what `check_request` returns, so a wrong
tool, message or schema is a ConfigurationError naming it, never a 400 from
the provider after a round trip.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from .._exceptions import ConfigurationError
from .._types import ContentPart, Message
from ..wire import ToolCall
from ._content import check_content
from .base import ChatRequest, OutputSpec, ToolSpec

__all__ = [
    "check_request",
    "function_tools",
    "has_images",
    "text_of",
    "tool_names_by_id",
]

# What OpenAI, Anthropic and Gemini all accept: Gemini wants a letter or an
# underscore first, OpenAI at most 64 characters.
_TOOL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_OUTPUT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ROLES = frozenset(("system", "user", "assistant", "tool"))
_CHOICES = ("auto", "required", "none")


def check_request(request: ChatRequest) -> list[Message]:
    """The request's messages with their content checked (data: URLs made
    into base64 parts); tools, tool_choice and output checked too."""
    _check_tools(request.tools)
    _check_tool_choice(request.tool_choice, request.tools)
    if request.output is not None:
        _check_output(request.output)
    return [_check_message(i, m) for i, m in enumerate(request.messages)]


def function_tools(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    """Tools in the OpenAI shape, which Ollama shares."""
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]


def text_of(content: str | list[ContentPart]) -> str:
    """The text of a message's content (its text parts joined)."""
    if isinstance(content, str):
        return content
    return "".join(p["text"] for p in content if p["type"] == "text")


def has_images(content: str | list[ContentPart]) -> bool:
    return not isinstance(content, str) and any(p["type"] == "image" for p in content)


def tool_names_by_id(messages: Sequence[Message]) -> dict[str, str]:
    """The name of every tool call in the conversation, by its id."""
    return {
        call.id: call.name
        for m in messages
        for call in m.get("tool_calls") or ()
        if call.id is not None
    }


def _check_tools(tools: Sequence[ToolSpec]) -> None:
    if not isinstance(tools, tuple | list):
        raise ConfigurationError(f"tools must be a tuple of ToolSpec, got {type(tools).__name__}")
    seen: set[str] = set()
    for i, tool in enumerate(tools):
        if not isinstance(tool, ToolSpec):
            raise ConfigurationError(
                f"tools[{i}] is a {type(tool).__name__}, not a "
                "laraflowai.providers.ToolSpec(name, description, parameters)"
            )
        if not isinstance(tool.name, str) or not _TOOL_NAME.fullmatch(tool.name):
            raise ConfigurationError(
                f"tool name {tool.name!r} cannot be sent: use 1 to 64 letters, digits, "
                "underscores or dashes, starting with a letter or an underscore"
            )
        if tool.name in seen:
            raise ConfigurationError(f"two tools are named {tool.name!r}: tool names must differ")
        seen.add(tool.name)
        if not isinstance(tool.description, str):
            raise ConfigurationError(f"the description of tool {tool.name!r} must be a string")
        _check_object_schema(f"the parameters of tool {tool.name!r}", tool.parameters)


def _check_tool_choice(choice: str | None, tools: Sequence[ToolSpec]) -> None:
    if choice is None or choice in ("auto", "none"):
        return
    if not isinstance(choice, str):
        raise ConfigurationError(
            f"tool_choice must be 'auto', 'required', 'none' or a tool's name, got {choice!r}"
        )
    if not tools:
        raise ConfigurationError(
            f"tool_choice={choice!r} asks for a tool call, but the request has no tools"
        )
    if choice != "required" and choice not in {t.name for t in tools}:
        raise ConfigurationError(
            f"tool_choice={choice!r} is none of {', '.join(_CHOICES)} and names no tool of "
            f"this request (its tools: {', '.join(t.name for t in tools)})"
        )


def _check_output(output: OutputSpec) -> None:
    if not isinstance(output, OutputSpec):
        raise ConfigurationError(
            f"output must be a laraflowai.providers.OutputSpec(name, schema), "
            f"not {type(output).__name__}"
        )
    if not isinstance(output.name, str) or not _OUTPUT_NAME.fullmatch(output.name):
        raise ConfigurationError(
            f"the output name {output.name!r} cannot be sent: use 1 to 64 letters, digits, "
            "underscores or dashes"
        )
    _check_object_schema(f"the output schema {output.name!r}", output.schema)


def _check_object_schema(what: str, schema: Any) -> None:
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise ConfigurationError(
            f'{what} must be a JSON schema object with "type": "object" '
            '(e.g. {"type": "object", "properties": {...}}), got '
            f"{type(schema).__name__ if not isinstance(schema, dict) else schema.get('type')!r}"
        )
    try:
        json.dumps(schema)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"{what} is not plain JSON: {exc}") from None


def _check_message(i: int, message: Any) -> Message:
    at = f"messages[{i}]"
    if not isinstance(message, dict):
        raise ConfigurationError(
            f"{at} must be a dict such as {{'role': 'user', 'content': '...'}}, "
            f"got {type(message).__name__}"
        )
    role = message.get("role")
    if role not in _ROLES:
        raise ConfigurationError(
            f"{at} has role {role!r}; a role is one of system, user, assistant, tool"
        )
    content = message.get("content")
    if role == "tool":
        _check_tool_message(at, message)
        return message  # type: ignore[return-value]
    if role == "assistant" and content is None and message.get("tool_calls"):
        content = ""
    checked = check_content(f"{at}.content", content)
    if role != "user" and has_images(checked):
        raise ConfigurationError(
            f"{at} is a {role} message with an image: images go in user messages only"
        )
    calls = message.get("tool_calls")
    if calls is not None:
        if role != "assistant":
            raise ConfigurationError(f"{at}: only an assistant message carries tool_calls")
        _check_calls(at, calls)
    if checked is content:
        return message  # type: ignore[return-value]
    return {**message, "content": checked}  # type: ignore[typeddict-item]


def _check_calls(at: str, calls: Any) -> None:
    if not isinstance(calls, list | tuple):
        raise ConfigurationError(f"{at}.tool_calls must be a list of laraflowai.ToolCall")
    for j, call in enumerate(calls):
        if not isinstance(call, ToolCall):
            raise ConfigurationError(
                f"{at}.tool_calls[{j}] is a {type(call).__name__}, not a laraflowai.ToolCall "
                "(index, id, name, arguments): pass the ToolCall the stream gave"
            )
        if not isinstance(call.arguments, dict):
            raise ConfigurationError(
                f"{at}.tool_calls[{j}] ({call.name!r}): arguments must be a dict"
            )


def _check_tool_message(at: str, message: dict[str, Any]) -> None:
    if not isinstance(message.get("content"), str):
        raise ConfigurationError(
            f"{at} is a tool result whose content is not a string: send the tool's output "
            "as text (e.g. json.dumps(result))"
        )
    call_id, name = message.get("tool_call_id"), message.get("name")
    if call_id is not None and not isinstance(call_id, str):
        raise ConfigurationError(f"{at}: tool_call_id must be a string")
    if name is not None and not isinstance(name, str):
        raise ConfigurationError(f"{at}: the tool name must be a string")
    if not isinstance(message.get("is_error", False), bool):
        raise ConfigurationError(f"{at}: is_error must be True or False")
