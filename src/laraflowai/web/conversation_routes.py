"""The conversation routes, and what the streaming routes use to answer with
a kept conversation:

    POST   /api/conversations        a new conversation -> {"conversation_id", ...}
    GET    /api/conversations/{id}   its turns: {"conversation_id", "messages", "turns", ...}
    DELETE /api/conversations/{id}   forget it (204)

The ids are unguessable and the only way in; the routes sit under `/api/`, so
`APIGuard` applies its token and same-site rules to them. The stores and the
settings are in `conversations.py`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .._secrets import redact
from .._types import Message
from ..broadcast import Tap, tapped
from ._errors import error_response
from ._requests import BadInput
from .conversations import ConversationStore, StoredConversation, valid_conversation_id

__all__ = ["ConversationRoutes", "find_conversation", "remembered"]

logger = logging.getLogger("laraflowai.web")


class ConversationRoutes:
    """The routes over `store` (None: conversations are turned off)."""

    def __init__(self, store: ConversationStore | None) -> None:
        self.store = store

    def routes(self) -> list[Route]:
        return [
            Route("/api/conversations", self.create, methods=["POST"]),
            Route(
                "/api/conversations/{conversation_id}", self.conversation, methods=["GET", "DELETE"]
            ),
        ]

    async def create(self, request: Request) -> Response:
        store = self.store
        if store is None:
            return _no_conversations()
        try:
            conversation_id = await store.create()
        except Exception as error:
            return _store_failed(store, error)
        return JSONResponse(
            {
                "conversation_id": conversation_id,
                "messages": [],
                "max_turns": store.settings.max_turns,
            },
            status_code=201,
        )

    async def conversation(self, request: Request) -> Response:
        store = self.store
        found = await find_conversation(store, request.path_params["conversation_id"])
        if isinstance(found, Response):
            return found
        assert store is not None
        if request.method == "DELETE":
            try:
                await store.delete(found.conversation_id)
            except Exception as error:
                return _store_failed(store, error)
            return Response(status_code=204)
        return JSONResponse(
            {
                "conversation_id": found.conversation_id,
                "messages": found.messages,
                "turns": found.turns,
                "max_turns": store.settings.max_turns,
                "created_at": found.created_at,
                "updated_at": found.updated_at,
            }
        )


class _Remember(Tap):
    """Keeps the answer's text; when it completes, the turn joins the
    conversation before the `complete` event is passed on."""

    __slots__ = ("store", "conversation_id", "question", "answer")

    def __init__(self, store: ConversationStore, conversation_id: str, question: str) -> None:
        self.store = store
        self.conversation_id = conversation_id
        self.question = question
        self.answer: list[str] = []

    def see(self, payload: Mapping[str, Any] | str) -> None:
        if isinstance(payload, str):
            self.answer.append(payload)
        elif payload.get("type") == "chunk":
            self.answer.append(payload["chunk"])

    async def last(self, payload: Mapping[str, Any]) -> None:
        if payload.get("type") != "complete" or payload.get("truncated"):
            return
        try:
            await self.store.append(self.conversation_id, self.question, "".join(self.answer))
        except Exception as error:  # the answer still reaches its reader
            logger.warning(
                "conversation %s...: the turn was not kept: %s",
                self.conversation_id[:6],
                redact(str(error)),
            )


def _no_conversations() -> Response:
    return error_response(
        404,
        "not_found",
        "conversations are turned off on this server (LARAFLOWAI_CONVERSATION_STORE=off)",
    )


def _store_failed(store: ConversationStore, error: Exception) -> Response:
    logger.warning("the conversation store at %s failed: %s", store.location(), redact(str(error)))
    return error_response(
        503, "unavailable", "the conversation store cannot be reached; try again soon"
    )


async def find_conversation(
    store: ConversationStore | None, conversation_id: Any
) -> StoredConversation | Response:
    """The stored conversation `conversation_id` names, or the error response to send."""
    if store is None:
        return _no_conversations()
    if not isinstance(conversation_id, str) or not valid_conversation_id(conversation_id):
        return error_response(
            400,
            "invalid_request",
            "conversation_id is not a conversation id of this server (16 to 64 letters, "
            "digits, '-' or '_'); create one with POST /api/conversations",
            param="conversation_id",
        )
    try:
        found = await store.get(conversation_id)
    except Exception as error:
        return _store_failed(store, error)
    if found is None:
        return error_response(
            404,
            "not_found",
            "no such conversation: it was deleted, or its retention "
            "(LARAFLOWAI_CONVERSATION_TTL) ended; start a new one with POST /api/conversations",
            param="conversation_id",
        )
    return found


async def conversation_history(
    store: ConversationStore | None, conversation_id: Any, queued_by: str | None
) -> list[Message] | Response:
    """The turns to answer with: none without `conversation_id`, else the
    stored conversation's, or the error response to send. `queued_by` names
    the setting that runs this route's streams in workers, where turns are not
    kept yet."""
    if conversation_id is None:
        return []
    if queued_by is not None:
        raise BadInput(
            f"conversations are not kept for streams that run in workers ({queued_by}) yet; "
            "send the task without conversation_id",
            "conversation_id",
        )
    found = await find_conversation(store, conversation_id)
    return found if isinstance(found, Response) else found.messages


def remembered(
    events: AsyncIterator[Mapping[str, Any]],
    store: ConversationStore,
    conversation_id: str,
    question: str,
) -> AsyncIterator[Mapping[str, Any]]:
    """`events` of an answer to `question`, keeping the turn in the conversation
    once the answer completes (before its `complete` event is passed on)."""
    return tapped(events, _Remember(store, conversation_id, question))
