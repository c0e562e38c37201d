"""Keep API keys out of every message, repr and log line we produce.

Each key the library is given is remembered here; `redact()` masks every
occurrence of any of them, whatever path the text took (an error body echoed
by a proxy, a URL, a header dump), in every form a key takes when printed:

- raw, or escaped character by character: JSON (`\\/`, `\\u0073`), Python
  repr (`\\x73`, `\\U00000073`, escapes of escapes like `\\\\u0073`), URL
  percent-encoding (`%73`, `%2573`), HTML character references (`&#115;`);
- base64, at any alignment (HTTP Basic auth sends `base64(user:key)`);
- and, known or not, the value of a credential header or parameter:
  `Bearer ...`, `Basic ...`, `x-api-key: ...`, `x-goog-api-key: ...`, `?key=...`.

Cut text only through `redact(text, limit=...)`: it redacts the whole text
first, then cuts, never through a mask. Cutting first can leave the head of a
key that the redaction no longer recognises.
"""

from __future__ import annotations

import base64
import re
import threading
from typing import Any

__all__ = ["mask", "redact", "redact_value", "remember"]

_MIN_LENGTH = 6
_MASK = "****"
# Past this depth decoded JSON is replaced, not walked (RecursionError).
_MAX_DEPTH = 64
_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()
_escaped: re.Pattern[str] | None = None
_base64_cores: tuple[str, ...] = ()

_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")
# A credential after its header or parameter name (`x-api-key: ...`), or after
# `Bearer`/`Basic` when it looks like one (16 or more token characters, so that
# "basic reasoning" stays as it is).
# Each match of _CREDENTIAL holds one of these (a test in C, before the regex).
_CREDENTIAL_NAMES = ("key", "token", "bearer", "basic")
_CREDENTIAL = re.compile(
    r"""(?ix)
    (?: ( (?:x-goog-api-key|x-api-key|api[-_]?key|access[-_]?token)
          ["']? \s* [:=] \s* ["']? (?:bearer\s+|basic\s+)?
        | [?&;]key=
        )
        ( [^\s"'&,;<>(){}\[\]\\]{6,} )
    | ( \b(?:bearer|basic) \s+ )
      ( [A-Za-z0-9\-._~+/]{16,} =* )
    )
    """
)


def remember(secret: str | None) -> None:
    global _secrets, _escaped, _base64_cores
    if secret and len(secret) >= _MIN_LENGTH and secret not in _secrets:
        with _lock:
            secrets = _secrets | {secret}
            # Longest first, so a key that begins another is never matched alone.
            ordered = sorted(secrets, key=len, reverse=True)
            _escaped = re.compile("|".join(_escaped_pattern(s) for s in ordered))
            _base64_cores = tuple(core for s in ordered for core in _base64_forms(s))
            _secrets = secrets


def mask(secret: str | None) -> str:
    """How a secret is shown to people: whether it is set, nothing of its value."""
    return "(set, hidden)" if secret else "(not set)"


def redact(text: str, limit: int | None = None) -> str:
    """`text` with every remembered key (in any printed form) and every
    credential header value masked; then, if `limit` is given, cut to at most
    `limit` characters, an ellipsis included, never through a mask."""
    secrets, escaped = _secrets, _escaped
    if secrets:
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, _MASK)
        if escaped is not None and ("\\" in text or "%" in text or "&#" in text):
            text = escaped.sub(_MASK, text)
        for core in _base64_cores:
            if core in text:
                text = _mask_base64_runs(text, core)
    lowered = text.lower()
    if any(name in lowered for name in _CREDENTIAL_NAMES):
        text = _CREDENTIAL.sub(_mask_credential, text)
    if limit is not None and len(text) > limit:
        text = _cut(text, limit)
    return text


def redact_value(value: Any, _depth: int = 0) -> Any:
    """`redact` applied to every string inside decoded JSON, keys included."""
    if isinstance(value, str):
        return redact(value)
    if _depth >= _MAX_DEPTH and isinstance(value, dict | list | tuple):
        return "(nested too deeply, not shown)"
    if isinstance(value, dict):
        return {
            redact_value(key, _depth + 1): redact_value(item, _depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_value(item, _depth + 1) for item in value]
    return value


def _cut(text: str, limit: int) -> str:
    if limit <= 1:
        return "\u2026"[:limit]
    cut = limit - 1
    while cut > 0 and text[cut] == "*" and text[cut - 1] == "*":  # never through a mask
        cut -= 1
    return text[:cut] + "\u2026"


def _mask_credential(match: re.Match[str]) -> str:
    return (match.group(1) or match.group(3)) + _MASK


def _hex(number: int, width: int) -> str:
    """A regex for `number` in hex, either case."""
    return "".join(
        f"[{digit}{digit.upper()}]" if digit.isalpha() else digit for digit in f"{number:0{width}x}"
    )


def _escaped_pattern(secret: str) -> str:
    """A regex for `secret` with any of its characters escaped in any of the
    forms JSON, Python repr, URL and HTML use (and escapes of those escapes)."""
    parts = []
    for char in secret:
        code = ord(char)
        utf8 = char.encode("utf-8")
        forms = [re.escape(char)]
        if not char.isalnum():
            forms.append(r"\\+" + re.escape(char))
        if code <= 0xFFFF:
            forms.append(r"\\+u" + _hex(code, 4))
        else:
            high = 0xD800 + ((code - 0x10000) >> 10)
            low = 0xDC00 + ((code - 0x10000) & 0x3FF)
            forms.append(r"\\+u" + _hex(high, 4) + r"\\+u" + _hex(low, 4))
        forms.append(r"\\+U" + _hex(code, 8))
        if code <= 0xFF:
            forms.append(r"\\+x" + _hex(code, 2))
        forms.append("".join(r"\\+x" + _hex(byte, 2) for byte in utf8))
        forms.append("".join("%(?:25)*" + _hex(byte, 2) for byte in utf8))
        forms.append(f"&#(?:0*{code}|[xX]0*{_hex(code, 1)});")
        parts.append("(?:" + "|".join(forms) + ")")
    return "".join(parts)


def _base64_forms(secret: str) -> list[str]:
    """The base64 text that encodes only bytes of `secret`, at each of the three
    alignments it can have inside a longer encoded string, standard and URL-safe."""
    data = secret.encode("utf-8")
    cores = []
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + data).decode("ascii")
        # Drop the group holding the padding bytes and the last, partial group.
        core = encoded[4 if shift else 0 : 4 * ((shift + len(data)) // 3)]
        if len(core) >= 8:
            cores.append(core)
            cores.append(core.translate(str.maketrans("+/", "-_")))
    return cores


def _mask_base64_runs(text: str, core: str) -> str:
    """`text` with each run of base64 characters that contains `core` masked."""
    pieces = []
    position = 0
    while True:
        found = text.find(core, position)
        if found == -1:
            break
        start, end = found, found + len(core)
        while start > position and text[start - 1] in _BASE64_CHARS:
            start -= 1
        while end < len(text) and text[end] in _BASE64_CHARS:
            end += 1
        while end < len(text) and text[end] == "=":  # padding
            end += 1
        pieces.append(text[position:start])
        pieces.append(_MASK)
        position = end
    pieces.append(text[position:])
    return "".join(pieces)
