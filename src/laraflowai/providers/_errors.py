"""Turn a provider's error reply (HTTP status, headers, body) into a typed error
whose message says what happened and what to do."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._exceptions import (
    AuthenticationError,
    ContentBlockedError,
    InvalidRequestError,
    ProviderError,
    ProviderOverloadedError,
    QuotaExceededError,
    RateLimitError,
)
from .._secrets import redact
from ..wire import classify_error

if TYPE_CHECKING:
    from .base import HTTPProvider

__all__ = ["error_class", "error_from_reply", "error_from_report", "parse_retry_after"]

# The wire's kinds are the classes' own: "server", "protocol" and "unknown" have
# no class of their own and stay a plain ProviderError.
_CLASSES: dict[str, type[ProviderError]] = {
    cls.kind: cls
    for cls in (
        AuthenticationError,
        RateLimitError,
        QuotaExceededError,
        ProviderOverloadedError,
        InvalidRequestError,
        ContentBlockedError,
    )
}


def error_class(kind: str) -> type[ProviderError]:
    """The error class of a kind the wire decoders report (`classify_error`)."""
    return _CLASSES.get(kind, ProviderError)


def error_from_reply(
    provider: HTTPProvider, status: int, headers: Mapping[str, str], body: bytes
) -> ProviderError:
    decoded = _decode(body)
    message, type_, code = _fields(decoded)
    if not message:
        message = redact(body.decode("utf-8", "replace").strip(), limit=300) or "no error details"
    kind = classify_error(status, type_, code)
    request_id = headers.get("x-request-id") or headers.get("request-id")
    retry_after = parse_retry_after(headers)
    if retry_after is None:
        retry_after = _retry_delay(decoded)
    return error_from_report(
        provider,
        kind,
        message,
        status=status,
        request_id=request_id,
        body=decoded
        if decoded is not None
        else redact(body.decode("utf-8", "replace"), limit=2000),
        retry_after=retry_after,
    )


def error_from_report(
    provider: HTTPProvider | Any,
    kind: str,
    message: str,
    *,
    status: int | None = None,
    request_id: str | None = None,
    body: Any = None,
    retry_after: float | None = None,
    partial_content: str = "",
) -> ProviderError:
    """The typed error for a classified report (an HTTP reply or an in-stream error)."""
    label = provider.label
    where = f" (HTTP {status})" if status else ""
    message = redact(message, limit=1000).rstrip(".")
    if kind == "authentication":
        key = getattr(provider, "key_variable", None) or "the API key"
        text = f"{label} rejected the credentials{where}: {message}. Check {key}."
    elif kind == "quota":
        text = (
            f"{label} says the account is out of quota or credits{where}: {message}. "
            "Add credits or raise the quota; retrying will not help."
        )
    elif kind == "rate_limit":
        wait = f"retry after {retry_after:g} s" if retry_after is not None else "retry later"
        text = f"{label} rate limit reached{where}: {message}. Slow down or {wait}."
    elif kind == "overloaded":
        text = f"{label} is overloaded{where}: {message}. Try again shortly."
    elif kind == "blocked":
        text = f"{label} withheld the answer{where}: {message}. Rephrase the request."
    elif kind == "invalid_request":
        text = (
            f"{label} refused the request{where}: {message}. "
            f"Check the model name ({provider.model!r}) and the options."
        )
    else:
        text = f"{label} failed{where}: {message}."
    cls = error_class(kind)
    retryable = None
    if (
        cls is ProviderError
        and status is not None
        and 400 <= status < 500
        and status not in (408, 409)
    ):
        retryable = False
    return cls(
        text,
        provider=provider.name,
        model=provider.model,
        status_code=status,
        request_id=request_id,
        body=body,
        retry_after=retry_after,
        retryable=retryable,
        partial_content=partial_content,
    )


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `retry-after` (seconds or an HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _fields(decoded: Any) -> tuple[str | None, str | None, str | None]:
    """(message, type, code) from the error bodies of every provider we know."""
    if not isinstance(decoded, dict):
        return None, None, None
    error = decoded.get("error", decoded)
    if isinstance(error, str):  # Ollama: {"error": "..."}
        return error, None, None
    if not isinstance(error, dict):
        return None, None, None
    message = error.get("message")
    type_ = error.get("type") or error.get("status")
    code = error.get("code")
    if code is None or isinstance(code, int):
        code = _detail(error, "reason")  # Gemini: API_KEY_INVALID and friends
    return (
        str(message) if message else None,
        str(type_) if type_ else None,
        str(code) if code is not None else None,
    )


def _detail(error: dict[str, Any], key: str) -> Any:
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and detail.get(key):
            return detail[key]
    return None


def _retry_delay(decoded: Any) -> float | None:
    """Gemini's `RetryInfo.retryDelay` ("7s", "0.5s") in an error body."""
    if not isinstance(decoded, dict) or not isinstance(decoded.get("error"), dict):
        return None
    delay = _detail(decoded["error"], "retryDelay")
    if isinstance(delay, str) and delay.endswith("s"):
        try:
            return max(0.0, float(delay[:-1]))
        except ValueError:
            return None
    return None
