"""The cache key of a request: what makes two requests get the same answer."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..providers.base import ChatRequest, Provider

__all__ = ["request_key"]

# Bump when the stored form of events changes: old entries are then never read.
_FORMAT = 2


def request_key(provider: Provider, request: ChatRequest) -> str:
    """sha256 of the canonical JSON of provider, model, base URL, messages,
    generation options, tools and output shape."""
    identity: dict[str, Any] = {
        "format": _FORMAT,
        "provider": provider.name,
        "model": provider.model,
        "base_url": getattr(provider, "base_url", None),
        "messages": request.messages,
        "options": request.options,
        "tools": [[t.name, t.description, t.parameters] for t in request.tools],
        "tool_choice": request.tool_choice,
        "output": None if request.output is None else [request.output.name, request.output.schema],
    }
    # An option JSON cannot express gets its repr: a new object never matches an old one.
    canonical = json.dumps(
        identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
