"""Google Gemini API: `POST {base_url}/models/{model}:streamGenerateContent?alt=sse`.

The key travels in the `x-goog-api-key` header, never in the URL, so it cannot
end up in a log line or an error message that quotes the URL.

https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent
https://ai.google.dev/gemini-api/docs/troubleshooting (error codes)
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from ..wire.gemini import GeminiStreamDecoder
from ._options import check_number, check_positive_int, split_system
from .base import ChatRequest, HTTPProvider, HTTPRequest

__all__ = ["GeminiProvider"]

_ROLES = {"user": "user", "assistant": "model", "tool": "user"}
_CONFIG_NAMES = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "max_tokens": "maxOutputTokens",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
}


class GeminiProvider(HTTPProvider):
    name: ClassVar[str] = "gemini"
    label: ClassVar[str] = "Google Gemini"
    default_model: ClassVar[str] = "gemini-2.5-flash"
    default_base_url: ClassVar[str] = "https://generativelanguage.googleapis.com/v1beta"

    def build_request(self, request: ChatRequest) -> HTTPRequest:
        options = dict(request.options)
        options.pop("include_usage", None)  # always sent by Gemini
        system, messages = split_system(request.messages)
        body: dict[str, Any] = {
            "contents": [
                {"role": _ROLES.get(m["role"], "user"), "parts": [{"text": m["content"]}]}
                for m in messages
            ]
        }
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        check_number("temperature", options.get("temperature"), 0, 2)
        check_number("top_p", options.get("top_p"), 0, 1)
        check_positive_int("max_tokens", options.get("max_tokens"))
        config: dict[str, Any] = {}
        for name, wire_name in _CONFIG_NAMES.items():
            if options.get(name) is not None:
                config[wire_name] = options.pop(name)
        stop = options.pop("stop", None)
        if stop is not None:
            config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
        budget = options.pop("thinking_budget", None)
        include_thoughts = options.pop("include_thoughts", None)
        if budget is not None or include_thoughts is not None:
            thinking: dict[str, Any] = {"includeThoughts": bool(include_thoughts)}
            if budget is not None:
                thinking["thinkingBudget"] = budget
            config["thinkingConfig"] = thinking
        if config:
            body["generationConfig"] = config
        body.update(options)
        headers = {"content-type": "application/json", "accept": "text/event-stream"}
        if self.api_key:
            headers["x-goog-api-key"] = self.api_key
        model = quote(self.model.removeprefix("models/"), safe="-._~")
        url = f"{self.base_url}/models/{model}:streamGenerateContent?alt=sse"
        return HTTPRequest("POST", url, headers, self.encode(body))

    def new_decoder(self) -> GeminiStreamDecoder:
        return GeminiStreamDecoder(**self.decoder_limits())
