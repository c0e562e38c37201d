"""Google Gemini API: `POST {base_url}/models/{model}:streamGenerateContent?alt=sse`.

The key travels in the `x-goog-api-key` header, never in the URL, so it cannot
end up in a log line or an error message that quotes the URL.

https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent
https://ai.google.dev/gemini-api/docs/troubleshooting (error codes)
https://ai.google.dev/api/caching#Content (parts: functionCall, functionResponse, inlineData)
https://ai.google.dev/gemini-api/docs/function-calling (tools, toolConfig)
https://ai.google.dev/gemini-api/docs/structured-output (responseJsonSchema)
"""

from __future__ import annotations

import re
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from .._exceptions import ConfigurationError
from .._types import ContentPart, ImagePart, Message
from ..wire.gemini import GeminiStreamDecoder
from ._options import check_number, check_positive_int, split_system
from ._request import check_request, tool_names_by_id
from .base import ChatRequest, HTTPProvider, HTTPRequest

__all__ = ["GeminiProvider"]

_ROLES = {"user": "user", "assistant": "model", "tool": "user"}
_MODES = {"auto": "AUTO", "required": "ANY", "none": "NONE"}
_EXTENSIONS = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
# Gemini 3 models refuse a functionCall part of the current turn without the
# thoughtSignature the model sent with it. A tool loop sends back the one it
# received (the message's `reasoning`); a history without it carries the value
# Google documents for calls whose signature is not at hand
# (https://ai.google.dev/gemini-api/docs/thought-signatures#faqs); 1.x and 2.x
# models do not check signatures and are sent none.
_NO_SIGNATURE = "skip_thought_signature_validator"
_UNSIGNED_MODELS = re.compile(r"(models/)?(gemini-[12]\.|gemma-)")
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
        system, messages = split_system(check_request(request))
        signed = not _UNSIGNED_MODELS.match(self.model)
        body: dict[str, Any] = {"contents": _contents(messages, signed)}
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        if request.tools:
            declarations = [
                {"name": t.name, "description": t.description, "parametersJsonSchema": t.parameters}
                for t in request.tools
            ]
            body["tools"] = [{"functionDeclarations": declarations}]
        if request.tool_choice is not None and request.tools:
            calling: dict[str, Any] = {"mode": _MODES.get(request.tool_choice, "ANY")}
            if request.tool_choice not in _MODES:
                calling["allowedFunctionNames"] = [request.tool_choice]
            body["toolConfig"] = {"functionCallingConfig": calling}
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
        if request.output is not None:
            config["responseMimeType"] = "application/json"
            config["responseJsonSchema"] = request.output.schema
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


def _contents(messages: list[Message], signed: bool) -> list[dict[str, Any]]:
    """The conversation as Gemini contents: an assistant's calls as
    `functionCall` parts of its `model` turn, the results that answer them as
    `functionResponse` parts of ONE `user` turn."""
    contents: list[dict[str, Any]] = []
    names: dict[str, str] | None = None
    results: list[dict[str, Any]] | None = None
    for message in messages:
        role = message["role"]
        if role == "tool":
            if names is None:
                names = tool_names_by_id(messages)
            response = _function_response(message, names)
            if results is None:
                results = [response]
                contents.append({"role": "user", "parts": results})
            else:
                results.append(response)
            continue
        results = None
        content = message["content"]
        parts: list[dict[str, Any]] = (
            [{"text": content}] if isinstance(content, str) else _parts(content)
        )
        calls = message.get("tool_calls")
        if calls:
            parts = [p for p in parts if p.get("text") != ""]
            for i, call in enumerate(calls):
                function: dict[str, Any] = {"name": call.name, "args": call.arguments}
                if call.id is not None:
                    function["id"] = call.id
                part: dict[str, Any] = {"functionCall": function}
                if i == 0:
                    sealed = message.get("reasoning")
                    if sealed:  # the signature the model sent with this call
                        part["thoughtSignature"] = sealed[-1]["signature"]
                    elif signed:
                        part["thoughtSignature"] = _NO_SIGNATURE
                parts.append(part)
        contents.append({"role": _ROLES[role], "parts": parts})
    return contents


def _function_response(message: Message, names: dict[str, str]) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    name = message.get("name") or (names.get(call_id) if call_id else None)
    if not name:
        raise ConfigurationError(
            "a tool result has neither a name nor the tool_call_id of an earlier call: "
            "Gemini needs the name of the function it answers; add 'name'"
        )
    # `output` and `error` are the keys the API documents for a result and a failure.
    key = "error" if message.get("is_error") else "output"
    response: dict[str, Any] = {"name": name, "response": {key: message["content"]}}
    if call_id:
        response["id"] = call_id
    return {"functionResponse": response}


def _parts(content: list[ContentPart]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for part in content:
        if part["type"] == "text":
            parts.append({"text": part["text"]})
        elif "url" in part:
            parts.append({"fileData": {"mimeType": _url_type(part), "fileUri": part["url"]}})
        else:
            parts.append({"inlineData": {"mimeType": part["media_type"], "data": part["data"]}})
    return parts


def _url_type(part: ImagePart) -> str:
    # Gemini fetches public http(s) URLs itself, but needs their type up front.
    if "media_type" in part:
        return part["media_type"]
    path = urlsplit(part["url"]).path.lower()
    for extension, media_type in _EXTENSIONS.items():
        if path.endswith(extension):
            return media_type
    raise ConfigurationError(
        f"Gemini needs the type of the image at {part['url'][:80]!r}: pass "
        "image_part(url, media_type='image/png') (or jpeg, gif, webp), or the image's bytes"
    )
