"""Producers: what a stream's events are made of.

An agent's answer becomes the document's protocol: `{"type": "chunk", "chunk":
...}` per chunk, then `{"type": "complete", ...}` with the finish reason and
token usage when known, or `{"type": "error", "message": ...}` with a message
safe to show to whoever is reading (the full error goes to the log only).
A crew's stream is another producer of the same events, each also carrying
`task_index` and `agent`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any

from .._exceptions import (
    AuthenticationError,
    ConfigurationError,
    ContentBlockedError,
    InvalidRequestError,
    LaraFlowAIError,
    ProviderConnectionError,
    ProviderOverloadedError,
    QuotaExceededError,
    RateLimitError,
    StreamInterruptedError,
    StreamTimeoutError,
)
from .._secrets import redact
from ..streaming.response import AsyncStreamingResponse, Response
from ..wire import Usage

if TYPE_CHECKING:
    from ..crew.events import CrewEvent

__all__ = ["crew_events", "public_error", "response_events"]

logger = logging.getLogger("laraflowai.broadcast")

# Most specific first: QuotaExceededError is a RateLimitError.
_PUBLIC: list[tuple[type[LaraFlowAIError], str, str]] = [
    (QuotaExceededError, "quota", "The model provider account is out of credits or quota."),
    (RateLimitError, "rate_limit", "The model provider is limiting requests; try again soon."),
    (AuthenticationError, "authentication", "The model provider refused this server's API key."),
    (ProviderOverloadedError, "overloaded", "The model provider is overloaded; try again soon."),
    (ContentBlockedError, "blocked", "The provider's safety filter withheld the answer."),
    (InvalidRequestError, "invalid_request", "The model provider rejected the request."),
    (ProviderConnectionError, "connection", "The model provider could not be reached."),
    (
        StreamInterruptedError,
        "interrupted",
        "The connection to the model provider was lost before the answer was complete.",
    ),
    (StreamTimeoutError, "timeout", "The model took too long to answer."),
    (ConfigurationError, "configuration", "The server is not set up for this request."),
]


def public_error(error: BaseException) -> dict[str, Any]:
    """The `error` event for `error`: a kind and a message that reveal nothing
    of the server (no keys, URLs or provider bodies)."""
    for kind, name, message in _PUBLIC:
        if isinstance(error, kind):
            return {"type": "error", "kind": name, "message": message}
    return {"type": "error", "kind": "internal", "message": "The answer could not be completed."}


async def response_events(response: AsyncStreamingResponse) -> AsyncIterator[dict[str, Any]]:
    """The events of an agent's streaming answer, closing it when done or cancelled."""
    async with response:
        try:
            async for chunk in response:
                yield {"type": "chunk", "chunk": chunk}
        except LaraFlowAIError as error:
            stats = response.get_stats()
            _log(error, stats["provider"], stats["model"])
            yield public_error(error)
            return
    yield _ended({"type": "complete"}, response.finish_reason, response.usage)


async def crew_events(events: AsyncGenerator[CrewEvent, None]) -> AsyncIterator[dict[str, Any]]:
    """A crew's stream (`crew.astream()`) as events that each carry `task_index`
    and `agent`: `chunk`s, `task_complete` (finish reason, usage) or
    `task_error` (kind, message) after each task, then `complete` (the total
    usage) or `error`. Closed, with every provider connection, when cancelled."""
    try:
        async for event in events:
            where = {"task_index": event.task_index, "agent": event.agent.role}
            kind = event.kind
            if kind == "chunk":
                yield {"type": "chunk", "chunk": event.chunk, **where}
            elif kind == "task_complete":
                yield _ended({"type": "task_complete", **where}, *_outcome(event.response))
            elif kind == "task_error" and event.error is not None:
                _log(event.error, event.agent.provider.name, event.agent.model)
                yield {**public_error(event.error), "type": "task_error", **where}
            elif kind == "crew_complete":
                usage = event.result.usage if event.result is not None else None
                yield _ended({"type": "complete", **where}, None, usage)
            elif kind == "crew_error":
                error = event.error or (event.result.error if event.result else None)
                yield {**public_error(error or Exception()), **where}
    finally:
        await events.aclose()


def _outcome(response: Response | None) -> tuple[str | None, Usage | None]:
    if response is None:
        return None, None
    return response.finish_reason, response.usage


def _ended(
    payload: dict[str, Any], finish_reason: str | None, usage: Usage | None
) -> dict[str, Any]:
    if finish_reason is not None:
        payload["finish_reason"] = finish_reason
    if usage is not None:
        counts = {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "total_tokens": usage.total_tokens,
        }
        payload["usage"] = {name: value for name, value in counts.items() if value is not None}
    return payload


def _log(error: BaseException, provider: str, model: str) -> None:
    logger.warning("%s/%s: the stream failed: %s", provider, model, redact(str(error)))
