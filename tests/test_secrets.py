"""Redaction: a remembered key is masked in every form it can be printed in, and
a cut never leaves a piece of it.

https://github.com/laraflowai/laraflowai/issues/15 (item 2)
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import re
import urllib.parse
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laraflowai._secrets import redact, redact_value, remember

KEY = "sk-proj-Ab/Cd+Ef_0123456789-xyzQ"
remember(KEY)


def decoded_views(text: str) -> list[str]:
    """`text` and what it reads as once unescaped in each way a key is printed."""
    views = [text, urllib.parse.unquote(urllib.parse.unquote(text)), html.unescape(text)]
    unescaped = text
    for _ in range(3):  # an escape of an escape of an escape
        unescaped = _ESCAPE.sub(_unescape, unescaped)
        views.append(unescaped)
        views.append(_latin1_as_utf8(unescaped))
    views.append(_latin1_as_utf8(views[1]))
    for run in re.findall(r"[A-Za-z0-9+/_-]{8,}={0,2}", text):
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            for start in range(4):
                piece = run[start:]
                piece = piece[: len(piece) // 4 * 4]
                with contextlib.suppress(ValueError):
                    views.append(decode(piece).decode("utf-8", "replace"))
    return views


_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|x([0-9a-fA-F]{2})|(.))", re.S)


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1) or match.group(2) or match.group(3)
    return chr(int(code, 16)) if code else match.group(4)


def _latin1_as_utf8(text: str) -> str:
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def leaked(text: str, key: str = KEY) -> str | None:
    """A piece of `key` of 6 or more characters visible in `text`, if any."""
    for view in decoded_views(text):
        for start in range(len(key) - 5):
            piece = key[start : start + 6]
            if piece in view:
                return piece
    return None


def json_unicode(text: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in text)


def some_escaped(text: str) -> str:
    return "".join(f"\\u{ord(c):04X}" if i % 3 == 0 else c for i, c in enumerate(text))


FORMS: dict[str, Callable[[str], str]] = {
    "raw": lambda k: f"invalid key {k} given",
    "json": lambda k: json.dumps({"error": {"message": f"bad key {k}"}}),
    "json-slash": lambda k: json.dumps({"key": k}).replace("/", "\\/"),
    "json-unicode-all": lambda k: '{"key": "' + json_unicode(k) + '"}',
    "json-unicode-some": lambda k: '{"key": "' + some_escaped(k) + '"}',
    "json-newlines": lambda k: json.dumps({"m": f"line one\nkey:\n{k}\n\tend"}),
    "json-of-json": lambda k: json.dumps(json.dumps({"key": k})),
    "json-of-json-unicode": lambda k: json.dumps('{"key": "' + json_unicode(k) + '"}'),
    "repr-str": lambda k: repr({"key": k, "quote": "it's"}),
    "repr-bytes": lambda k: repr(k.encode()),
    "repr-hex": lambda k: "b'" + "".join(f"\\x{b:02x}" for b in k.encode()) + "'",
    "url": lambda k: "https://x.test/v1?alt=sse&k=" + urllib.parse.quote(k, safe=""),
    "url-all": lambda k: "".join(f"%{b:02X}" for b in k.encode()),
    "url-double": lambda k: urllib.parse.quote(urllib.parse.quote(k, safe=""), safe=""),
    "html": lambda k: "".join(f"&#{ord(c)};" for c in k),
    "bearer": lambda k: f"Authorization: Bearer {k}",
    "x-api-key": lambda k: f"x-api-key: {k}\r\n",
    "x-goog-api-key": lambda k: f"{{'x-goog-api-key': '{k}'}}",
    **{
        f"basic-user{n}": (
            lambda k, n=n: (
                "Authorization: Basic " + base64.b64encode(f"{'u' * n}:{k}".encode()).decode()
            )
        )
        for n in range(4)
    },
    "base64-urlsafe": lambda k: "token=" + base64.urlsafe_b64encode(f"a:{k}".encode()).decode(),
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_each_printed_form_of_a_key_is_redacted(form: str) -> None:
    text = FORMS[form](KEY)
    assert leaked(text) is not None  # the check sees the key before redaction
    assert leaked(redact(text)) is None, redact(text)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_a_cut_never_leaves_part_of_a_key(form: str) -> None:
    text = "x" * 37 + FORMS[form](KEY) + " and then some more words"
    for limit in range(len(text) + 2):
        out = redact(text, limit=limit)
        assert len(out) <= limit
        assert leaked(out) is None, (limit, out)


def test_cutting_before_redacting_was_the_leak() -> None:
    text = "x" * 290 + f"key {KEY} echoed"
    assert leaked(redact(text[:300]))  # the old order shows the key's head
    assert leaked(redact(text, limit=300)) is None


def test_unknown_keys_in_credential_headers_are_masked() -> None:
    text = (
        "Authorization: Bearer abcdefghijklmnopqrst; x-api-key: unknown-anthropic-key "
        "x-goog-api-key=AIzaSyUnknownKey123 url?alt=sse&key=AIzaOtherKey456"
    )
    out = redact(text)
    for secret in ("abcdefghijklmnopqrst", "unknown-anthropic-key", "AIzaSy", "AIzaOther"):
        assert secret not in out
    assert redact("basic reasoning and token limits") == "basic reasoning and token limits"


def test_text_without_keys_is_unchanged_and_a_short_cut_ends_with_an_ellipsis() -> None:
    text = "The model said: 100% \\u00e9 &#233; done"
    assert redact(text) == text
    assert redact(text, limit=10) == text[:9] + "\u2026"
    assert redact(text, limit=1) == "\u2026"
    assert redact(text, limit=0) == ""


def test_redact_value_masks_keys_of_objects_and_survives_deep_nesting() -> None:
    value: object = {KEY: [f"x{KEY}", ("a", KEY)]}
    for _ in range(5000):
        value = {"a": value}
    out = redact_value(value)
    assert KEY not in json.dumps(out)
    assert "sk-proj" not in repr(redact_value({KEY: [f"x{KEY}", (KEY,)]}))


@settings(max_examples=150, deadline=None)
@given(
    before=st.text(max_size=40),
    after=st.text(max_size=40),
    form=st.sampled_from(sorted(FORMS)),
    limit=st.one_of(st.none(), st.integers(min_value=0, max_value=200)),
)
def test_no_piece_of_a_key_survives_any_text_form_and_cut(
    before: str, after: str, form: str, limit: int | None
) -> None:
    out = redact(before + FORMS[form](KEY) + after, limit=limit)
    assert leaked(out) is None, out
