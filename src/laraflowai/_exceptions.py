"""The errors laraflowai raises.

    LaraFlowAIError                 base; every error carries `partial_content`
    ├── ConfigurationError          bad settings or arguments, refused before any request
    │   └── InvalidInputError       a web request asks for something it may not (`param` says where)
    ├── ProviderError               the provider refused or failed
    │   ├── AuthenticationError     missing, wrong or unauthorised API key (401, 403)
    │   ├── RateLimitError          429; `retry_after` in seconds when the provider said
    │   │   └── QuotaExceededError  out of credits or quota: retrying will not help
    │   ├── ProviderOverloadedError 503, 529, "overloaded" in the stream
    │   ├── InvalidRequestError     the request itself is wrong (400, 404, 422)
    │   ├── ContentBlockedError     a safety filter withheld the prompt or the answer
    │   └── ProviderConnectionError the provider could not be reached
    ├── StreamInterruptedError      the connection ended before the provider said it was done
    │   └── StreamCancelledError    the stream was cancelled by its reader (close, stop, a crew)
    ├── StreamTimeoutError          a time limit was hit; `limit` says which
    ├── ToolError                   a tool failed and the agent's policy ends the stream
    ├── OutputValidationError       a structured answer does not have the asked-for shape
    ├── CacheError                  the stream cache store could not be used
    └── UnknownStreamError          no stream has this id (the web registry)

Each class names its `kind`, one word shared by the whole package: the wire
decoders classify a provider's error report into a kind, `providers` turns that
kind into its class (`error_class(kind)`), and the web stream tells clients the
kind of the error that ended it.

Messages never contain API keys: every message and error body passes through
`_secrets.redact`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ._secrets import redact, redact_value

__all__ = [
    "AuthenticationError",
    "CacheError",
    "ConfigurationError",
    "ContentBlockedError",
    "InvalidInputError",
    "InvalidRequestError",
    "LaraFlowAIError",
    "OutputValidationError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderOverloadedError",
    "QuotaExceededError",
    "RateLimitError",
    "StreamCancelledError",
    "StreamInterruptedError",
    "StreamTimeoutError",
    "ToolError",
    "UnknownStreamError",
]


class LaraFlowAIError(Exception):
    """Base of every laraflowai error. `partial_content` is the answer text
    streamed before the failure ("" when nothing arrived)."""

    kind: ClassVar[str] = "internal"

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

    kind = "configuration"


class InvalidInputError(ConfigurationError):
    """A web request asks for something it may not; `param` names the field."""

    kind = "invalid_input"

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class ProviderError(LaraFlowAIError):
    """The provider answered with an error, or could not be used.

    Carries the provider's name and model, the HTTP status, the request id and
    the provider's error body (decoded JSON, secrets masked) for inspection.
    """

    kind = "provider"
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
    kind = "authentication"
    retryable_by_default = False


class RateLimitError(ProviderError):
    kind = "rate_limit"


class QuotaExceededError(RateLimitError):
    kind = "quota"
    retryable_by_default = False


class ProviderOverloadedError(ProviderError):
    kind = "overloaded"


class InvalidRequestError(ProviderError):
    kind = "invalid_request"
    retryable_by_default = False


class ContentBlockedError(ProviderError):
    kind = "blocked"
    retryable_by_default = False


class ProviderConnectionError(ProviderError):
    kind = "connection"


class StreamInterruptedError(LaraFlowAIError):
    """The connection was lost before the provider said the answer was complete."""

    kind = "interrupted"

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

    kind = "timeout"

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


class StreamCancelledError(StreamInterruptedError):
    """The stream was cancelled on purpose (its reader closed it, a web client
    pressed Stop, a crew gave up on a task) before the provider finished; it is
    never retried."""

    kind = "cancelled"


class ToolError(LaraFlowAIError):
    """A tool the model called failed (raised, does not exist, or was given
    arguments that do not fit) and the agent's `on_tool_error="raise"` ends the
    stream; `tool` names it. With the default policy the model reads the error
    instead and the stream goes on."""

    kind = "tool"

    def __init__(self, message: str, *, tool: str, partial_content: str = "") -> None:
        super().__init__(message, partial_content=partial_content)
        self.tool = tool


class OutputValidationError(LaraFlowAIError):
    """The answer to a request with `output_type=` is not a valid value of it.
    `content` is the whole answer text; `errors` pydantic's list of problems."""

    kind = "output"

    def __init__(self, message: str, *, content: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(message, partial_content=content)
        self.content = content
        self.errors = errors


class CacheError(LaraFlowAIError):
    """The cache store could not be used (unreachable server, unwritable file).

    While streaming, such failures are logged and the provider is asked instead;
    `laraflowai cache clear` and explicit store calls raise this."""

    kind = "cache"


class UnknownStreamError(LaraFlowAIError, LookupError):
    """No stream has this id: it never existed, or its retention window ended."""

    kind = "unknown_stream"
