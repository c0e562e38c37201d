"""Ollama's native chat API: `POST {OLLAMA_HOST}/api/chat`, newline-delimited JSON.

No key locally; `OLLAMA_API_KEY`, when set, is sent as a bearer token (ollama.com
and authenticating proxies).

https://github.com/ollama/ollama/blob/main/docs/api.md#generate-a-chat-completion
(messages with `images`, `tool_calls` and `tool_name`; `tools`; `format` as a JSON schema)
"""

from __future__ import annotations

from typing import Any, ClassVar

from .._config import Settings
from .._exceptions import ConfigurationError
from .._types import Message
from ..wire.ollama import OllamaChatDecoder
from ._options import check_number, check_positive_int
from ._request import check_request, function_tools, text_of, tool_names_by_id
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
        messages = _messages(check_request(request))
        body: dict[str, Any] = {"model": self.model, "messages": messages, "stream": True}
        if request.tool_choice not in (None, "auto", "none"):
            raise ConfigurationError(
                f"Ollama cannot be made to call a tool (tool_choice={request.tool_choice!r}): "
                "leave tool_choice unset or 'auto' and ask for the tool in the prompt, or use "
                "a provider that can (openai, anthropic, gemini)"
            )
        if request.tools and request.tool_choice != "none":
            body["tools"] = function_tools(request.tools)
        if request.output is not None:
            body["format"] = request.output.schema
        if model_options:
            body["options"] = model_options
        body.update(options)  # think, tools, format, keep_alive ...
        headers = {"content-type": "application/json", "accept": "application/x-ndjson"}
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        return HTTPRequest("POST", f"{self.base_url}/api/chat", headers, self.encode(body))

    def new_decoder(self) -> OllamaChatDecoder:
        return OllamaChatDecoder(**self.decoder_limits())


def _messages(messages: list[Message]) -> list[dict[str, Any]]:
    names: dict[str, str] | None = None
    out: list[dict[str, Any]] = []
    for message in messages:
        role, content = message["role"], message["content"]
        if role == "tool":
            name = message.get("name")
            if not name:
                if names is None:
                    names = tool_names_by_id(messages)
                call_id = message.get("tool_call_id")
                name = names.get(call_id) if call_id else None
            if not name:
                raise ConfigurationError(
                    "a tool result has neither a name nor the tool_call_id of an earlier "
                    "call: Ollama needs the name of the tool it answers; add 'name'"
                )
            out.append({"role": "tool", "tool_name": name, "content": content})
            continue
        calls = message.get("tool_calls")
        if isinstance(content, str) and not calls and "tool_calls" not in message:
            out.append(message)  # type: ignore[arg-type]
            continue
        converted: dict[str, Any] = {"role": role, "content": text_of(content)}
        if not isinstance(content, str):
            images = [_image_data(part) for part in content if part["type"] == "image"]
            if images:
                converted["images"] = images
        if calls:
            converted["tool_calls"] = [
                {"function": {"name": call.name, "arguments": call.arguments}} for call in calls
            ]
        out.append(converted)
    return out


def _image_data(part: Any) -> str:
    if "data" not in part:
        raise ConfigurationError(
            f"Ollama takes images as data, not URLs ({part['url'][:80]!r}): download it "
            "and pass its bytes or file path to laraflowai.providers.image_part()"
        )
    data: str = part["data"]
    return data
