"""Bad arguments to the Python API are typed errors that say what to change,
before any request: never a TypeError, UnicodeEncodeError or InvalidURL from deep
inside, and never the key itself."""

from __future__ import annotations

from typing import Any

import pytest

from laraflowai import ConfigurationError, FlowAI

KEY = "sk-test-0123456789abcdef"


def agent(**kwargs: Any) -> Any:
    kwargs.setdefault("api_key", KEY)
    return FlowAI.agent("Writer", "Write", "openai", **kwargs)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: FlowAI.task("x", context=5), "context must be a string or a list"),
        (lambda: FlowAI.task("x", context=["ok", 3]), "context must be a string or a list"),
        (lambda: FlowAI.task("x", context="bad \ud800"), "context holds an unpaired surrogate"),
        (lambda: agent().stream("hi \udfff"), "the task holds an unpaired surrogate"),
        (lambda: FlowAI.agent("A\ud800", "B", "openai", api_key=KEY), "role holds an unpaired"),
        (lambda: FlowAI.agent("A", "B", "openai", api_key=KEY, backstory=7), "backstory must be"),
        (lambda: agent().stream("hi", history=[{"role": "user", "content": "\ud800"}]),
         "history[0] content holds an unpaired surrogate"),
        (lambda: agent(seed=object()).stream("hi"), "must be JSON values"),
        (lambda: agent(stop={"a"}).stream("hi"), "must be JSON values"),
        (lambda: agent(api_key="sk-ключ-0123456789"), "cannot carry"),
        (lambda: agent(api_key="sk-abc\n0123456789"), "cannot carry"),
        (lambda: agent(base_url="http://exa mple.com/v1"), "is not a valid URL"),
        (lambda: agent(base_url="http://[::1/v1"), "is not a valid URL"),
        (lambda: agent(base_url="https:///v1"), "is not a valid URL"),
    ],
)  # fmt: skip
def test_a_bad_argument_is_a_configuration_error_that_says_what_to_change(
    make: Any, words: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        make()
    assert words in str(caught.value)
    assert "ключ" not in str(caught.value) and "0123456789" not in str(caught.value)
