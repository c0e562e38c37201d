"""Streams for browsers: the ASGI app, the SSE routes and the SSE response.

Needs the `web` extra: `pip install "laraflowai[web]"`.
"""

from ._requests import ChatConfig
from ._settings import WebSettings
from .app import create_app
from .auth import APIGuard
from .logs import QueryRedactingFilter
from .routes import StreamRoutes
from .sse import (
    EventStreamResponse,
    SubscriptionResponse,
    encode_comment,
    encode_event,
    encode_retry,
)

__all__ = [
    "APIGuard",
    "ChatConfig",
    "EventStreamResponse",
    "QueryRedactingFilter",
    "StreamRoutes",
    "SubscriptionResponse",
    "WebSettings",
    "create_app",
    "encode_comment",
    "encode_event",
    "encode_retry",
]
