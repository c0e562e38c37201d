"""The OpenAI Chat Completions family: OpenAI, xAI Grok, DeepSeek, Groq, and any
compatible server (vLLM, llama.cpp, LM Studio, gateways) through `base_url`.

https://platform.openai.com/docs/api-reference/chat-streaming (the chunks),
https://docs.x.ai/docs/api-reference, https://api-docs.deepseek.com/api/create-chat-completion,
https://console.groq.com/docs/api-reference#chat-create (each one's differences).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal

from .._exceptions import ConfigurationError
from .._types import ContentPart, Message
from ..wire.openai import OpenAIChatDecoder
from ._content import image_url
from ._options import check_number, check_positive_int
from ._request import check_request, function_tools
from ._schema import openai_strict
from .base import ChatRequest, HTTPProvider, HTTPRequest, OutputSpec

__all__ = [
    "DeepSeekProvider",
    "GrokProvider",
    "GroqProvider",
    "OpenAICompatibleProvider",
    "OpenAIProvider",
]

# Options we check before sending, because a wrong one costs a round trip.
_NUMBER_OPTIONS = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}


class OpenAICompatibleProvider(HTTPProvider):
    """Speaks `POST {base_url}/chat/completions` with `stream: true`."""

    name: ClassVar[str] = "openai-compatible"
    label: ClassVar[str] = "OpenAI-compatible server"
    default_model: ClassVar[str] = "gpt-4o-mini"
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"
    max_tokens_field: ClassVar[str] = "max_tokens"
    # How `ChatRequest.output` is asked for: "json_schema" (Structured Outputs,
    # `strict` when the schema allows it), "json_schema_loose" (never strict),
    # or "json_object" (JSON mode, the schema shown in a system message).
    output_mode: ClassVar[Literal["json_schema", "json_schema_loose", "json_object"]] = (
        "json_schema"
    )

    def build_request(self, request: ChatRequest) -> HTTPRequest:
        messages = [_message(m) for m in check_request(request)]
        body: dict[str, Any] = {"model": self.model, "messages": messages, "stream": True}
        if request.tools:
            body["tools"] = function_tools(request.tools)
        if request.tool_choice is not None and request.tools:
            body["tool_choice"] = _tool_choice(request.tool_choice)
        if request.output is not None:
            self._ask_for_output(body, request.output)
        options = dict(request.options)
        include_usage = options.pop("include_usage", True)
        if include_usage:
            body["stream_options"] = {"include_usage": True}
        max_tokens = check_positive_int("max_tokens", options.pop("max_tokens", None))
        if max_tokens is not None:
            body[self.max_tokens_field] = max_tokens
        for key, (low, high) in _NUMBER_OPTIONS.items():
            check_number(key, options.get(key), low, high)
        body.update(options)
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
        }
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return HTTPRequest("POST", f"{self.base_url}/chat/completions", headers, self.encode(body))

    def new_decoder(self) -> OpenAIChatDecoder:
        return OpenAIChatDecoder(**self.decoder_limits())

    def _ask_for_output(self, body: dict[str, Any], output: OutputSpec) -> None:
        if self.output_mode == "json_object":
            schema = json.dumps(output.schema, ensure_ascii=False)
            instruction = {
                "role": "system",
                "content": "Answer with one JSON object, and nothing else, that matches this "
                f"JSON schema:\n{schema}",
            }
            messages = body["messages"]
            at = next((i for i, m in enumerate(messages) if m["role"] != "system"), len(messages))
            body["messages"] = [*messages[:at], instruction, *messages[at:]]
            body["response_format"] = {"type": "json_object"}
            return
        strict = self.output_mode == "json_schema" and openai_strict(output.schema)
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": output.name, "schema": output.schema, "strict": strict},
        }


def _tool_choice(choice: str) -> Any:
    if choice in ("auto", "required", "none"):
        return choice
    return {"type": "function", "function": {"name": choice}}


def _message(message: Message) -> dict[str, Any]:
    """One message in the Chat Completions shape
    (https://platform.openai.com/docs/api-reference/chat/create#chat-create-messages)."""
    role, content = message["role"], message["content"]
    if role == "tool":
        call_id = message.get("tool_call_id")
        if not call_id:
            raise ConfigurationError(
                f"a tool result ({message.get('name') or 'unnamed'}) has no tool_call_id: "
                "OpenAI-compatible servers match results to calls by id; give it the id of "
                "the ToolCall it answers"
            )
        return {"role": "tool", "tool_call_id": call_id, "content": content}
    calls = message.get("tool_calls")
    if calls is not None and not calls:
        message = {k: v for k, v in message.items() if k != "tool_calls"}  # type: ignore[assignment]
    if calls:
        wire_calls = []
        for call in calls:
            if not call.id:
                raise ConfigurationError(
                    f"the tool call {call.name!r} has no id: OpenAI-compatible servers need "
                    "one on every call (and the same tool_call_id on its result)"
                )
            arguments = json.dumps(call.arguments, ensure_ascii=False, separators=(",", ":"))
            wire_calls.append(
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": arguments},
                }
            )
        text = _content(content)
        return {"role": "assistant", "content": text or None, "tool_calls": wire_calls}
    if isinstance(content, str):
        return message  # type: ignore[return-value]
    return {**message, "content": _content(content)}


def _content(content: str | list[ContentPart]) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for part in content:
        if part["type"] == "text":
            parts.append({"type": "text", "text": part["text"]})
        else:
            parts.append({"type": "image_url", "image_url": {"url": image_url(part)}})
    return parts


class OpenAIProvider(OpenAICompatibleProvider):
    name = "openai"
    label = "OpenAI"
    default_model = "gpt-4o-mini"
    default_base_url = "https://api.openai.com/v1"

    @property
    def max_tokens_field(self) -> str:  # type: ignore[override]
        # api.openai.com wants the newer name (o-series refuse `max_tokens`);
        # compatible servers behind a custom base URL mostly know only the old one.
        return "max_completion_tokens" if self.base_url == self.default_base_url else "max_tokens"


class GrokProvider(OpenAICompatibleProvider):
    name = "grok"
    label = "xAI Grok"
    default_model = "grok-3-mini"
    default_base_url = "https://api.x.ai/v1"


class DeepSeekProvider(OpenAICompatibleProvider):
    # DeepSeek has JSON mode only (https://api-docs.deepseek.com/guides/json_mode).
    output_mode = "json_object"
    name = "deepseek"
    label = "DeepSeek"
    default_model = "deepseek-chat"
    default_base_url = "https://api.deepseek.com"


class GroqProvider(OpenAICompatibleProvider):
    # Groq's strict mode runs on a few models only and the others answer 400:
    # its best-effort mode (strict false) works everywhere.
    output_mode = "json_schema_loose"
    name = "groq"
    label = "Groq"
    default_model = "llama-3.3-70b-versatile"
    default_base_url = "https://api.groq.com/openai/v1"
