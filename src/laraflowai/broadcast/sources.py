"""Producers: what a stream's events are made of.

An agent's answer becomes the SSE route's protocol (the README's Browser
section): `{"type": "chunk", "chunk": ...}` per chunk, then `{"type":
"complete", ...}` with the finish reason and token usage when known, or
`{"type": "error", "kind": ..., "message": ...}` with the error's `kind` and a
message safe to show to whoever is reading (the full error goes to the log only).
A crew's stream is another producer of the same events, each also carrying
`task_index` and `agent`.

Asked for (`detail=`), an answer also reports what the model did besides
writing text, each event between the chunks where it happened:
`{"type": "reasoning", "reasoning": ...}` ("reasoning"), and ("tools")
`{"type": "tool_call", "id", "name", "arguments"}`, `{"type": "tool_result",
"id", "name", "output", "is_error"}`, `{"type": "provider_tool_call", "id",
"name", "arguments"}` and `{"type": "provider_tool_result", "id", "name",
"result", "is_error"}` (tools the provider ran itself). Text then arrives as
the provider's deltas, not coalesced into chunks.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Iterator,
)
from typing import TYPE_CHECKING, Any

from .._exceptions import LaraFlowAIError, StreamCancelledError
from .._secrets import redact
from ..streaming import AsyncStreamingResponse, Response, StreamingResponse, caught_up
from ..wire import (
    Event,
    ProviderToolCall,
    ProviderToolResult,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolResult,
    Usage,
)

if TYPE_CHECKING:
    from ..crew.events import CrewEvent

__all__ = [
    "DETAILS",
    "ResponseEvents",
    "detail_payload",
    "crew_events",
    "crew_payload",
    "iter_crew_events",
    "iter_response_events",
    "public_error",
    "response_events",
]

logger = logging.getLogger("laraflowai.broadcast")

# By the error's `kind` (see laraflowai._exceptions); any other kind is "internal".
_PUBLIC: dict[str, str] = {
    "quota": "The model provider account is out of credits or quota.",
    "rate_limit": "The model provider is limiting requests; try again soon.",
    "authentication": "The model provider refused this server's API key.",
    "overloaded": "The model provider is overloaded; try again soon.",
    "blocked": "The provider's safety filter withheld the answer.",
    "invalid_request": "The model provider rejected the request.",
    "connection": "The model provider could not be reached.",
    "interrupted": "The connection to the model provider was lost before the answer was complete.",
    "cancelled": "The answer was cancelled before it was complete.",
    "timeout": "The model took too long to answer.",
    "configuration": "The server is not set up for this request.",
}


DETAILS = frozenset({"reasoning", "tools"})
"""What an answer's events may include besides text: `detail=` of response_events."""


def detail_payload(event: Event, detail: frozenset[str]) -> dict[str, Any] | None:
    """The event for a typed event other than text, if `detail` asks for it."""
    kind = type(event)
    if kind is ReasoningDelta:
        if "reasoning" in detail and event.text:  # type: ignore[union-attr]
            return {"type": "reasoning", "reasoning": event.text}  # type: ignore[union-attr]
        return None
    if "tools" not in detail:
        return None
    if kind is ToolCall:
        call: ToolCall = event  # type: ignore[assignment]
        return {"type": "tool_call", "id": call.id, "name": call.name, "arguments": call.arguments}
    if kind is ToolResult:
        result: ToolResult = event  # type: ignore[assignment]
        return {
            "type": "tool_result",
            "id": result.id,
            "name": result.name,
            "output": result.output,
            "is_error": result.is_error,
        }
    if kind is ProviderToolCall:
        ran: ProviderToolCall = event  # type: ignore[assignment]
        return {
            "type": "provider_tool_call",
            "id": ran.id,
            "name": ran.name,
            "arguments": ran.arguments,
        }
    if kind is ProviderToolResult:
        got: ProviderToolResult = event  # type: ignore[assignment]
        return {
            "type": "provider_tool_result",
            "id": got.id,
            "name": got.name,
            "result": got.result,
            "is_error": got.is_error,
        }
    return None


def public_error(error: BaseException) -> dict[str, Any]:
    """The `error` event for `error`: a kind and a message that reveal nothing
    of the server (no keys, URLs or provider bodies)."""
    kind = error.kind if isinstance(error, LaraFlowAIError) else "internal"
    message = _PUBLIC.get(kind)
    if message is None:
        kind, message = "internal", "The answer could not be completed."
    return {"type": "error", "kind": kind, "message": message}


class ResponseEvents:
    """The events of an agent's streaming answer (`response_events(response)`),
    closing the response when done or closed. `cancel(reason)` (a registry's
    stop) ends the provider request at once through the response's Cancel;
    the events then end without an error event, the canceller writes the end."""

    __slots__ = ("_response", "_max_chars", "_detail", "_events", "reason")

    def __init__(
        self,
        response: AsyncStreamingResponse,
        max_chars: int | None = None,
        detail: frozenset[str] = frozenset(),
    ) -> None:
        self._response = response
        self._max_chars = max_chars
        self._detail = detail
        # Made on the first __anext__: pump() (the in-memory registry's way) needs none.
        self._events: AsyncGenerator[dict[str, Any], None] | None = None
        self.reason: str | None = None

    def __aiter__(self) -> ResponseEvents:
        return self

    def __anext__(self) -> Awaitable[dict[str, Any]]:
        events = self._events
        if events is None:
            # Text alone (the default) reads chunks; only a detailed answer pays for events().
            detail = self._detail
            events = self._produce_detailed(detail) if detail else self._produce()
            self._events = events
        return events.__anext__()

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop now, from any task of the event loop."""
        if self.reason is None:
            self.reason = reason
        self._response.cancel()

    async def aclose(self) -> None:
        if self._events is not None:
            await self._events.aclose()

    def pump(self, append: Callable[[dict[str, Any] | str], object]) -> Coroutine[Any, Any, None]:
        """The same events pushed, each to `append(payload)` in order, a chunk as
        a plain str: how the registries run their producers, one frame for the
        whole answer instead of a generator step per chunk. An exception from
        `append` ends the answer (closing the request); an awaitable from it
        (its store is behind) is waited for before the next event."""
        if self._detail:
            return self._pump_detailed(append)
        # The registry's log keeps the text: the response need not. The last
        # event goes once the request is closed; what append returns for it
        # (its consumer's work before passing it on) is waited for.
        last = functools.partial(self._last, append)
        return self._response.forward_then_close(append, self._max_chars, False, last)

    def _last(
        self, append: Callable[[dict[str, Any] | str], object], outcome: bool | LaraFlowAIError
    ) -> object:
        if outcome is True:  # the output cap: ended here, the request closed
            return append({"type": "complete", "finish_reason": "length", "truncated": True})
        if outcome is False:
            response = self._response
            return append(_ended({"type": "complete"}, response.finish_reason, response.usage))
        last = self._failure(outcome)
        return None if last is None else append(last)

    async def _pump_detailed(self, append: Callable[[dict[str, Any] | str], object]) -> None:
        try:
            async for payload in self:
                if (behind := append(payload)) is not None:
                    await caught_up(behind)
        finally:  # what append raised ends the answer now, not when collected
            await self.aclose()

    def _failure(self, error: LaraFlowAIError) -> dict[str, Any] | None:
        """The event an error ends the answer with (none when our cancel ended it)."""
        if isinstance(error, StreamCancelledError) and self.reason is not None:
            return None
        stats = self._response.get_stats()
        _log(error, stats["provider"], stats["model"])
        return public_error(error)

    async def _produce(self) -> AsyncGenerator[dict[str, Any], None]:
        response = self._response
        room = self._max_chars
        async with response:
            try:
                async for chunk in response:
                    if room is not None:
                        if len(chunk) >= room:  # the output cap: end here, closing the request
                            if room:
                                yield {"type": "chunk", "chunk": chunk[:room]}
                            break
                        room -= len(chunk)
                    yield {"type": "chunk", "chunk": chunk}
                else:
                    room = None
            except LaraFlowAIError as error:
                failure = self._failure(error)
                if failure is not None:
                    yield failure
                return
        if room is not None:
            yield {"type": "complete", "finish_reason": "length", "truncated": True}
            return
        yield _ended({"type": "complete"}, response.finish_reason, response.usage)

    async def _produce_detailed(
        self, detail: frozenset[str]
    ) -> AsyncGenerator[dict[str, Any], None]:
        response = self._response
        room = self._max_chars
        async with response:
            try:
                async for event in response.events():
                    if type(event) is not TextDelta:
                        payload = detail_payload(event, detail)
                        if payload is not None:
                            yield payload
                        continue
                    chunk = event.text
                    if not chunk:
                        continue
                    if room is not None:
                        if len(chunk) >= room:
                            if room:
                                yield {"type": "chunk", "chunk": chunk[:room]}
                            break
                        room -= len(chunk)
                    yield {"type": "chunk", "chunk": chunk}
                else:
                    room = None
            except LaraFlowAIError as error:
                failure = self._failure(error)
                if failure is not None:
                    yield failure
                return
        if room is not None:
            yield {"type": "complete", "finish_reason": "length", "truncated": True}
            return
        yield _ended({"type": "complete"}, response.finish_reason, response.usage)


def response_events(
    response: AsyncStreamingResponse,
    max_chars: int | None = None,
    detail: frozenset[str] = frozenset(),
) -> AsyncIterator[dict[str, Any]]:
    """The events of an agent's streaming answer, closing it when done or cancelled:
    a `ResponseEvents`, whose `cancel(reason)` stops the provider request at once.
    With `max_chars`, the answer ends there (the provider request is closed) with
    `{"type": "complete", "finish_reason": "length", "truncated": true}`. `detail`
    (a subset of DETAILS) adds reasoning and tool events."""
    return ResponseEvents(response, max_chars, detail)


async def crew_events(events: AsyncGenerator[CrewEvent, None]) -> AsyncIterator[dict[str, Any]]:
    """A crew's stream (`crew.astream()`) as events that each carry `task_index`
    and `agent`: `chunk`s, `task_complete` (finish reason, usage) or
    `task_error` (kind, message) after each task, then `complete` (the total
    usage) or `error`. Closed, with every provider connection, when cancelled."""
    try:
        async for event in events:
            payload = crew_payload(event)
            if payload is not None:
                yield payload
    finally:
        await events.aclose()


def iter_response_events(response: StreamingResponse) -> Iterator[dict[str, Any]]:
    """The sync twin of `response_events` (a sync web framework's view)."""
    with response:
        try:
            for chunk in response:
                yield {"type": "chunk", "chunk": chunk}
        except LaraFlowAIError as error:
            stats = response.get_stats()
            _log(error, stats["provider"], stats["model"])
            yield public_error(error)
            return
    yield _ended({"type": "complete"}, response.finish_reason, response.usage)


def iter_crew_events(events: Generator[CrewEvent, None, None]) -> Iterator[dict[str, Any]]:
    """The sync twin of `crew_events` (`crew.stream()`)."""
    try:
        for event in events:
            payload = crew_payload(event)
            if payload is not None:
                yield payload
    finally:
        events.close()


def crew_payload(event: CrewEvent) -> dict[str, Any] | None:
    """One crew event as the SSE route's event (None for those it does not send)."""
    where = {"task_index": event.task_index, "agent": event.agent.role}
    kind = event.kind
    if kind == "chunk":
        return {"type": "chunk", "chunk": event.chunk, **where}
    if kind == "task_complete":
        return _ended({"type": "task_complete", **where}, *_outcome(event.response))
    if kind == "task_error" and event.error is not None:
        _log(event.error, event.agent.provider.name, event.agent.model)
        return {**public_error(event.error), "type": "task_error", **where}
    if kind == "crew_complete":
        usage = event.result.usage if event.result is not None else None
        return _ended({"type": "complete", **where}, None, usage)
    if kind == "crew_error":
        error = event.error or (event.result.error if event.result else None)
        return {**public_error(error or Exception()), **where}
    return None


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
