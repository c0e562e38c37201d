"""Settings: every variable of the document with its default, from the
environment, a .env file or code; malformed values refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from laraflowai import ConfigurationError, FlowAI, Settings
from laraflowai._config import _VARS, get_settings, reset_settings

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


NUMERIC = {
    # variable: (a valid value, its field)
    "LARAFLOWAI_STREAMING_BUFFER_SIZE": "buffer_size",
    "LARAFLOWAI_STREAMING_MAX_CHUNK_SIZE": "max_chunk_size",
    "LARAFLOWAI_STREAMING_TIMEOUT": "timeout",
    "LARAFLOWAI_STREAMING_IDLE_TIMEOUT": "idle_timeout",
    "LARAFLOWAI_STREAMING_FIRST_CHUNK_TIMEOUT": "first_chunk_timeout",
    "LARAFLOWAI_CONNECT_TIMEOUT": "connect_timeout",
    "LARAFLOWAI_STREAMING_CHUNK_DELAY": "chunk_delay",
    "LARAFLOWAI_STREAMING_FLUSH_INTERVAL": "flush_interval",
    "LARAFLOWAI_MAX_RETRIES": "max_retries",
    "LARAFLOWAI_STREAMING_CACHE_TTL": "cache_ttl",
    "LARAFLOWAI_SSE_RETRY_TIMEOUT": "sse_retry_timeout",
    "LARAFLOWAI_SSE_KEEP_ALIVE": "sse_keep_alive",
    "LARAFLOWAI_SSE_RESUME_GRACE": "sse_resume_grace",
    "LARAFLOWAI_SSE_RETENTION": "sse_retention",
    "LARAFLOWAI_MAX_TASK_LENGTH": "max_task_length",
    "LARAFLOWAI_STREAMING_MAX_EVENT_SIZE": "max_event_size",
    "LARAFLOWAI_STREAMING_MAX_TOOL_ARGUMENTS_SIZE": "max_tool_arguments_size",
    "LARAFLOWAI_LOCAL_THREADS": "local_threads",
    "LARAFLOWAI_LOCAL_PARALLEL": "local_parallel",
    "LARAFLOWAI_GC_THRESHOLD": "gc_threshold",
}
# Zero means something for these ("until full", "no retries", "store nothing", "at once").
ZERO_ALLOWED = {
    "chunk_delay",
    "flush_interval",
    "max_retries",
    "cache_ttl",
    "sse_retry_timeout",
    "sse_resume_grace",
    "sse_retention",
    "gc_threshold",
}
BAD_NUMBERS = ["nan", "NaN", "inf", "-inf", "Infinity", "1e309", "-1", "1e300", "10" * 40]


@pytest.mark.parametrize("value", BAD_NUMBERS)
@pytest.mark.parametrize("name", sorted(NUMERIC))
def test_numbers_that_are_not_finite_or_out_of_range_are_refused_naming_the_variable(
    name: str, value: str
) -> None:
    """https://github.com/laraflowai/laraflowai/issues/15 (item 3)"""
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({name: value})
    message = str(caught.value)
    assert name in message and repr(value) in message
    assert "at most" in message or "whole number" in message or "finite" in message


@pytest.mark.parametrize("name", sorted(NUMERIC))
def test_zero_is_refused_where_it_means_nothing(name: str) -> None:
    if NUMERIC[name] in ZERO_ALLOWED:
        assert getattr(Settings.from_env({name: "0"}), NUMERIC[name]) == 0
    else:
        with pytest.raises(ConfigurationError, match=name):
            Settings.from_env({name: "0"})


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), float("-inf"), -1, -0.5, 1e300, 10**40]
)
@pytest.mark.parametrize("field", sorted(NUMERIC.values()))
def test_configure_refuses_the_same_values_naming_the_setting(field: str, value: float) -> None:
    before = get_settings()
    with pytest.raises(ConfigurationError) as caught:
        FlowAI.configure(**{field: value})
    assert field in str(caught.value)
    assert get_settings() == before


def test_every_numeric_setting_is_checked() -> None:
    numeric = {
        var.field
        for var in _VARS
        if isinstance(getattr(Settings(), var.field), int | float)
        and not isinstance(getattr(Settings(), var.field), bool)
    }
    assert numeric == set(NUMERIC.values())
    assert {var.env for var in _VARS if var.field in numeric} == set(NUMERIC)


def test_numbers_in_range_are_accepted() -> None:
    settings = Settings.from_env(
        {
            "LARAFLOWAI_SSE_KEEP_ALIVE": "0.5",
            "LARAFLOWAI_SSE_RETENTION": "3600",
            "LARAFLOWAI_SSE_RESUME_GRACE": "0.6",
            "LARAFLOWAI_MAX_TASK_LENGTH": "40",
            "LARAFLOWAI_STREAMING_TIMEOUT": "86400",
            "LARAFLOWAI_STREAMING_MAX_EVENT_SIZE": "65536",
        }
    )
    assert settings.sse_keep_alive == 0.5 and settings.sse_retention == 3600
    assert settings.sse_resume_grace == 0.6 and settings.max_task_length == 40
    assert settings.timeout == 86400 and settings.max_event_size == 65536
    assert FlowAI.configure(timeout=12.5, max_retries=0).timeout == 12.5


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0, 1e300, True])
def test_settings_built_in_code_are_checked_too(value: float) -> None:
    with pytest.raises(ConfigurationError, match="timeout"):
        Settings(timeout=value)
    with pytest.raises(ConfigurationError, match="sse_keep_alive"):
        Settings(sse_keep_alive=value)
