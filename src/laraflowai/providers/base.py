"""What a provider is: how to speak to it, not how to send.

An `HTTPProvider` only builds the request (URL, headers, body), names its wire
decoder and turns an error reply into a typed error; `streaming/_http.py` does
the network part for every one of them, sync and async alike. An
`InProcessProvider` (the embedded model, test doubles) produces events itself.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx2 as httpx

from .._config import Settings
from .._exceptions import ConfigurationError, ProviderError
from .._types import Message, Options
from ..wire import Event, StreamDecoder
from ._errors import error_from_reply

__all__ = [
    "ChatRequest",
    "HTTPProvider",
    "HTTPRequest",
    "InProcessProvider",
    "OutputSpec",
    "Provider",
    "ToolSpec",
]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool the model may call: its name, what it does, and its arguments'
    JSON schema (an object schema)."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """The answer must be one JSON value matching `schema` (an object schema),
    named `name` where the provider wants a name."""

    name: str
    schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One conversation to answer: the messages, the generation options, the
    tools the model may call (`tool_choice`: "auto", "required", "none" or a
    tool's name; None leaves the provider's default) and the shape the answer
    must have."""

    messages: list[Message]
    options: Options = field(default_factory=dict)
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: str | None = None
    output: OutputSpec | None = None


@dataclass(frozen=True, slots=True)
class HTTPRequest:
    method: str
    url: str
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)


class Provider(ABC):
    """Base of every provider. Subclasses set `name`, `label` and `default_model`."""

    name: ClassVar[str]
    label: ClassVar[str]
    default_model: ClassVar[str]

    def __init__(self, *, model: str | None = None, settings: Settings) -> None:
        self.settings = settings
        configured = settings.provider(self.name).model
        self.model = _clean("model", model) or configured or self.default_model

    def __repr__(self) -> str:
        return f"<{type(self).__name__} model={self.model!r}>"

    def check(self, request: ChatRequest) -> None:  # noqa: B027 (optional hook)
        """Raise ConfigurationError if `request` cannot be sent (bad options)."""


class HTTPProvider(Provider):
    """A provider reached over HTTP. Subclasses say where and how to ask."""

    default_base_url: ClassVar[str]
    requires_api_key: ClassVar[bool] = True

    def __init__(
        self,
        *,
        model: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        settings: Settings,
    ) -> None:
        super().__init__(model=model, settings=settings)
        configured = settings.provider(self.name)
        self.api_key = _clean("api_key", api_key) or configured.api_key
        self.key_variable = configured.key_variable
        if self.api_key is not None and not (self.api_key.isascii() and self.api_key.isprintable()):
            # Never shown, not even in part: only where it came from.
            raise ConfigurationError(
                f"the {self.label} API key ({self.key_variable} or api_key=) holds characters an "
                "HTTP header cannot carry (non-ASCII, spaces or control characters): check that "
                "it was copied whole and nothing else with it"
            )
        self.base_url = _base_url(
            _clean("base_url", base_url) or configured.base_url or self.default_base_url,
            self.label,
        )
        # A custom base URL is often a local or self-hosted server that needs no key.
        needs_key = self.requires_api_key and self.base_url == _base_url(self.default_base_url, "")
        if needs_key and not self.api_key:
            raise ConfigurationError(
                f"{self.label} needs an API key: set {self.key_variable} in the environment "
                f"or a .env file, or pass api_key=... to FlowAI.agent()"
            )
        from .._secrets import remember

        remember(self.api_key)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} model={self.model!r} base_url={self.base_url!r}>"

    def check(self, request: ChatRequest) -> None:
        try:
            self.build_request(request)
        except (TypeError, ValueError) as exc:  # an option that is not a JSON value
            if isinstance(exc, ConfigurationError):
                raise
            raise ConfigurationError(
                f"the options for {self.label} must be JSON values (numbers, strings, lists, "
                f"dicts): {exc}"
            ) from None

    @abstractmethod
    def build_request(self, request: ChatRequest) -> HTTPRequest: ...

    @abstractmethod
    def new_decoder(self) -> StreamDecoder: ...

    def decoder_limits(self) -> dict[str, int]:
        """The size limits a wire decoder enforces, from the settings."""
        return {
            "max_event_size": self.settings.max_event_size,
            "max_tool_arguments_size": self.settings.max_tool_arguments_size,
        }

    def error_from_reply(
        self, status: int, headers: Mapping[str, str], body: bytes
    ) -> ProviderError:
        """The typed error for a non-2xx reply."""
        return error_from_reply(self, status, headers, body)

    @staticmethod
    def encode(body: dict[str, Any]) -> bytes:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


class InProcessProvider(Provider):
    """A provider that produces events itself, without HTTP."""

    @abstractmethod
    def iter_events(self, request: ChatRequest) -> Iterator[Event]: ...

    @abstractmethod
    def aiter_events(self, request: ChatRequest) -> AsyncIterator[Event]: ...


def _clean(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a string, got {type(value).__name__}")
    return value.strip() or None


def _base_url(url: str, label: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(
            f"the {label} base URL must start with http:// or https://, got {url!r}"
        )
    try:
        parsed = httpx.URL(url)
        valid = bool(parsed.host) and not any(c.isspace() for c in url)
    except (httpx.InvalidURL, ValueError, UnicodeError):
        valid = False
    if not valid:
        raise ConfigurationError(
            f"the {label} base URL {url!r} is not a valid URL: it needs a host (and a port "
            "from 1 to 65535 if any), with no spaces, e.g. https://my-gateway.example/v1"
        )
    return url.rstrip("/")
