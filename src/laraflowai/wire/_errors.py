"""Classify a provider's error report (HTTP status, error type, error code) into
the error `kind` of laraflowai's error classes.

The providers' own lists: https://platform.openai.com/docs/guides/error-codes,
https://docs.anthropic.com/en/api/errors, https://ai.google.dev/gemini-api/docs/troubleshooting
"""

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
    "invalid_request", "server" or "unknown".

    A definite status wins; the error's type and code refine the ambiguous ones
    (a 429 that is an empty quota, a 400 that is a bad key, a 500 that says
    "overloaded").
    """
    word = _by_word(code) or _by_word(type)
    if status is None:
        return word or "unknown"
    if status == 429:
        return "quota" if word == "quota" else "rate_limit"
    if status in (401, 403):
        return "authentication"
    if status in (498, 503, 529):
        return "overloaded"
    if status >= 500:
        return "overloaded" if word == "overloaded" else "server"
    if word in ("authentication", "quota"):
        return word
    return _BY_STATUS.get(status, "invalid_request")


def _by_word(word: str | None) -> str | None:
    if word:
        lowered = word.lower()
        for needle, kind in _BY_WORD:
            if needle in lowered:
                return kind
    return None
