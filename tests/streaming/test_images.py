"""Images with a task or in the history reach each provider in its own shape;
a provider that cannot read them refuses before sending anything."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from laraflowai import ConfigurationError, FlowAI, Task
from tests.servers import ProviderServer
from tests.tools.wire import answer_reply, provider_env  # noqa: F401 (a fixture)

pytestmark = pytest.mark.usefixtures("provider_env", "async_clients")

# The smallest valid PNG: 1x1, one transparent pixel.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
PNG64 = base64.b64encode(PNG).decode()


def last_user(provider: str, body: dict[str, Any]) -> Any:
    if provider == "gemini":
        return body["contents"][-1]["parts"]
    return body["messages"][-1]


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_images_with_the_task_reach_each_provider(
    server: ProviderServer, tmp_path: Path, sync: bool
) -> None:
    photo = tmp_path / "photo.bin"  # the type comes from the bytes, not the name
    photo.write_bytes(PNG)
    expected = {
        "openai": {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in these?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG64}"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            ],
        },
        "anthropic": {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in these?"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": PNG64},
                },
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
            ],
        },
    }
    for provider, message in expected.items():
        server.reset()
        server.enqueue(answer_reply(provider, ["A cat."]))
        agent = FlowAI.agent("Looker", "Describe images", provider, cache=False)
        images = [photo, "https://example.com/cat.png"]
        if sync:
            text = agent.stream("What is in these?", images=images).get_content()
        else:
            text = await agent.astream("What is in these?", images=images).get_content()
        assert text == "A cat."
        assert last_user(provider, server.requests[0].json()) == message


def test_ollama_and_gemini_take_inline_images(server: ProviderServer) -> None:
    server.enqueue(answer_reply("ollama", ["ok"]))
    FlowAI.agent("L", "D", "ollama").stream(Task("Look", images=[PNG])).get_content()
    sent = server.requests[0].json()["messages"][-1]
    assert sent == {"role": "user", "content": "Look", "images": [PNG64]}

    server.enqueue(answer_reply("gemini", ["ok"]))
    FlowAI.agent("L", "D", "gemini").stream("Look", images=[PNG]).get_content()
    parts = last_user("gemini", server.requests[1].json())
    assert {"inlineData": {"mimeType": "image/png", "data": PNG64}} in parts
    assert {"text": "Look"} in parts


def test_images_in_the_history(server: ProviderServer) -> None:
    server.enqueue(answer_reply("openai", ["Still a cat."]))
    history = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image", "url": "https://e.x/c.png"},
            ],
        },
        {"role": "assistant", "content": "A cat."},
    ]
    agent = FlowAI.agent("L", "D", "openai", cache=False)
    assert agent.stream("And now?", history=history).get_content() == "Still a cat."
    messages = server.requests[0].json()["messages"]
    assert messages[1]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "https://e.x/c.png"},
    }


@pytest.mark.parametrize(
    ("images", "message"),
    [
        ("photo.png", "wrap a single one"),
        ([b"GIF87a-not-really-an-image"[:3] + b"x"], "PNG, JPEG, GIF or WebP"),
        (["/nowhere/photo.png"], "photo.png"),
    ],
)
def test_bad_images_are_refused_before_sending(
    server: ProviderServer, images: Any, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        FlowAI.agent("L", "D", "openai").stream("Look", images=images)
    assert server.requests == []


def test_ollama_refuses_an_image_url(server: ProviderServer) -> None:
    with pytest.raises(ConfigurationError, match="Ollama"):
        FlowAI.agent("L", "D", "ollama").stream("Look", images=["https://e.x/c.png"])
    assert server.requests == []
