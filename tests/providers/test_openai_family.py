"""OpenAI, xAI Grok, DeepSeek and Groq: one implementation, each configured from
its own environment variables, each provider's stream quirks handled."""

from __future__ import annotations

import pytest

from laraflowai import FlowAI, Usage
from laraflowai._config import reset_settings
from tests.servers import ProviderServer, openai_chunks, stream_reply

KEY = "test-key-abcdefghijklmnop"


@pytest.mark.parametrize(
    ("provider", "prefix", "default_model", "style"),
    [
        ("openai", "OPENAI", "gpt-4o-mini", "openai"),
        ("grok", "GROK", "grok-3-mini", "xai"),
        ("deepseek", "DEEPSEEK", "deepseek-chat", "deepseek"),
        ("groq", "GROQ", "llama-3.3-70b-versatile", "groq"),
    ],
)
def test_key_model_and_base_url_come_from_the_environment(
    server: ProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    provider: str,
    prefix: str,
    default_model: str,
    style: str,
) -> None:
    monkeypatch.setenv(f"{prefix}_API_KEY", KEY)
    monkeypatch.setenv(f"{prefix}_BASE_URL", f"{server.url}/{provider}/v1/")
    usage = {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}
    server.enqueue(
        stream_reply(
            openai_chunks(
                ["\u0406\u0434\u0435", "\u043c\u043e \U0001f680"], usage=usage, style=style
            )
        )  # type: ignore[arg-type]
    )
    agent = FlowAI.agent("Writer", "Write", provider)
    assert agent.model == default_model
    response = agent.stream("Go")
    assert response.get_content() == "\u0406\u0434\u0435\u043c\u043e \U0001f680"
    assert response.usage == Usage(12, 4, 16)
    assert response.finish_reason == "stop"
    request = server.requests[0]
    assert request.path == f"/{provider}/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.json()["model"] == default_model

    monkeypatch.setenv(f"{prefix}_MODEL", "custom-model")
    reset_settings()  # settings are read once; a changed environment needs a re-read
    assert FlowAI.agent("Writer", "Write", provider).model == "custom-model"
    assert FlowAI.agent("Writer", "Write", provider, "explicit").model == "explicit"


def test_deepseek_reasoning_stays_out_of_the_answer(
    server: ProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", KEY)
    monkeypatch.setenv("DEEPSEEK_BASE_URL", server.url)
    server.enqueue(
        stream_reply(
            openai_chunks(
                ["9.8 is larger."],
                reasoning=["Compare 9.8", " and 9.11."],
                style="deepseek",
                model="deepseek-reasoner",
            ),
            split=5,
        )
    )
    response = FlowAI.agent("Math", "Compare", "deepseek", "deepseek-reasoner").stream("Which?")
    assert response.get_content() == "9.8 is larger."
    assert response.reasoning == "Compare 9.8 and 9.11."
    assert response.get_stats()["reasoning_length"] == len("Compare 9.8 and 9.11.")


def test_default_provider_is_the_first_with_a_key_else_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GROQ_API_KEY", KEY)
    reset_settings()
    assert FlowAI.agent("W", "G").provider.name == "groq"
    monkeypatch.setenv("DEEPSEEK_API_KEY", KEY)
    monkeypatch.setenv("LARAFLOWAI_DEFAULT_PROVIDER", "deepseek")
    reset_settings()
    assert FlowAI.agent("W", "G").provider.name == "deepseek"


def test_official_openai_url_needs_a_key_but_a_custom_base_url_does_not(
    server: ProviderServer,
) -> None:
    from laraflowai import ConfigurationError

    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        FlowAI.agent("W", "G", "openai")
    server.enqueue(stream_reply(openai_chunks(["no key needed"])))
    agent = FlowAI.agent("W", "G", "openai", base_url=f"{server.url}/v1")
    assert agent.stream("Go").get_content() == "no key needed"
    assert "authorization" not in server.requests[0].headers


def test_official_openai_gets_max_completion_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    from laraflowai.providers import ChatRequest

    agent = FlowAI.agent("W", "G", "openai", api_key=KEY, max_tokens=20)
    request = agent.provider.build_request(ChatRequest([], {"max_tokens": 20}))  # type: ignore[attr-defined]
    assert request.url == "https://api.openai.com/v1/chat/completions"
    assert b'"max_completion_tokens":20' in request.body
    assert KEY not in repr(agent) and KEY not in repr(agent.provider) and KEY not in repr(request)
