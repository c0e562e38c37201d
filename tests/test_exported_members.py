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
        "frameworks",
        "jobs",
        "providers",
        "pusher",
        "shaping",
        "streaming",
        "tools",
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


def test_every_error_names_its_kind_and_the_wire_kinds_map_to_their_classes() -> None:
    """One vocabulary: the kind a wire decoder reports is the kind of the class
    it becomes, and the web stream tells clients that same kind."""
    from laraflowai import _exceptions
    from laraflowai.broadcast import public_error
    from laraflowai.providers import error_class
    from laraflowai.wire import classify_error

    errors = [getattr(_exceptions, name) for name in _exceptions.__all__]
    kinds = [error.kind for error in errors]
    assert len(set(kinds)) == len(kinds), "two classes share a kind"
    for status, kind in ((401, "authentication"), (429, "rate_limit"), (400, "invalid_request")):
        assert classify_error(status, None, None) == kind
        assert error_class(kind).kind == kind
    assert error_class("quota") is laraflowai.QuotaExceededError
    assert error_class("server") is laraflowai.ProviderError
    timeout = laraflowai.StreamTimeoutError("slow", limit="total", seconds=1)
    assert public_error(timeout)["kind"] == "timeout"
    assert public_error(laraflowai.ProviderError("?"))["kind"] == "internal"
    assert public_error(ValueError("?"))["kind"] == "internal"


def test_cache_stream_and_input_errors_join_the_one_tree() -> None:
    from laraflowai._exceptions import UnknownStreamError
    from laraflowai.cache import CacheError
    from laraflowai.web._requests import BadInput

    assert CacheError is laraflowai.CacheError
    assert issubclass(UnknownStreamError, laraflowai.LaraFlowAIError)
    assert issubclass(UnknownStreamError, LookupError)
    assert issubclass(BadInput, laraflowai.ConfigurationError)
    assert BadInput("no task", "task").param == "task"
    assert issubclass(laraflowai.StreamCancelledError, laraflowai.StreamInterruptedError)
