"""Anthropic Messages API: `POST {base_url}/v1/messages` with `stream: true`.

https://docs.anthropic.com/en/api/messages-streaming (the events),
https://docs.anthropic.com/en/api/errors (error replies and in-stream errors),
https://docs.claude.com/en/docs/agents-and-tools/tool-use/implement-tool-use (tools),
https://docs.claude.com/en/docs/build-with-claude/vision (images),
https://docs.claude.com/en/docs/build-with-claude/structured-outputs (`output_config`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from .._exceptions import ConfigurationError
from .._types import ContentPart, Message, ReasoningBlock
from ..wire.anthropic import AnthropicMessagesDecoder
from ._options import check_number, check_positive_int, split_system
from ._request import check_request
from ._schema import anthropic_schema
from .base import ChatRequest, HTTPProvider, HTTPRequest

__all__ = ["AnthropicProvider"]

API_VERSION = "2023-06-01"
# The API requires max_tokens; this is enough for a long answer from any current model.
DEFAULT_MAX_TOKENS = 4096


class AnthropicProvider(HTTPProvider):
    name: ClassVar[str] = "anthropic"
    label: ClassVar[str] = "Anthropic"
    default_model: ClassVar[str] = "claude-sonnet-4-5"
    default_base_url: ClassVar[str] = "https://api.anthropic.com"

    def build_request(self, request: ChatRequest) -> HTTPRequest:
        options = dict(request.options)
        options.pop("include_usage", None)  # always streamed by Anthropic
        system, messages = split_system(check_request(request))
        max_tokens = check_positive_int("max_tokens", options.pop("max_tokens", None))
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": max_tokens or DEFAULT_MAX_TOKENS,
            "messages": _messages(messages),
            "stream": True,
        }
        if system:
            body["system"] = system
        if request.tools:
            body["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in request.tools
            ]
        if request.tool_choice is not None and request.tools:
            body["tool_choice"] = _tool_choice(request.tool_choice)
        if request.output is not None:
            schema = anthropic_schema(request.output.schema, request.output.name)
            body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        check_number("temperature", options.get("temperature"), 0, 1)
        check_number("top_p", options.get("top_p"), 0, 1)
        stop = options.pop("stop", None)
        if stop is not None:
            body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
        budget = options.pop("thinking_budget", None)
        if budget is not None:
            check_positive_int("thinking_budget", budget)
            body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        body.update(options)
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream",
            "anthropic-version": API_VERSION,
        }
        if self.api_key:
            headers["x-api-key"] = self.api_key
        return HTTPRequest("POST", f"{self.base_url}/v1/messages", headers, self.encode(body))

    def new_decoder(self) -> AnthropicMessagesDecoder:
        return AnthropicMessagesDecoder(**self.decoder_limits())


def _tool_choice(choice: str) -> dict[str, str]:
    if choice == "required":
        return {"type": "any"}
    if choice in ("auto", "none"):
        return {"type": choice}
    return {"type": "tool", "name": choice}


def _messages(messages: list[Message]) -> list[dict[str, Any]]:
    """The conversation in the Messages API shape: tool calls as `tool_use`
    blocks of the assistant's message, and the results of one turn's calls as
    `tool_result` blocks of ONE user message (a user message right after them
    joins it, after the results)."""
    out: list[dict[str, Any]] = []
    results: list[dict[str, Any]] | None = None
    for message in messages:
        role = message["role"]
        if role == "tool":
            block = _tool_result(message)
            if results is None:
                results = [block]
                out.append({"role": "user", "content": results})
            else:
                results.append(block)
            continue
        if role == "user" and results is not None:
            results.extend(_blocks(message["content"]))
            results = None
            continue
        results = None
        calls = message.get("tool_calls")
        if calls:
            # Thinking comes first, sealed as it was streamed: the API checks it.
            blocks = [_thinking(block) for block in message.get("reasoning", ())]
            blocks += _blocks(message["content"])
            for call in calls:
                if not call.id:
                    raise ConfigurationError(
                        f"the tool call {call.name!r} has no id: Anthropic matches each "
                        "tool_result to its tool_use by id; give both the same id"
                    )
                blocks.append(
                    {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
                )
            out.append({"role": "assistant", "content": blocks})
        elif isinstance(message["content"], str) and len(message) == 2:
            out.append(message)  # type: ignore[arg-type]
        else:
            out.append({"role": role, "content": _content(message["content"])})
    return out


def _thinking(block: ReasoningBlock) -> dict[str, Any]:
    if block["redacted"]:
        return {"type": "redacted_thinking", "data": block["signature"]}
    return {"type": "thinking", "thinking": block["text"], "signature": block["signature"]}


def _tool_result(message: Message) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    if not call_id:
        raise ConfigurationError(
            f"a tool result ({message.get('name') or 'unnamed'}) has no tool_call_id: "
            "Anthropic needs the id of the tool_use it answers"
        )
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
    block["content"] = message["content"]
    if message.get("is_error"):
        block["is_error"] = True
    return block


def _content(content: str | list[ContentPart]) -> str | list[dict[str, Any]]:
    return content if isinstance(content, str) else _blocks(content)


def _blocks(content: str | list[ContentPart]) -> list[dict[str, Any]]:
    """Content blocks; empty text is left out (the API refuses an empty text block)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for part in content:
        if part["type"] == "text":
            if part["text"]:
                blocks.append({"type": "text", "text": part["text"]})
        elif "url" in part:
            blocks.append({"type": "image", "source": {"type": "url", "url": part["url"]}})
        else:
            source = {"type": "base64", "media_type": part["media_type"], "data": part["data"]}
            blocks.append({"type": "image", "source": source})
    return blocks
