"""Keep API keys out of every message, repr and log line we produce.

Each key the library is given is remembered here; `redact()` masks every
occurrence of any of them, whatever path the text took (an error body echoed
by a proxy, a URL, a header dump).
"""

from __future__ import annotations

import threading
from typing import Any

_MIN_LENGTH = 6
_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()


def remember(secret: str | None) -> None:
    global _secrets
    if secret and len(secret) >= _MIN_LENGTH and secret not in _secrets:
        with _lock:
            _secrets = _secrets | {secret}


def mask(secret: str | None) -> str:
    """How a secret is shown to people: whether it is set, nothing of its value."""
    return "(set, hidden)" if secret else "(not set)"


def redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "****")
    return text


def redact_value(value: Any) -> Any:
    """`redact` applied to every string inside decoded JSON."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_value(item) for item in value]
    return value
