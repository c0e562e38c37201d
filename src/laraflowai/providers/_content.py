"""Message content: images made into content parts, and content checked
before any provider sees it.

    from laraflowai.providers import image_part
    history = [{"role": "user", "content": [
        {"type": "text", "text": "What is on this photo?"},
        image_part("photo.jpg"),
    ]}]
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

from .._exceptions import ConfigurationError
from .._types import ContentPart, ImagePart

__all__ = ["IMAGE_TYPES", "MAX_IMAGE_BYTES", "check_content", "image_part", "image_url"]

# The four formats every provider that reads images takes.
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
# Above every provider's own limit for one inline image (Anthropic 5 MB, OpenAI
# 20 MB, Gemini 20 MB inline); anything larger belongs in a provider's file API.
MAX_IMAGE_BYTES = 20 * 1024 * 1024
_HOW = (
    "use laraflowai.providers.image_part(...) with a file path, bytes, an http(s) URL or a "
    "data: URL, or {'type': 'text', 'text': ...}"
)


def image_part(
    source: str | Path | bytes | bytearray | memoryview, media_type: str | None = None
) -> ImagePart:
    """An image content part from a file path, the image's bytes, an http(s)
    URL or a data: URL.

    Bytes and files are read now and sent inline (base64); their type is found
    from their first bytes (PNG, JPEG, GIF or WebP; anything else is refused),
    and `media_type`, when given, must agree. An http(s) URL is sent as a URL:
    the provider fetches it (Ollama cannot: give it bytes or a path).
    """
    if media_type is not None and media_type not in IMAGE_TYPES:
        raise ConfigurationError(
            f"media_type must be one of {', '.join(IMAGE_TYPES)}, got {media_type!r}"
        )
    if isinstance(source, bytes | bytearray | memoryview):
        return _inline(bytes(source), media_type, "the image bytes")
    if isinstance(source, str):
        if source.startswith(("http://", "https://")):
            if any(c.isspace() for c in source):
                raise ConfigurationError(f"the image URL {source[:80]!r} contains spaces")
            part: ImagePart = {"type": "image", "url": source}
            if media_type is not None:
                part["media_type"] = media_type
            return part
        if source.startswith("data:"):
            return _from_data_url(source, media_type, "the image data: URL")
        source = Path(source)
    if isinstance(source, Path):
        return _inline(_read(source.expanduser()), media_type, f"the image file {str(source)!r}")
    raise ConfigurationError(
        f"image_part() takes a file path, bytes, an http(s) URL or a data: URL, "
        f"not {type(source).__name__}"
    )


def check_content(where: str, content: Any) -> str | list[ContentPart]:
    """`content` if it is a string, else its parts checked: text parts and
    image parts, a data: URL in `url` turned into `data` and `media_type`.
    A ConfigurationError names `where` and says how to fix it."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list | tuple):
        raise ConfigurationError(
            f"{where} must be a string or a list of content parts, "
            f"got {type(content).__name__}: {_HOW}"
        )
    parts: list[ContentPart] = []
    for i, part in enumerate(content):
        at = f"{where}[{i}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise ConfigurationError(f"{at} is a text part whose 'text' is not a string")
            parts.append({"type": "text", "text": part["text"]})
        elif kind == "image":
            parts.append(_check_image(at, part))
        else:
            shown = type(part).__name__ if not isinstance(part, dict) else f"type {kind!r}"
            raise ConfigurationError(f"{at} is not a content part ({shown}): {_HOW}")
    return parts


def image_url(part: ImagePart) -> str:
    """The part as one URL: its http(s) URL, or a data: URL of its bytes."""
    if "url" in part:
        return part["url"]
    return f"data:{part['media_type']};base64,{part['data']}"


def _check_image(at: str, part: dict[str, Any]) -> ImagePart:
    url, data, media_type = part.get("url"), part.get("data"), part.get("media_type")
    if (url is None) == (data is None):
        raise ConfigurationError(
            f"{at} is an image part that needs exactly one of 'url' or 'data': "
            "use laraflowai.providers.image_part(...)"
        )
    if media_type is not None and media_type not in IMAGE_TYPES:
        raise ConfigurationError(
            f"{at} has media_type {media_type!r}; images must be {', '.join(IMAGE_TYPES)}"
        )
    if url is not None:
        if not isinstance(url, str):
            raise ConfigurationError(f"{at}: the image 'url' must be a string")
        if url.startswith("data:"):
            return _from_data_url(url, media_type, at)
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"{at}: the image url must be http(s):// or data:, got {url[:40]!r}; for a "
                "file use laraflowai.providers.image_part(path)"
            )
        checked: ImagePart = {"type": "image", "url": url}
        if media_type is not None:
            checked["media_type"] = media_type
        return checked
    if not isinstance(data, str) or media_type is None:
        raise ConfigurationError(
            f"{at}: an image with 'data' needs the base64 text as a string and its "
            "'media_type': use laraflowai.providers.image_part(bytes)"
        )
    if len(data) * 3 // 4 > MAX_IMAGE_BYTES:
        raise ConfigurationError(f"{at}: {_too_large(len(data) * 3 // 4)}")
    # The first bytes only: enough to catch a wrong media_type or text that is
    # not base64, without decoding a large image on every request.
    try:
        head = base64.b64decode(data[:24], validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"{at}: the image 'data' is not base64 text") from None
    found = _sniff(head)
    if found != media_type:
        raise ConfigurationError(
            f"{at} says media_type {media_type!r} but its data is "
            f"{found or 'not a PNG, JPEG, GIF or WebP image'}"
        )
    return {"type": "image", "data": data, "media_type": media_type}


def _from_data_url(url: str, media_type: str | None, what: str) -> ImagePart:
    header, comma, payload = url.partition(",")
    if not comma or not header.endswith(";base64"):
        raise ConfigurationError(f"{what} must look like data:image/png;base64,<base64 data>")
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"{what} does not carry valid base64 data") from None
    declared = header.removeprefix("data:").removesuffix(";base64")
    return _inline(raw, media_type or declared or None, what)


def _inline(raw: bytes, media_type: str | None, what: str) -> ImagePart:
    if len(raw) > MAX_IMAGE_BYTES:
        raise ConfigurationError(f"{what}: {_too_large(len(raw))}")
    found = _sniff(raw)
    if found is None:
        raise ConfigurationError(
            f"{what} is not a PNG, JPEG, GIF or WebP image (the formats every provider "
            "reads): convert it to one of them"
        )
    if media_type is not None and media_type != found:
        raise ConfigurationError(f"{what} is {found}, not {media_type}")
    return {"type": "image", "data": base64.b64encode(raw).decode("ascii"), "media_type": found}


def _read(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_IMAGE_BYTES:
            raise ConfigurationError(f"the image file {str(path)!r}: {_too_large(size)}")
        return path.read_bytes()
    except ConfigurationError:
        raise
    except FileNotFoundError:
        raise ConfigurationError(f"the image file {str(path)!r} does not exist") from None
    except OSError as exc:
        raise ConfigurationError(
            f"the image file {str(path)!r} could not be read: {exc.strerror or exc}"
        ) from None


def _sniff(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _too_large(size: int) -> str:
    return (
        f"{size / 1_048_576:.1f} MB is over the {MAX_IMAGE_BYTES // 1_048_576} MB an inline "
        "image may have: scale it down, or pass an http(s) URL the provider can fetch"
    )
