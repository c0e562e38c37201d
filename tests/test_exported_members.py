"""The public API is what `__all__` says, sorted and complete (as httpx does)."""

from __future__ import annotations

import laraflowai


def test_all_is_sorted_and_matches_the_public_names() -> None:
    assert laraflowai.__all__ == sorted(laraflowai.__all__)
    public = {name for name in dir(laraflowai) if not name.startswith("_")}
    subpackages = {
        "broadcast",
        "cache",
        "cli",
        "crew",
        "jobs",
        "providers",
        "pusher",
        "shaping",
        "streaming",
        "web",
        "wire",
    }
    assert public - subpackages == set(laraflowai.__all__)


def test_exceptions_form_the_documented_tree() -> None:
    from laraflowai import (
        AuthenticationError,
        ConfigurationError,
        InvalidRequestError,
        LaraFlowAIError,
        ProviderError,
        ProviderOverloadedError,
        RateLimitError,
        StreamInterruptedError,
        StreamTimeoutError,
    )

    for error in (ConfigurationError, ProviderError, StreamInterruptedError, StreamTimeoutError):
        assert issubclass(error, LaraFlowAIError)
    for error in (
        AuthenticationError,
        RateLimitError,
        ProviderOverloadedError,
        InvalidRequestError,
    ):
        assert issubclass(error, ProviderError)
    assert LaraFlowAIError("x").partial_content == ""
