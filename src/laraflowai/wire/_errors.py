"""Classify a provider's error report (HTTP status, error type, error code)."""

from __future__ import annotations

__all__ = ["classify_error"]

_BY_WORD = (
    ("insufficient_quota", "quota"),
    ("rate_limit", "rate_limit"),
    ("resource_exhausted", "rate_limit"),
    ("overloaded", "overloaded"),
    ("capacity", "overloaded"),
    ("unavailable", "overloaded"),
    ("authentication", "authentication"),
    ("invalid_api_key", "authentication"),
    ("api_key_invalid", "authentication"),
    ("permission", "authentication"),
    ("unauthenticated", "authentication"),
    ("invalid_request", "invalid_request"),
    ("invalid_argument", "invalid_request"),
    ("not_found", "invalid_request"),
    ("server_error", "server"),
    ("api_error", "server"),
    ("internal", "server"),
)

_BY_STATUS = {
    400: "invalid_request",
    401: "authentication",
    403: "authentication",
    404: "invalid_request",
    408: "server",
    409: "server",
    413: "invalid_request",
    422: "invalid_request",
    429: "rate_limit",
    498: "overloaded",
    503: "overloaded",
    529: "overloaded",
}


def classify_error(status: int | None, type: str | None, code: str | None) -> str:
    """One of "rate_limit", "quota", "overloaded", "authentication",
    "invalid_request", "server" or "unknown"."""
    for word in (code, type):
        if word:
            lowered = word.lower()
            for needle, kind in _BY_WORD:
                if needle in lowered:
                    return kind
    if status is not None:
        if status in _BY_STATUS:
            return _BY_STATUS[status]
        if status >= 500:
            return "server"
        if status >= 400:
            return "invalid_request"
    return "unknown"
