"""Settings: every variable of the document with its default, from the
environment, a .env file or code; malformed values refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from laraflowai import ConfigurationError, FlowAI, Settings
from laraflowai._config import get_settings, reset_settings

DOCUMENT_DEFAULTS = {
    "LARAFLOWAI_STREAMING_ENABLED": "true",
    "LARAFLOWAI_STREAMING_BUFFER_SIZE": "10",
    "LARAFLOWAI_STREAMING_MAX_CHUNK_SIZE": "1000",
    "LARAFLOWAI_STREAMING_TIMEOUT": "300.0",
    "LARAFLOWAI_STREAMING_CHUNK_DELAY": "0",
    "LARAFLOWAI_STREAMING_CACHE": "true",
    "LARAFLOWAI_STREAMING_CACHE_TTL": "3600",
    "LARAFLOWAI_WEBSOCKET_ENABLED": "false",
    "LARAFLOWAI_WEBSOCKET_DRIVER": "pusher",
    "LARAFLOWAI_WEBSOCKET_CHANNEL_PREFIX": "laraflowai",
    "LARAFLOWAI_SSE_ENABLED": "true",
    "LARAFLOWAI_SSE_RETRY_TIMEOUT": "3000",
    "LARAFLOWAI_SSE_KEEP_ALIVE": "30.0",
    "LARAFLOWAI_DEFAULT_PROVIDER": "",
}


def test_every_document_variable_has_its_default() -> None:
    described = {name: value for name, value, _ in Settings.from_env({}).described()}
    for name, default in DOCUMENT_DEFAULTS.items():
        assert described[name] == default, name


def test_environment_values_are_parsed() -> None:
    settings = Settings.from_env(
        {
            "LARAFLOWAI_STREAMING_ENABLED": "off",
            "LARAFLOWAI_STREAMING_BUFFER_SIZE": "20",
            "LARAFLOWAI_STREAMING_TIMEOUT": "12.5",
            "LARAFLOWAI_STREAMING_CHUNK_DELAY": "15",
            "LARAFLOWAI_WEBSOCKET_DRIVER": "Redis",
            "LARAFLOWAI_SSE_KEEP_ALIVE": "5",
            "LARAFLOWAI_STREAMING_CACHE": "",  # empty means default
        }
    )
    assert settings.streaming_enabled is False
    assert settings.buffer_size == 20
    assert settings.timeout == 12.5
    assert settings.chunk_delay == 15
    assert settings.websocket_driver == "redis"
    assert settings.sse_keep_alive == 5
    assert settings.cache_enabled is True


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("LARAFLOWAI_STREAMING_ENABLED", "maybe", "true or false"),
        ("LARAFLOWAI_STREAMING_BUFFER_SIZE", "0", "at least 1"),
        ("LARAFLOWAI_STREAMING_BUFFER_SIZE", "ten", "whole number"),
        ("LARAFLOWAI_STREAMING_MAX_CHUNK_SIZE", "-5", "at least 1"),
        ("LARAFLOWAI_STREAMING_TIMEOUT", "0", "greater than 0"),
        ("LARAFLOWAI_STREAMING_CHUNK_DELAY", "1.5", "whole number"),
        ("LARAFLOWAI_WEBSOCKET_DRIVER", "carrier-pigeon", "one of pusher, builtin, redis"),
        ("LARAFLOWAI_SSE_RETRY_TIMEOUT", "soon", "whole number"),
    ],
)
def test_malformed_values_are_refused_naming_the_variable(
    name: str, value: str, words: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({name: value})
    assert name in str(caught.value) and words in str(caught.value)
    assert repr(value) in str(caught.value)


def test_dotenv_file_is_read_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(
        "LARAFLOWAI_STREAMING_BUFFER_SIZE=25\nLARAFLOWAI_STREAMING_TIMEOUT=60\n"
        "OPENAI_API_KEY=sk-from-dotenv-0123456789\n"
    )
    monkeypatch.setenv("LARAFLOWAI_STREAMING_TIMEOUT", "90")
    reset_settings()
    settings = get_settings()
    assert settings.buffer_size == 25
    assert settings.timeout == 90
    assert settings.provider("openai").api_key == "sk-from-dotenv-0123456789"
    assert "sk-from-dotenv" not in repr(settings.provider("openai"))


def test_env_file_variable_points_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "conf" / "app.env"
    other.parent.mkdir()
    other.write_text("LARAFLOWAI_STREAMING_BUFFER_SIZE=3\n")
    monkeypatch.setenv("LARAFLOWAI_ENV_FILE", str(other))
    reset_settings()
    assert get_settings().buffer_size == 3
    monkeypatch.setenv("LARAFLOWAI_ENV_FILE", str(tmp_path / "missing.env"))
    reset_settings()
    with pytest.raises(ConfigurationError, match="does not exist"):
        get_settings()


def test_configure_in_code_validates_like_the_environment() -> None:
    assert FlowAI.configure(buffer_size=4, streaming_enabled="no").buffer_size == 4
    assert get_settings().streaming_enabled is False
    with pytest.raises(ConfigurationError, match="at least 1"):
        FlowAI.configure(buffer_size=0)
    with pytest.raises(ConfigurationError, match="unknown setting 'bufer_size'"):
        FlowAI.configure(bufer_size=3)
    with pytest.raises(ConfigurationError, match="must be a number"):
        FlowAI.configure(timeout=True)
    assert get_settings().buffer_size == 4  # a refused change changes nothing
