"""Ollama's native chat API: `POST {OLLAMA_HOST}/api/chat`, newline-delimited JSON.

No key locally; `OLLAMA_API_KEY`, when set, is sent as a bearer token (ollama.com
and authenticating proxies).

https://github.com/ollama/ollama/blob/main/docs/api.md#generate-a-chat-completion
"""

from __future__ import annotations

from typing import Any, ClassVar

from .._config import Settings
from ..wire.ollama import OllamaChatDecoder
from ._options import check_number, check_positive_int
from .base import ChatRequest, HTTPProvider, HTTPRequest

__all__ = ["OllamaProvider"]

_OPTION_NAMES = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "max_tokens": "num_predict",
    "seed": "seed",
    "stop": "stop",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "num_ctx": "num_ctx",
}


class OllamaProvider(HTTPProvider):
    name: ClassVar[str] = "ollama"
    label: ClassVar[str] = "Ollama"
    default_model: ClassVar[str] = "llama3.2"
    default_base_url: ClassVar[str] = "http://localhost:11434"
    requires_api_key: ClassVar[bool] = False

    def __init__(
        self,
        *,
        model: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        settings: Settings,
    ) -> None:
        host = base_url or settings.provider("ollama").base_url
        # OLLAMA_HOST is often written without a scheme ("127.0.0.1:11434").
        if host and "://" not in host:
            host = f"http://{host}"
        super().__init__(model=model, api_key=api_key, base_url=host, settings=settings)

    def build_request(self, request: ChatRequest) -> HTTPRequest:
        options = dict(request.options)
        options.pop("include_usage", None)  # always in the final object
        check_number("temperature", options.get("temperature"), 0, 2)
        check_positive_int("max_tokens", options.get("max_tokens"))
        model_options: dict[str, Any] = {}
        for name, wire_name in _OPTION_NAMES.items():
            if options.get(name) is not None:
                model_options[wire_name] = options.pop(name)
        body: dict[str, Any] = {"model": self.model, "messages": request.messages, "stream": True}
        if model_options:
            body["options"] = model_options
        body.update(options)  # think, tools, format, keep_alive ...
        headers = {"content-type": "application/json", "accept": "application/x-ndjson"}
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        return HTTPRequest("POST", f"{self.base_url}/api/chat", headers, self.encode(body))

    def new_decoder(self) -> OllamaChatDecoder:
        return OllamaChatDecoder(**self.decoder_limits())
