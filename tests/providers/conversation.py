"""One tool-using conversation, and a driver that sends a ChatRequest through
the real streaming path (reader, retries, HTTP) to the local provider server."""

from __future__ import annotations

import base64
from typing import Any

from laraflowai import ToolCall
from laraflowai._config import get_settings
from laraflowai.providers import ChatRequest, OutputSpec, Provider, ToolSpec, create_provider
from laraflowai.streaming import (
    AsyncStreamingResponse,
    StreamingResponse,
    StreamState,
    open_async_reader,
    open_reader,
)
from tests.servers import ProviderServer

KEY = "provider-key-0123456789abcdef"
# A PNG's signature and the start of its header chunk: enough for any sniffer.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02"
PNG_B64 = base64.b64encode(PNG).decode()
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
JPEG_B64 = base64.b64encode(JPEG).decode()
KYIV = "\u041a\u0438\u0457\u0432"

WEATHER = ToolSpec(
    "get_weather",
    "The weather in a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
TIME = ToolSpec(
    "get_time",
    "The local time in a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
REPORT = OutputSpec(
    "report",
    {
        "type": "object",
        "properties": {"summary": {"type": "string"}, "celsius": {"type": "number"}},
        "required": ["summary", "celsius"],
        "additionalProperties": False,
    },
)
CALLS = [
    ToolCall(0, "call_1", "get_weather", {"city": KYIV}),
    ToolCall(1, "call_2", "get_time", {"city": KYIV}),
]


def history() -> list[Any]:
    """System, a user turn with an image, the assistant's two calls (with text
    beside them), both results (the second an error), and a user follow-up."""
    return [
        {"role": "system", "content": "You are a weather assistant."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Where is this, and what is the weather there?"},
                {"type": "image", "data": PNG_B64, "media_type": "image/png"},
            ],
        },
        {"role": "assistant", "content": "Let me check.", "tool_calls": list(CALLS)},
        {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "12 C, rain"},
        {
            "role": "tool",
            "tool_call_id": "call_2",
            "name": "get_time",
            "content": "clock unavailable",
            "is_error": True,
        },
        {"role": "user", "content": "Summarise it."},
    ]


def full_request(**changes: Any) -> ChatRequest:
    fields: dict[str, Any] = {
        "messages": history(),
        "options": {"max_tokens": 100},
        "tools": (WEATHER, TIME),
        "tool_choice": "auto",
        "output": REPORT,
    }
    fields.update(changes)
    return ChatRequest(**fields)


def provider_at(server: ProviderServer, name: str, path: str = "", **kwargs: Any) -> Provider:
    return create_provider(
        name, get_settings(), api_key=KEY, base_url=f"{server.url}{path}", **kwargs
    )


async def send(provider: Provider, request: ChatRequest, sync: bool) -> str:
    """The answer text, read through the same reader an Agent's stream uses."""
    settings = get_settings()
    provider.check(request)
    state = StreamState(
        agent_role="Tester",
        provider=provider.name,
        model=provider.model,
        buffer_size=1,
        max_chunk_size=settings.max_chunk_size,
    )
    if sync:
        response: Any = StreamingResponse(
            lambda: open_reader(provider, settings, False, None, request, state), state
        )
        return "".join(response)
    aresponse = AsyncStreamingResponse(
        lambda: open_async_reader(provider, settings, False, None, request, state), state
    )
    return "".join([chunk async for chunk in aresponse])
