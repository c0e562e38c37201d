"""The streaming API: the document's SSE route, made resumable and stoppable.

    GET  /api/stream-chat?task=...[&role&goal&provider&model]   start a stream, follow it
         [&conversation_id=...]                                 ... with a kept conversation
         [&include=reasoning,tools]                             ... with reasoning/tool events
    GET  /api/stream-chat  + Last-Event-ID: <stream_id>-<n>     resume after event n
    GET  /api/stream-chat?stream_id=...                         follow a stream from its start
    GET  /api/stream-crew?crew=<json>                           run a crew, follow it
    POST /api/stream-crew  {json}                               run a crew -> {"stream_id"}
    POST /api/stream-chat/{stream_id}/stop                      cancel the upstream request now
    GET  /api/stream-chat/{stream_id}                           a stream's status
    GET  /api/session, POST /api/session                        the chat page's token sign-in
    POST /api/conversations                                     a new conversation -> its id
    GET  /api/conversations/{id}, DELETE ...                    read or forget a conversation

Every event is an unnamed SSE event (the document's `onmessage` code works
unchanged) with `id: <stream_id>-<n>`: `start` (n = 0, carries `stream_id`),
`chunk`, then one `complete` or `error`. A stopped or abandoned stream ends
with `{"type": "complete", "stopped": true, "reason": "stop" | "abandoned"}`.
A crew's events after `start` also carry `task_index` and `agent`, with
`task_complete` and `task_error` between tasks (see broadcast/sources.py).

With `conversation_id` (from `POST /api/conversations`), the agent answers
with the conversation's turns as history, and the question and answer are
kept once the answer has completed (in the stream's producer, before its
`complete` event: never twice, however many clients follow or resume it).
`include=reasoning,tools` (or LARAFLOWAI_SSE_INCLUDE) adds the events of
broadcast/sources.py's `detail` between the chunks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..broadcast import (
    StreamRegistry,
    Subscription,
    UnknownStreamError,
    crew_events,
    response_events,
)
from ._errors import error_response
from ._headers import header_map
from ._requests import BadInput, ChatConfig, build_agent, build_crew, chat_task
from ._settings import WebSettings, parse_include
from .auth import SESSION_COOKIE, session_value, token_matches
from .conversation_routes import ConversationRoutes, conversation_history, remembered
from .conversations import ConversationStore
from .metrics import StreamMetrics
from .sse import SubscriptionResponse

__all__ = ["ChatConfig", "StreamRoutes", "error_response", "parse_event_id"]


class _Streaming:
    """A streaming endpoint as a plain ASGI app: Starlette would wrap a
    function endpoint's `send` once more, a coroutine per event for nothing
    (its exception handlers still apply: the app's middleware has them)."""

    __slots__ = ("endpoint",)

    def __init__(self, endpoint: Callable[[Request], Awaitable[Response]]) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.endpoint(Request(scope, receive, send))
        await response(scope, receive, send)


def parse_event_id(value: str) -> tuple[str, int] | None:
    """`<stream_id>-<n>` -> (stream_id, n), or None if it is not one of ours."""
    stream_id, _, number = value.strip().rpartition("-")
    if not (stream_id and number.isascii() and number.isdigit()):
        return None
    if not (stream_id.isascii() and stream_id.replace("_", "").isalnum()):
        return None
    return stream_id, int(number)


class StreamRoutes:
    """The API routes over one registry; mount `routes()` in any Starlette app
    (or use `laraflowai.web.create_app`)."""

    def __init__(
        self,
        registry: StreamRegistry,
        web: WebSettings | None = None,
        chat: ChatConfig | None = None,
        *,
        observer: StreamMetrics | None = None,
        jobs: Any = None,
        conversations: ConversationStore | None = None,
    ) -> None:
        self.registry = registry
        self.conversations = conversations
        self.web = web if web is not None else WebSettings.from_settings()
        self.chat = chat if chat is not None else ChatConfig()
        self.observer = observer
        self.jobs = jobs  # a laraflowai.jobs.StreamJobs, when SSE streams run in workers

    def routes(self) -> list[Route]:
        return [
            Route("/api/stream-chat", _Streaming(self.stream_chat), methods=["GET"]),
            Route("/api/stream-chat/{stream_id}/stop", self.stop, methods=["POST"]),
            Route("/api/stream-chat/{stream_id}", self.status, methods=["GET"]),
            Route("/api/stream-crew", _Streaming(self.stream_crew), methods=["GET", "POST"]),
            Route("/api/session", self.session, methods=["GET", "POST"]),
            *ConversationRoutes(self.conversations).routes(),
        ]

    # endpoints

    async def stream_chat(self, request: Request) -> Response:
        if not self.web.sse_enabled:
            return self._disabled()
        if request.method == "HEAD":  # never start a paid stream nobody will read
            return Response(headers={"Content-Type": "text/event-stream"})
        # Plain dicts: Starlette's look a missing name up by raising a KeyError.
        last_event_id = header_map(request.scope).get("last-event-id")
        query = dict(request.query_params.items())
        wanted = query.get("stream_id")
        if last_event_id:
            parsed = parse_event_id(last_event_id)
            if parsed is None:
                return error_response(
                    400,
                    "invalid_request",
                    "Last-Event-ID is not an event id of this server "
                    "(expected <stream_id>-<number>); reconnect without it to start anew",
                    param="Last-Event-ID",
                )
            if wanted and wanted != parsed[0]:
                return error_response(
                    400,
                    "invalid_request",
                    "stream_id and Last-Event-ID name different streams",
                    param="stream_id",
                )
            return await self._follow(*parsed)
        if wanted:
            return await self._follow(wanted, None)
        conversation_id = query.get("conversation_id")
        try:
            task = chat_task(query.get("task"), self.web)
            detail = self._include(query.get("include"))
            queued = self.jobs is not None and self.web.queue_sse
            history = await conversation_history(
                self.conversations, conversation_id, "LARAFLOWAI_QUEUE_SSE=true" if queued else None
            )
            if isinstance(history, Response):
                return history
            agent = build_agent(
                self.chat,
                role=query.get("role"),
                goal=query.get("goal"),
                provider=query.get("provider"),
                model=query.get("model"),
            )
            response = agent.astream(task, history=history)
        except BadInput as error:
            return error_response(400, "invalid_request", error.message, param=error.param)
        meta = {"agent": agent.role, "provider": agent.provider.name, "model": agent.model}
        if conversation_id is not None:
            meta["conversation_id"] = conversation_id
        if self.jobs is not None and self.web.queue_sse:
            await response.aclose()  # checked the request; a worker answers it
            stream_id = await self.jobs.dispatch(
                task, role=agent.role, goal=agent.goal, provider=agent.provider.name,
                model=agent.model, options=dict(self.chat.options), meta=meta, background=False,
            )  # fmt: skip
            subscription = await self.registry.subscribe(stream_id)
            return self._event_stream(subscription, {"X-Stream-Id": stream_id})
        cap = self.web.max_stream_chars or None
        events: AsyncIterator[Mapping[str, Any]] = response_events(response, cap, detail)
        if conversation_id is not None and self.conversations is not None:
            events = remembered(events, self.conversations, conversation_id, task)
        if self.observer is not None:
            events = self.observer.observe(events, agent.provider.name, agent.model)
        stream_id = await self.registry.start(events, meta=meta)
        subscription = await self.registry.subscribe(stream_id)
        return self._event_stream(subscription, {"X-Stream-Id": stream_id})

    async def stream_crew(self, request: Request) -> Response:
        """Run a crew described as JSON: `GET ?crew=<json>` streams it at once (for an
        EventSource); `POST` with the JSON as body answers 201 `{"stream_id": ...}`,
        to follow with `GET /api/stream-chat?stream_id=...`."""
        if not self.web.sse_enabled:
            return self._disabled()
        if request.method == "HEAD":
            return Response(headers={"Content-Type": "text/event-stream"})
        if request.method == "GET":
            if request.headers.get("last-event-id"):
                return await self.stream_chat(request)
            raw: str | bytes = request.query_params.get("crew", "")
        else:
            raw = await request.body()
        try:
            crew = build_crew(raw, self.chat, self.web)
            events = crew.astream()  # refuses a bad setup now, before any request
        except BadInput as error:
            return error_response(400, "invalid_request", error.message, param=error.param)
        meta = {
            "crew": {
                "mode": crew.execution_mode,
                "agents": [agent.role for agent in crew.agents],
                "tasks": len(crew.tasks),
            }
        }
        produced: AsyncIterator[Mapping[str, Any]] = crew_events(events)
        if self.observer is not None:
            produced = self.observer.observe(produced, "crew", crew.execution_mode)
        stream_id = await self.registry.start(produced, meta=meta)
        if request.method == "POST":
            return JSONResponse(
                {"stream_id": stream_id, "events": f"api/stream-chat?stream_id={stream_id}"},
                status_code=201,
            )
        subscription = await self.registry.subscribe(stream_id)
        return self._event_stream(subscription, {"X-Stream-Id": stream_id})

    async def stop(self, request: Request) -> Response:
        if not self.web.sse_enabled:
            return self._disabled()
        stream_id = request.path_params["stream_id"]
        try:
            info = await self.registry.stop(stream_id)
        except UnknownStreamError as error:
            return error_response(404, "not_found", error.message)
        return JSONResponse(
            {"stream_id": info.stream_id, "status": info.status, "events": info.events}
        )

    async def status(self, request: Request) -> Response:
        if not self.web.sse_enabled:
            return self._disabled()
        info = await self.registry.info(request.path_params["stream_id"])
        if info is None:
            return error_response(404, "not_found", "no such stream (or its retention ended)")
        return JSONResponse(
            {
                "stream_id": info.stream_id,
                "status": info.status,
                "events": info.events,
                "listeners": info.listeners,
                "started_at": info.started_at,
                "ended_at": info.ended_at,
            }
        )

    async def session(self, request: Request) -> Response:
        token = self.web.api_token
        if token is None:
            return JSONResponse({"auth_required": False, "authenticated": True})
        authenticated = token_matches(token, request.headers)
        if request.method == "GET":
            return JSONResponse({"auth_required": True, "authenticated": authenticated})
        if not authenticated:
            return error_response(401, "unauthorized", "that is not this server's API token")
        response = JSONResponse({"auth_required": True, "authenticated": True})
        response.set_cookie(
            SESSION_COOKIE,
            session_value(token),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    # helpers

    def _include(self, raw: str | None) -> frozenset[str]:
        if raw is None:
            return self.web.sse_include
        detail = parse_include(raw)
        if detail is None:
            raise BadInput("include must be a comma-separated list of reasoning, tools", "include")
        return detail

    async def _follow(self, stream_id: str, after: int | None) -> Response:
        try:
            subscription = await self.registry.subscribe(stream_id, after)
        except UnknownStreamError:
            return error_response(
                410,
                "gone",
                "this stream can no longer be resumed: it ended more than "
                f"{self.web.retention:g} s ago or the server restarted; start a new one",
            )
        except ValueError as error:
            return error_response(400, "invalid_request", str(error), param="Last-Event-ID")
        if subscription.exhausted:
            # 204 tells an EventSource to stop reconnecting: there is nothing more.
            await subscription.aclose()
            return Response(status_code=204)
        return self._event_stream(subscription)

    def _event_stream(
        self, subscription: Subscription, headers: Mapping[str, str] | None = None
    ) -> SubscriptionResponse:
        return SubscriptionResponse(
            subscription,
            retry=self.web.retry_ms,
            keep_alive=self.web.keep_alive,
            headers=headers,
        )

    def _disabled(self) -> Response:
        return error_response(
            404,
            "not_found",
            "SSE streaming is turned off on this server (LARAFLOWAI_SSE_ENABLED=false)",
        )
