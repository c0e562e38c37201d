"""Streaming into the web frameworks you already have, in the SSE format of the
app's `/api/stream-chat` route (`data: {"type": "chunk", ...}`, then one
`complete` or `error`, each with an `id:`):

    laraflowai.frameworks.fastapi   sse_response(), mount()       (extra: fastapi)
    laraflowai.frameworks.django    sse_response(), views, settings()  (extra: django)
    laraflowai.frameworks.flask     sse_response()                (extra: flask)

Each takes a `StreamingResponse` / `AsyncStreamingResponse` (`agent.stream()`,
`agent.astream()`) or a crew's stream (`crew.stream()`, `crew.astream()`). A
client that disconnects closes the provider request: at once under ASGI; under
WSGI (Flask, Django on WSGI) when the next chunk cannot be written.
"""

from ._sse import SSE_HEADERS, SSE_MEDIA_TYPE, asse_frames, sse_frames

__all__ = ["SSE_HEADERS", "SSE_MEDIA_TYPE", "asse_frames", "sse_frames"]
