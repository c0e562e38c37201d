"""The web app's settings, read from the same sources as every other setting
(the environment, then `.env`) and checked the same way: a malformed value is
refused at start with a message naming the variable."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from .._config import Settings, get_settings
from .._exceptions import ConfigurationError
from .._secrets import remember
from ..broadcast.sources import DETAILS

__all__ = ["WebSettings", "parse_include"]


def parse_include(raw: str | None) -> frozenset[str] | None:
    """`reasoning,tools` -> the details an SSE answer includes; None if malformed."""
    if raw is None:
        return frozenset()
    names = frozenset(name.strip().lower() for name in raw.split(",") if name.strip())
    if "all" in names:
        names = (names - {"all"}) | DETAILS
    return names if names <= DETAILS else None


# The web settings whose numbers `Settings` checks, by their name there.
_CHECKED_AS = {
    "retry_ms": "sse_retry_timeout",
    "keep_alive": "sse_keep_alive",
    "resume_grace": "sse_resume_grace",
    "retention": "sse_retention",
    "max_task_length": "max_task_length",
}


@dataclass(frozen=True, slots=True)
class WebSettings:
    """What the SSE routes and the chat page need. Built from `Settings`
    (LARAFLOWAI_SSE_ENABLED, _RETRY_TIMEOUT, _KEEP_ALIVE and the rest)."""

    sse_enabled: bool = True
    retry_ms: int = 3000
    keep_alive: float = 30.0
    resume_grace: float = 15.0
    retention: float = 300.0
    max_task_length: int = 10_000
    api_token: str | None = field(default=None, repr=False)
    stream_store: str = "memory"
    queue: str = "inline"
    queue_sse: bool = False
    max_stream_chars: int = 1_000_000
    sse_include: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> WebSettings:
        settings = settings if settings is not None else get_settings()
        token = settings.env("LARAFLOWAI_API_TOKEN")
        remember(token)
        store = (settings.env("LARAFLOWAI_STREAM_STORE") or "memory").strip().lower()
        if store not in ("memory", "redis"):
            raise ConfigurationError(
                f"LARAFLOWAI_STREAM_STORE must be memory or redis, got {store!r}"
            )
        queue = (settings.env("LARAFLOWAI_QUEUE") or "inline").strip().lower()
        if queue not in ("inline", "redis"):
            raise ConfigurationError(f"LARAFLOWAI_QUEUE must be inline or redis, got {queue!r}")
        queue_sse = settings.flag("LARAFLOWAI_QUEUE_SSE")
        if queue_sse and queue != "redis":
            raise ConfigurationError("LARAFLOWAI_QUEUE_SSE=true needs LARAFLOWAI_QUEUE=redis")
        raw_cap = (settings.env("LARAFLOWAI_MAX_STREAM_CHARS") or "1000000").strip()
        if not raw_cap.isdigit() or int(raw_cap) > 10**9:
            raise ConfigurationError(
                "LARAFLOWAI_MAX_STREAM_CHARS must be a whole number from 0 (no cap) to "
                f"1000000000, got {raw_cap!r}"
            )
        if queue == "redis" and store != "redis":
            raise ConfigurationError(
                "LARAFLOWAI_QUEUE=redis runs streams in workers, which reach their listeners "
                "through Redis: set LARAFLOWAI_STREAM_STORE=redis too"
            )
        include = parse_include(settings.env("LARAFLOWAI_SSE_INCLUDE"))
        if include is None:
            raise ConfigurationError(
                "LARAFLOWAI_SSE_INCLUDE must be a comma-separated list of "
                f"{', '.join(sorted(DETAILS))} (or empty), got "
                f"{settings.env('LARAFLOWAI_SSE_INCLUDE')!r}"
            )
        return cls(
            sse_enabled=settings.sse_enabled,
            retry_ms=settings.sse_retry_timeout,
            keep_alive=settings.sse_keep_alive,
            resume_grace=settings.sse_resume_grace,
            retention=settings.sse_retention,
            max_task_length=settings.max_task_length,
            api_token=token,
            stream_store=store,
            queue=queue,
            queue_sse=queue_sse,
            max_stream_chars=int(raw_cap),
            sse_include=include,
        )

    def replace(self, **changes: Any) -> WebSettings:
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ConfigurationError(
                f"unknown web setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        if "api_token" in changes:
            remember(changes["api_token"])
        checked = {
            _CHECKED_AS[name]: value for name, value in changes.items() if name in _CHECKED_AS
        }
        if checked:
            Settings().replace(**checked)  # the same ranges as from the environment
        values = {name: getattr(self, name) for name in known}
        values.update(changes)
        return WebSettings(**values)

    def __repr__(self) -> str:
        token = "None" if self.api_token is None else "'****'"
        return (
            f"WebSettings(sse_enabled={self.sse_enabled}, retry_ms={self.retry_ms}, "
            f"keep_alive={self.keep_alive:g}, resume_grace={self.resume_grace:g}, "
            f"retention={self.retention:g}, max_task_length={self.max_task_length}, "
            f"api_token={token}, stream_store={self.stream_store!r}, queue={self.queue!r})"
        )
