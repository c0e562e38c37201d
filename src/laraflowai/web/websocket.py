"""The document's WebSocket route, on the Pusher Channels protocol.

    POST /api/stream-chat-websocket  {task, channel}      start a stream: {"status": "started"}
    POST /broadcasting/auth  socket_id, channel_name      sign a private channel (Laravel's path)
    WS   /app/{key}                  the builtin driver: the Pusher protocol, version 7

The stream runs as a background job in the registry, like any SSE stream (its
id also works with `GET /api/stream-chat?stream_id=...` and with stop). Its
events go to the channel `private-<prefix>.<channel>` as Pusher events named
after their type: `chunk` (`{chunk, timestamp, id}`), `complete` (`{message:
"Streaming completed", finish_reason, usage, id}`) and `error` (`{message,
kind, id}`), after a `start` carrying the stream id. Every event's `id` is the
same `<stream_id>-<n>` as over SSE.

Drivers: `pusher` triggers the events on Pusher (or a Pusher-compatible host)
through its signed HTTP API; `builtin` serves the protocol from this app, so
pusher-js connects here with the same key. A builtin subscriber gets the
running stream of its channel from its start (or, with our client's
`last_event_id` in `pusher:subscribe`, from just after that event), then
each later stream started on the channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..broadcast import UnknownStreamError, response_events
from ..pusher import (
    Close,
    Join,
    Leave,
    PusherConnection,
    Send,
    channel_signature,
)
from ._channels import CHANNEL_NAME, WebSocketDelivery, WebSocketSettings
from ._errors import error_response
from ._requests import BadInput, ChatConfig, build_agent, chat_task
from ._settings import WebSettings
from .auth import same_site, token_matches
from .conversation_routes import conversation_history, remembered
from .conversations import ConversationStore
from .routes import parse_event_id

__all__ = ["Authorize", "WebSocketDelivery", "WebSocketRoutes", "WebSocketSettings"]
_SOCKET_ID = re.compile(r"^\d{1,20}\.\d{1,20}$")

Authorize = Callable[[Request, str], "bool | Awaitable[bool]"]
"""Decides whether the caller of `/broadcasting/auth` may join a private channel."""


class WebSocketRoutes:
    """The routes of the document's WebSocket delivery; mount `routes()` in any
    Starlette app, and `await delivery.aclose()` on shutdown."""

    def __init__(
        self,
        delivery: WebSocketDelivery,
        web: WebSettings | None = None,
        chat: ChatConfig | None = None,
        *,
        authorize: Authorize | None = None,
        allowed_origins: Iterable[str] = (),
        conversations: ConversationStore | None = None,
    ) -> None:
        self.delivery = delivery
        self.conversations = conversations
        self.allowed_origins = frozenset(o.lower().rstrip("/") for o in allowed_origins)
        self.web = web if web is not None else WebSettings.from_settings()
        self.chat = chat if chat is not None else ChatConfig()
        self.authorize = authorize

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [
            Route("/api/websocket", self.config, methods=["GET"]),
            Route("/api/stream-chat-websocket", self.stream_chat, methods=["POST"]),
            Route("/broadcasting/auth", self.auth, methods=["POST"]),
        ]
        if self.delivery.settings.driver in ("builtin", "redis"):
            routes.append(WebSocketRoute("/app/{key}", self.socket))
        return routes

    async def config(self, request: Request) -> Response:
        """What a page needs to connect: the public app key and the channel names."""
        settings = self.delivery.settings
        if not settings.enabled or settings.credentials is None:
            return JSONResponse({"enabled": False})
        return JSONResponse(
            {
                "enabled": True,
                "driver": settings.driver,
                "served_here": settings.driver in ("builtin", "redis"),
                "key": settings.credentials.key,
                "channel_prefix": self.delivery.channel_name(""),
            }
        )

    async def stream_chat(self, request: Request) -> Response:
        if not self.delivery.settings.enabled:
            return error_response(
                404,
                "not_found",
                "WebSocket streaming is turned off on this server "
                "(LARAFLOWAI_WEBSOCKET_ENABLED=false)",
            )
        try:
            body = await _body(request)
            task = chat_task(body.get("task"), self.web)
            channel = body.get("channel", "chat-stream")
            if not isinstance(channel, str) or not CHANNEL_NAME.match(channel):
                raise BadInput(
                    "channel must be 1 to 100 letters, digits or _-=@,.; such as 'chat-stream'",
                    "channel",
                )
            conversation_id = body.get("conversation_id")
            queued = self.delivery.jobs is not None
            history = await conversation_history(
                self.conversations, conversation_id, "LARAFLOWAI_QUEUE=redis" if queued else None
            )
            if isinstance(history, Response):
                return history
            agent = build_agent(
                self.chat,
                role=body.get("role"),
                goal=body.get("goal"),
                provider=body.get("provider"),
                model=body.get("model"),
            )
            response = agent.astream(task, history=history)  # checks the options now
        except BadInput as error:
            return error_response(400, "invalid_request", error.message, param=error.param)
        full = self.delivery.channel_name(channel)
        meta = {"agent": agent.role, "provider": agent.provider.name, "model": agent.model}
        if self.delivery.jobs is None:
            events: AsyncIterator[Mapping[str, Any]] = response_events(
                response, self.web.max_stream_chars or None
            )
            if conversation_id is not None and self.conversations is not None:
                events = remembered(events, self.conversations, conversation_id, task)
            stream_id = await self.delivery.start(events, full, meta)
        else:
            await response.aclose()
            spec = {"task": task, "role": agent.role, "goal": agent.goal,
                    "provider": agent.provider.name, "model": agent.model,
                    "options": dict(self.chat.options)}  # fmt: skip
            stream_id = await self.delivery.dispatch(spec, full, meta)
        return JSONResponse({"status": "started", "channel": full, "stream_id": stream_id})

    async def auth(self, request: Request) -> Response:
        """Pusher's private-channel authorisation: `{"auth": "<key>:<signature>"}`."""
        settings = self.delivery.settings
        if not settings.enabled or settings.credentials is None:
            return error_response(404, "not_found", "WebSocket delivery is turned off")
        if not same_site(request.headers, self.allowed_origins):
            return error_response(403, "cross_origin", "requests from other sites are refused")
        token = self.web.api_token
        if token is not None and not token_matches(token, request.headers):
            return error_response(401, "unauthorized", "this server needs its API token")
        try:
            body = await _body(request)
        except BadInput as error:
            return error_response(400, "invalid_request", error.message, param=error.param)
        socket_id, channel = body.get("socket_id"), body.get("channel_name")
        if not isinstance(socket_id, str) or not _SOCKET_ID.match(socket_id):
            return error_response(400, "invalid_request", "socket_id is missing or malformed",
                                  param="socket_id")  # fmt: skip
        if not isinstance(channel, str) or not channel.startswith("private-"):
            return error_response(400, "invalid_request", "channel_name must be a private- channel",
                                  param="channel_name")  # fmt: skip
        if self.authorize is not None:
            allowed = self.authorize(request, channel)
            if inspect.isawaitable(allowed):
                allowed = await allowed
        else:
            allowed = channel.startswith(f"private-{settings.prefix}.")
        if not allowed:
            return error_response(403, "forbidden", f"you may not join {channel!r}")
        credentials = settings.credentials
        return JSONResponse(
            {"auth": channel_signature(credentials.key, credentials.secret, socket_id, channel)}
        )

    async def socket(self, websocket: WebSocket) -> None:
        """One pusher-js connection (the builtin driver)."""
        credentials = self.delivery.settings.credentials
        if credentials is None or not self.delivery.settings.enabled:
            await websocket.close(code=4001)
            return
        # A browser always sends Origin: another site's page may not connect.
        # (Clients outside browsers send none.)
        if "origin" in websocket.headers and not same_site(websocket.headers, self.allowed_origins):
            await websocket.close(code=4009, reason="connections from other sites are refused")
            return
        connection = PusherConnection(
            credentials.key, credentials.secret, allow_public=self.delivery.allows_public
        )
        await websocket.accept()
        session = _Session(websocket, connection, self.delivery)
        try:
            await session.run(websocket.path_params["key"], websocket.query_params.get("protocol"))
        finally:
            await session.close()


class _Session:
    __slots__ = ("websocket", "connection", "delivery", "followers", "_lock")

    def __init__(
        self, websocket: WebSocket, connection: PusherConnection, delivery: WebSocketDelivery
    ) -> None:
        self.websocket = websocket
        self.connection = connection
        self.delivery = delivery
        self.followers: dict[str, asyncio.Task[None]] = {}
        self._lock = asyncio.Lock()

    async def send(self, text: str) -> None:
        async with self._lock:
            await self.websocket.send_text(text)

    async def run(self, key: str, protocol: str | None) -> None:
        if not await self._act(self.connection.opened(key, protocol)):
            return
        timeout = self.connection.activity_timeout
        pinged = False
        while True:
            try:
                text = await asyncio.wait_for(self.websocket.receive_text(), timeout)
            except TimeoutError:
                if pinged:  # no answer to our ping either: the client is gone
                    await self.websocket.close(code=4201, reason="pong reply not received")
                    return
                pinged = True
                await self.send('{"event":"pusher:ping","data":{}}')
                continue
            except (WebSocketDisconnect, RuntimeError):
                return
            pinged = False
            if not await self._act(self.connection.received(text)):
                return

    async def _act(self, actions: list[Any]) -> bool:
        for action in actions:
            if isinstance(action, Send):
                await self.send(action.text)
            elif isinstance(action, Join):
                self._follow(action)
            elif isinstance(action, Leave):
                follower = self.followers.pop(action.channel, None)
                if follower is not None:
                    follower.cancel()
            elif isinstance(action, Close):
                await self.websocket.close(code=action.code, reason=action.reason)
                return False
        return True

    def _follow(self, join: Join) -> None:
        old = self.followers.pop(join.channel, None)
        if old is not None:
            old.cancel()
        task = asyncio.get_running_loop().create_task(self._guarded(join))
        self.followers[join.channel] = task

    async def _guarded(self, join: Join) -> None:
        # The client may go away while an event is sent: the receiving loop ends the session.
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await self._relay(join)

    async def _relay(self, join: Join) -> None:
        channel, registry = join.channel, self.delivery.registry
        streams = self.delivery.channels
        stream_id: str | None = None
        after: int | None = None
        parsed = parse_event_id(join.last_event_id) if join.last_event_id else None
        if parsed is not None:
            stream_id, after = parsed
        else:
            stream_id = await streams.running(channel)
        seen: str | None = None
        while True:
            if stream_id is None:
                stream_id = await streams.next(channel, seen)
            try:
                subscription = await registry.subscribe(stream_id, after)
            except (UnknownStreamError, ValueError):
                subscription = None
            if subscription is not None:
                async with subscription:
                    frame = self.delivery.frame
                    while batch := await subscription.next():
                        for entry in batch:
                            await self.send(frame(channel, stream_id, entry))
            seen, stream_id, after = stream_id, None, None

    async def close(self) -> None:
        for follower in self.followers.values():
            follower.cancel()
        for follower in self.followers.values():
            with contextlib.suppress(BaseException):
                await follower
        self.followers.clear()


async def _body(request: Request) -> dict[str, Any]:
    """A JSON object or a form, as Laravel accepts both."""
    content_type = request.headers.get("content-type", "")
    raw = await request.body()
    if len(raw) > 64 * 1024:
        raise BadInput("the request body is larger than 64 KiB")
    if "application/x-www-form-urlencoded" in content_type:
        try:
            return dict(parse_qsl(raw.decode(), max_num_fields=20, strict_parsing=False))
        except (UnicodeDecodeError, ValueError):
            raise BadInput("the form is not valid URL-encoded UTF-8") from None
    try:
        body = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError:
        raise BadInput("the request body must be a JSON object or a form") from None
    if not isinstance(body, dict):
        raise BadInput("the request body must be a JSON object")
    return body
