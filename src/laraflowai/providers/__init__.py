"""Providers by name: the seven built in, the embedded model, and your own.

from laraflowai.providers import register_provider
register_provider("mine", MyProvider)      # a Provider subclass or a factory
FlowAI.agent("Writer", "Write", provider="mine")
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .._config import Settings
from .._exceptions import ConfigurationError
from ._content import check_content, image_part
from ._errors import error_class, error_from_reply, error_from_report, parse_retry_after
from .anthropic import AnthropicProvider
from .base import (
    ChatRequest,
    HTTPProvider,
    HTTPRequest,
    InProcessProvider,
    OutputSpec,
    Provider,
    ToolSpec,
)
from .gemini import GeminiProvider
from .ollama import OllamaProvider
from .openai_compat import (
    DeepSeekProvider,
    GrokProvider,
    GroqProvider,
    OpenAICompatibleProvider,
    OpenAIProvider,
)

__all__ = [
    "ChatRequest",
    "HTTPProvider",
    "HTTPRequest",
    "InProcessProvider",
    "OpenAICompatibleProvider",
    "OutputSpec",
    "Provider",
    "check_content",
    "create_provider",
    "default_provider_name",
    "error_class",
    "error_from_reply",
    "error_from_report",
    "image_part",
    "parse_retry_after",
    "provider_names",
    "register_provider",
    "ToolSpec",
    "unregister_provider",
]

ProviderFactory = Callable[..., Provider]


def _local(**kwargs: Any) -> Provider:
    from .local import LocalProvider

    return LocalProvider(**kwargs)


_lock = threading.Lock()
_registry: dict[str, ProviderFactory] = {
    "openai": OpenAIProvider,
    "anthropic": AnthropicProvider,
    "gemini": GeminiProvider,
    "ollama": OllamaProvider,
    "grok": GrokProvider,
    "deepseek": DeepSeekProvider,
    "groq": GroqProvider,
    "local": _local,
}
# Looked for, in this order, when no provider is named and none is the default.
_KEYED = ("openai", "anthropic", "gemini", "grok", "deepseek", "groq")


def register_provider(name: str, factory: ProviderFactory, *, replace: bool = False) -> None:
    """Make `factory` (a Provider subclass, or a callable returning a Provider)
    available as `provider=name`. It is called with keyword arguments `model`,
    `settings` and, when given, `api_key` and `base_url`."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigurationError("a provider name must be a non-empty string")
    if not callable(factory):
        raise ConfigurationError(f"provider {name!r}: the factory must be callable")
    key = name.strip().lower()
    with _lock:
        if key in _registry and not replace:
            raise ConfigurationError(
                f"a provider named {key!r} is already registered; pass replace=True to override it"
            )
        _registry[key] = factory


def unregister_provider(name: str) -> None:
    with _lock:
        _registry.pop(name.strip().lower(), None)


def provider_names() -> list[str]:
    return sorted(_registry)


def default_provider_name(settings: Settings) -> str:
    """LARAFLOWAI_DEFAULT_PROVIDER, else the first provider with a key set, else
    the embedded offline model."""
    if settings.default_provider:
        return settings.default_provider.lower()
    for name in _KEYED:
        if name in _registry and settings.provider(name).api_key:
            return name
    return "local"


def create_provider(
    name: str | None,
    settings: Settings,
    *,
    model: str | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
) -> Provider:
    if name is None:
        name = default_provider_name(settings)
    if not isinstance(name, str) or not name.strip():
        raise ConfigurationError("provider must be a non-empty string such as 'openai'")
    key = name.strip().lower()
    factory = _registry.get(key)
    if factory is None:
        raise ConfigurationError(
            f"unknown provider {name!r}; available: {', '.join(provider_names())} "
            "(register your own with laraflowai.providers.register_provider)"
        )
    kwargs: dict[str, Any] = {"model": model, "settings": settings}
    if api_key is not None:
        kwargs["api_key"] = api_key
    if base_url is not None:
        kwargs["base_url"] = base_url
    try:
        provider = factory(**kwargs)
    except TypeError as exc:
        if "api_key" in kwargs or "base_url" in kwargs:
            raise ConfigurationError(
                f"provider {key!r} does not take api_key or base_url: {exc}"
            ) from None
        raise
    if not isinstance(provider, Provider):
        raise ConfigurationError(
            f"provider {key!r}: the factory returned {type(provider).__name__}, not a Provider"
        )
    return provider
