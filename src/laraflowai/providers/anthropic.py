"""Anthropic Messages API: `POST {base_url}/v1/messages` with `stream: true`.

https://docs.anthropic.com/en/api/messages-streaming (the events),
https://docs.anthropic.com/en/api/errors (error replies and in-stream errors).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..wire.anthropic import AnthropicMessagesDecoder
from ._options import check_number, check_positive_int, split_system
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
        system, messages = split_system(request.messages)
        max_tokens = check_positive_int("max_tokens", options.pop("max_tokens", None))
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": max_tokens or DEFAULT_MAX_TOKENS,
            "messages": messages,
            "stream": True,
        }
        if system:
            body["system"] = system
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
