"""The Pusher Channels protocol: signatures, the HTTP API (batched), and the
server side of a WebSocket connection, so that pusher-js and Laravel Echo work
unchanged with Pusher, a Pusher-compatible host, or laraflowai's own server."""

from ._signing import channel_signature, rest_query, signatures_match
from .credentials import PusherCredentials
from .protocol import (
    PROTOCOL_VERSION,
    Close,
    Join,
    Leave,
    PusherConnection,
    Send,
    channel_message,
)
from .rest import (
    MAX_BATCH,
    MAX_EVENT_DATA,
    ChannelPublisher,
    PusherClient,
    PusherError,
    PusherEvent,
)

__all__ = [
    "MAX_BATCH",
    "MAX_EVENT_DATA",
    "PROTOCOL_VERSION",
    "ChannelPublisher",
    "Close",
    "Join",
    "Leave",
    "PusherClient",
    "PusherConnection",
    "PusherCredentials",
    "PusherError",
    "PusherEvent",
    "Send",
    "channel_message",
    "channel_signature",
    "rest_query",
    "signatures_match",
]
