"""The errors laraflowai raises.

    LaraFlowAIError                 base; every error carries `partial_content`
    ├── ConfigurationError          bad settings or arguments, refused before any request
    ├── ProviderError               the provider refused or failed
    │   ├── AuthenticationError     missing, wrong or unauthorised API key (401, 403)
    │   ├── RateLimitError          429; `retry_after` in seconds when the provider said
    │   │   └── QuotaExceededError  out of credits or quota: retrying will not help
    │   ├── ProviderOverloadedError 503, 529, "overloaded" in the stream
    │   ├── InvalidRequestError     the request itself is wrong (400, 404, 422)
    │   ├── ContentBlockedError     a safety filter withheld the prompt or the answer
    │   └── ProviderConnectionError the provider could not be reached
    ├── StreamInterruptedError      the connection ended before the provider said it was done
    └── StreamTimeoutError          a time limit was hit; `limit` says which

Messages never contain API keys: every message and error body passes through
`_secrets.redact`.
"""

from __future__ import annotations

from typing import Any

from ._secrets import redact, redact_value

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "ContentBlockedError",
    "InvalidRequestError",
    "LaraFlowAIError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderOverloadedError",
    "QuotaExceededError",
    "RateLimitError",
    "StreamInterruptedError",
    "StreamTimeoutError",
]


class LaraFlowAIError(Exception):
    """Base of every laraflowai error. `partial_content` is the answer text
    streamed before the failure ("" when nothing arrived)."""

    def __init__(self, message: str, *, partial_content: str = "") -> None:
        self.message = redact(message)
        self.partial_content = partial_content
        super().__init__(self.message)

    def __str__(self) -> str:
        if self.partial_content:
            return f"{self.message} ({len(self.partial_content)} characters arrived before this)"
        return self.message


class ConfigurationError(LaraFlowAIError, ValueError):
    """A setting or argument is missing or wrong; nothing was sent to any provider."""


class ProviderError(LaraFlowAIError):
    """The provider answered with an error, or could not be used.

    Carries the provider's name and model, the HTTP status, the request id and
    the provider's error body (decoded JSON, secrets masked) for inspection.
    """

    retryable_by_default = True

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
        body: Any = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
        partial_content: str = "",
    ) -> None:
        super().__init__(message, partial_content=partial_content)
        self.provider = provider
        self.model = model
        self.status_code = status_code
        self.request_id = request_id
        self.body = redact_value(body)
        self.retry_after = retry_after
        self.retryable = self.retryable_by_default if retryable is None else retryable

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, provider={self.provider!r}, "
            f"model={self.model!r}, status_code={self.status_code!r})"
        )


class AuthenticationError(ProviderError):
    retryable_by_default = False


class RateLimitError(ProviderError):
    pass


class QuotaExceededError(RateLimitError):
    retryable_by_default = False


class ProviderOverloadedError(ProviderError):
    pass


class InvalidRequestError(ProviderError):
    retryable_by_default = False


class ContentBlockedError(ProviderError):
    retryable_by_default = False


class ProviderConnectionError(ProviderError):
    pass


class StreamInterruptedError(LaraFlowAIError):
    """The connection was lost before the provider said the answer was complete."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        partial_content: str = "",
    ) -> None:
        super().__init__(message, partial_content=partial_content)
        self.provider = provider
        self.model = model


class StreamTimeoutError(LaraFlowAIError):
    """A time limit was hit. `limit` is "total" (the whole stream), "idle" (silence
    between chunks) or "first_chunk"; `seconds` is the limit that was hit."""

    def __init__(
        self,
        message: str,
        *,
        limit: str,
        seconds: float,
        provider: str | None = None,
        model: str | None = None,
        partial_content: str = "",
    ) -> None:
        super().__init__(message, partial_content=partial_content)
        self.limit = limit
        self.seconds = seconds
        self.provider = provider
        self.model = model
