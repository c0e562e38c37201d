"""The OpenAI Chat Completions family: OpenAI, xAI Grok, DeepSeek, Groq, and any
compatible server (vLLM, llama.cpp, LM Studio, gateways) through `base_url`.

https://platform.openai.com/docs/api-reference/chat-streaming (the chunks),
https://docs.x.ai/docs/api-reference, https://api-docs.deepseek.com/api/create-chat-completion,
https://console.groq.com/docs/api-reference#chat-create (each one's differences).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..wire.openai import OpenAIChatDecoder
from ._options import check_number, check_positive_int
from .base import ChatRequest, HTTPProvider, HTTPRequest

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

    def build_request(self, request: ChatRequest) -> HTTPRequest:
        body: dict[str, Any] = {"model": self.model, "messages": request.messages, "stream": True}
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
    name = "deepseek"
    label = "DeepSeek"
    default_model = "deepseek-chat"
    default_base_url = "https://api.deepseek.com"


class GroqProvider(OpenAICompatibleProvider):
    name = "groq"
    label = "Groq"
    default_model = "llama-3.3-70b-versatile"
    default_base_url = "https://api.groq.com/openai/v1"
