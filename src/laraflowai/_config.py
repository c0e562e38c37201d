"""Settings: every variable of the streaming document, from the environment,
a `.env` file, or code.

Precedence, highest first: `configure(...)` in code, the process environment,
the `.env` file (in the working directory, or `LARAFLOWAI_ENV_FILE`), the
defaults below. A malformed value is refused with a message naming the variable.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._exceptions import ConfigurationError
from ._secrets import remember

__all__ = [
    "ProviderSettings",
    "Settings",
    "configure",
    "get_settings",
    "hide_password",
    "reset_settings",
]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"{name} must be true or false, got {raw!r}")


class _Number:
    """A parser of whole (`int`) or finite (`float`) numbers in a range: every
    timer and buffer is built from these, so none can be NaN, infinite or large
    enough to overflow a timer."""

    def __init__(
        self, kind: type, minimum: float, maximum: float, unit: str = "", *, inclusive: bool = True
    ) -> None:
        self.kind = kind
        self.minimum, self.maximum, self.inclusive = minimum, maximum, inclusive
        noun = "a whole number" if kind is int else "a finite number"
        if unit:
            noun = f"{noun} of {unit}"
        bound = f"at least {minimum:g}" if inclusive else f"greater than {minimum:g}"
        self.allowed = f"{noun}, {bound} and at most {int(maximum)}"

    def __call__(self, name: str, raw: str | float) -> Any:
        # A number given in code is taken as is (an int where a float will do),
        # never through its text: repr() of a huge int itself raises.
        try:
            if isinstance(raw, str):
                value = self.kind(raw.strip())
            elif isinstance(raw, bool) or (self.kind is int and type(raw) is not int):
                raise ValueError
            else:
                value = self.kind(raw)
        except (ValueError, OverflowError):
            raise ConfigurationError(f"{name} must be {self.allowed}, got {_shown(raw)}") from None
        if (
            (type(value) is float and not math.isfinite(value))
            or value < self.minimum
            or (not self.inclusive and value == self.minimum)
            or value > self.maximum
        ):
            raise ConfigurationError(f"{name} must be {self.allowed}, got {_shown(raw)}")
        return value


_number = _Number


def _shown(raw: object) -> str:
    if isinstance(raw, int) and raw.bit_length() > 64:
        return f"a number of {raw.bit_length()} bits"
    return repr(raw)


_DAY = 86_400
_WEEK = 7 * _DAY
_MIB = 1024 * 1024


def _choice(*choices: str) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ConfigurationError(f"{name} must be one of {', '.join(choices)}; got {raw!r}")
        return value

    return parse


def _text(name: str, raw: str) -> str | None:
    return raw.strip() or None


@dataclass(frozen=True, slots=True)
class _Var:
    field: str
    env: str
    parse: Callable[[str, Any], Any]
    help: str


_VARS = (
    _Var(
        "streaming_enabled",
        "LARAFLOWAI_STREAMING_ENABLED",
        _parse_bool,
        "stream token by token; false gives the whole answer as one chunk",
    ),
    _Var(
        "buffer_size",
        "LARAFLOWAI_STREAMING_BUFFER_SIZE",
        _number(int, 1, 1_000_000, "characters"),
        "coalesce deltas into chunks of at least this many characters",
    ),
    _Var(
        "max_chunk_size",
        "LARAFLOWAI_STREAMING_MAX_CHUNK_SIZE",
        _number(int, 1, 1_000_000, "characters"),
        "split larger deltas into chunks of at most this many characters",
    ),
    _Var(
        "timeout",
        "LARAFLOWAI_STREAMING_TIMEOUT",
        _number(float, 0, _WEEK, "seconds", inclusive=False),
        "seconds a whole stream may take",
    ),
    _Var(
        "idle_timeout",
        "LARAFLOWAI_STREAMING_IDLE_TIMEOUT",
        _number(float, 0, _WEEK, "seconds", inclusive=False),
        "seconds of silence allowed between two pieces of a stream",
    ),
    _Var(
        "first_chunk_timeout",
        "LARAFLOWAI_STREAMING_FIRST_CHUNK_TIMEOUT",
        _number(float, 0, _WEEK, "seconds", inclusive=False),
        "seconds to wait for the first piece of the answer",
    ),
    _Var(
        "connect_timeout",
        "LARAFLOWAI_CONNECT_TIMEOUT",
        _number(float, 0, 3600, "seconds", inclusive=False),
        "seconds to open a connection to a provider",
    ),
    _Var(
        "chunk_delay",
        "LARAFLOWAI_STREAMING_CHUNK_DELAY",
        _number(int, 0, 60_000, "milliseconds"),
        "milliseconds to pause between chunks",
    ),
    _Var(
        "flush_interval",
        "LARAFLOWAI_STREAMING_FLUSH_INTERVAL",
        _number(int, 0, 60_000, "milliseconds"),
        "milliseconds a partly filled buffer may wait before it goes out (0: until full)",
    ),
    _Var(
        "max_retries",
        "LARAFLOWAI_MAX_RETRIES",
        _number(int, 0, 100),
        "retries of a failed request before its first chunk",
    ),
    _Var(
        "cache_enabled",
        "LARAFLOWAI_STREAMING_CACHE",
        _parse_bool,
        "replay identical completed streams from the cache",
    ),
    _Var(
        "cache_ttl",
        "LARAFLOWAI_STREAMING_CACHE_TTL",
        _number(int, 0, 3650 * _DAY, "seconds"),
        "seconds a cached stream is kept (0: store nothing)",
    ),
    _Var(
        "cache_store",
        "LARAFLOWAI_CACHE_STORE",
        _choice("sqlite", "memory", "redis"),
        "where cached streams live: sqlite (embedded file), memory, redis",
    ),
    _Var(
        "cache_path",
        "LARAFLOWAI_CACHE_PATH",
        _text,
        "the sqlite cache file (default: in the user's cache directory)",
    ),
    _Var(
        "redis_url",
        "LARAFLOWAI_REDIS_URL",
        _text,
        "the Redis server of the redis cache store",
    ),
    _Var(
        "websocket_enabled",
        "LARAFLOWAI_WEBSOCKET_ENABLED",
        _parse_bool,
        "serve the WebSocket streaming route",
    ),
    _Var(
        "websocket_driver",
        "LARAFLOWAI_WEBSOCKET_DRIVER",
        _choice("pusher", "builtin", "redis"),
        "broadcaster for WebSocket streams",
    ),
    _Var(
        "websocket_channel_prefix",
        "LARAFLOWAI_WEBSOCKET_CHANNEL_PREFIX",
        _text,
        "prefix of broadcast channel names",
    ),
    _Var("sse_enabled", "LARAFLOWAI_SSE_ENABLED", _parse_bool, "serve the SSE streaming routes"),
    _Var(
        "sse_retry_timeout",
        "LARAFLOWAI_SSE_RETRY_TIMEOUT",
        _number(int, 0, _DAY * 1000, "milliseconds"),
        "milliseconds a browser waits before reconnecting",
    ),
    _Var(
        "sse_keep_alive",
        "LARAFLOWAI_SSE_KEEP_ALIVE",
        _number(float, 0, 3600, "seconds", inclusive=False),
        "seconds between keep-alive comments",
    ),
    _Var(
        "sse_resume_grace",
        "LARAFLOWAI_SSE_RESUME_GRACE",
        _number(float, 0, _DAY, "seconds"),
        "seconds a stream whose last client left keeps its provider request (0: cancel at once)",
    ),
    _Var(
        "sse_retention",
        "LARAFLOWAI_SSE_RETENTION",
        _number(float, 0, _WEEK, "seconds"),
        "seconds an ended stream stays readable through resume",
    ),
    _Var(
        "max_task_length",
        "LARAFLOWAI_MAX_TASK_LENGTH",
        _number(int, 1, 10_000_000, "characters"),
        "longest task (characters) the SSE route accepts",
    ),
    _Var(
        "local_threads",
        "LARAFLOWAI_LOCAL_THREADS",
        _number(int, 1, 64, "threads"),
        "CPU threads of the embedded model",
    ),
    _Var(
        "local_parallel",
        "LARAFLOWAI_LOCAL_PARALLEL",
        _number(int, 1, 64, "streams"),
        "streams the embedded model generates at once",
    ),
    _Var(
        "max_event_size",
        "LARAFLOWAI_STREAMING_MAX_EVENT_SIZE",
        _number(int, 1024, 1024 * _MIB, "bytes"),
        "largest event (and line) in bytes a provider stream may send",
    ),
    _Var(
        "max_tool_arguments_size",
        "LARAFLOWAI_STREAMING_MAX_TOOL_ARGUMENTS_SIZE",
        _number(int, 1, 1024 * _MIB, "characters"),
        "longest arguments (characters) of one tool call",
    ),
    _Var(
        "gc_threshold",
        "LARAFLOWAI_GC_THRESHOLD",
        _number(int, 0, 10_000_000, "allocations"),
        "allocations between the cycle collector's youngest passes in laraflowai serve "
        "and worker (0: the interpreter's own)",
    ),
    _Var(
        "default_provider",
        "LARAFLOWAI_DEFAULT_PROVIDER",
        _text,
        "provider used when an agent names none",
    ),
)

_BY_FIELD = {var.field: var for var in _VARS}
_NUMERIC = tuple(var for var in _VARS if isinstance(var.parse, _Number))

# Environment prefixes of each built-in provider's key, model and base URL.
PROVIDER_ENV = {
    "openai": "OPENAI",
    "anthropic": "ANTHROPIC",
    "grok": "GROK",
    "deepseek": "DEEPSEEK",
    "groq": "GROQ",
    "gemini": "GEMINI",
}


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """A provider's key, model and base URL as configured in the environment."""

    api_key: str | None = field(default=None, repr=False)
    model: str | None = None
    base_url: str | None = None
    key_variable: str | None = None

    def __repr__(self) -> str:
        key = "None" if self.api_key is None else "'****'"
        return f"ProviderSettings(api_key={key}, model={self.model!r}, base_url={self.base_url!r})"


@dataclass(frozen=True, slots=True)
class Settings:
    streaming_enabled: bool = True
    buffer_size: int = 10
    max_chunk_size: int = 1000
    timeout: float = 300.0
    idle_timeout: float = 120.0
    first_chunk_timeout: float = 120.0
    connect_timeout: float = 10.0
    chunk_delay: int = 0
    flush_interval: int = 50
    max_retries: int = 2
    cache_enabled: bool = True
    cache_ttl: int = 3600
    cache_store: str = "sqlite"
    cache_path: str | None = None
    redis_url: str | None = "redis://127.0.0.1:6379/0"
    websocket_enabled: bool = False
    websocket_driver: str = "pusher"
    websocket_channel_prefix: str | None = "laraflowai"
    sse_enabled: bool = True
    sse_retry_timeout: int = 3000
    sse_keep_alive: float = 30.0
    sse_resume_grace: float = 15.0
    sse_retention: float = 300.0
    max_task_length: int = 10_000
    local_threads: int = 1
    local_parallel: int = 4
    max_event_size: int = 4 * _MIB
    max_tool_arguments_size: int = _MIB
    gc_threshold: int = 10_000
    default_provider: str | None = None
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Settings built directly (`Settings(timeout=...)`, an agent's own) are
        # checked like those from the environment: no timer sees NaN.
        for var in _NUMERIC:
            var.parse(f"{var.field} ({var.env})", getattr(self, var.field))

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: str | Path | None = None
    ) -> Settings:
        """Settings from `environ` (default: the process environment) over a `.env` file."""
        merged = dict(_read_env_file(environ, env_file))
        merged.update(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        for var in _VARS:
            raw = merged.get(var.env)
            if raw is not None and raw.strip() != "":
                values[var.field] = var.parse(var.env, raw)
        return cls(environ=merged, **values)

    def replace(self, **overrides: Any) -> Settings:
        """A copy with some settings changed in code, validated like the environment."""
        checked: dict[str, Any] = {}
        for name, value in overrides.items():
            var = _BY_FIELD.get(name)
            if var is None:
                known = ", ".join(sorted(_BY_FIELD))
                raise ConfigurationError(f"unknown setting {name!r}; known settings: {known}")
            checked[name] = _check(var, value)
        return dataclasses.replace(self, **checked)

    def env(self, name: str) -> str | None:
        value = self.environ.get(name)
        return value.strip() if value and value.strip() else None

    def flag(self, name: str, default: bool = False) -> bool:
        """A true/false variable read the way every boolean setting is."""
        raw = self.env(name)
        return default if raw is None else _parse_bool(name, raw)

    def provider(self, name: str) -> ProviderSettings:
        """Key, model and base URL of a provider from `<NAME>_API_KEY`, `<NAME>_MODEL`,
        `<NAME>_BASE_URL` (Ollama: `OLLAMA_HOST`, `OLLAMA_MODEL`)."""
        if name == "ollama":
            key = self.env("OLLAMA_API_KEY")
            remember(key)
            return ProviderSettings(
                key, self.env("OLLAMA_MODEL"), self.env("OLLAMA_HOST"), "OLLAMA_API_KEY"
            )
        if name == "local":
            return ProviderSettings(None, self.env("LARAFLOWAI_LOCAL_MODEL"), None)
        prefix = PROVIDER_ENV.get(name, name.upper())
        key = self.env(f"{prefix}_API_KEY")
        remember(key)
        return ProviderSettings(
            key, self.env(f"{prefix}_MODEL"), self.env(f"{prefix}_BASE_URL"), f"{prefix}_API_KEY"
        )

    def described(self) -> list[tuple[str, str, str]]:
        """(variable, effective value, meaning) for each streaming setting."""
        rows = []
        for var in _VARS:
            value = getattr(self, var.field)
            shown = (
                ""
                if value is None
                else str(value).lower()
                if isinstance(value, bool)
                else str(value)
            )
            if var.field == "redis_url" and value:
                shown = hide_password(value)
            rows.append((var.env, shown, var.help))
        return rows


def hide_password(url: str) -> str:
    """`url` with the password of its user info replaced by `****`."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:****@{host}"


def _check(var: _Var, value: Any) -> Any:
    name = f"{var.field} ({var.env})"
    if isinstance(value, str) or value is None:
        return var.parse(name, value or "") if value is not None else None
    if isinstance(value, bool):
        if var.parse is not _parse_bool:
            raise ConfigurationError(f"{var.field} must be a number, got {value!r}")
        return value
    if isinstance(value, int | float):
        if isinstance(var.parse, _Number):
            return var.parse(name, value)
        return var.parse(name, _shown(value))
    raise ConfigurationError(f"{var.field} cannot be {type(value).__name__} ({value!r})")


def _read_env_file(
    environ: Mapping[str, str] | None, env_file: str | Path | None
) -> Mapping[str, str]:
    source = os.environ if environ is None else environ
    path = (
        Path(env_file) if env_file is not None else Path(source.get("LARAFLOWAI_ENV_FILE", ".env"))
    )
    if not path.is_file():
        if env_file is not None or "LARAFLOWAI_ENV_FILE" in source:
            raise ConfigurationError(f"the settings file {str(path)!r} does not exist")
        return {}
    from dotenv import dotenv_values

    return {key: value for key, value in dotenv_values(path).items() if value is not None}


_lock = threading.Lock()
_settings: Settings | None = None
_overrides: dict[str, Any] = {}


def get_settings() -> Settings:
    """The effective settings, read once from the environment."""
    global _settings
    settings = _settings
    if settings is None:
        with _lock:
            if _settings is None:
                _settings = Settings.from_env().replace(**_overrides)
            settings = _settings
    return settings


def configure(**overrides: Any) -> Settings:
    """Change settings in code, e.g. `configure(buffer_size=1, timeout=60)`."""
    global _settings
    with _lock:
        new = (_settings or Settings.from_env()).replace(**overrides)
        _overrides.update(overrides)
        _settings = new
    return new


def reset_settings() -> None:
    """Forget code overrides and read the environment again on next use."""
    global _settings
    with _lock:
        _settings = None
        _overrides.clear()
