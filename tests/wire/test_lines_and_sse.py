"""The line splitter and the SSE decoder survive any read boundary."""

from __future__ import annotations

import pytest

from laraflowai.wire._lines import LineDecoder
from laraflowai.wire.sse import ServerSentEvent as _Event
from laraflowai.wire.sse import SSEDecoder


def ServerSentEvent(
    event: str, data: str, id: str | None = None, retry: int | None = None
) -> _Event:
    return _Event(event, data.encode(), id, retry)


def feed_split(decoder: SSEDecoder, data: bytes, cut: int) -> list[_Event]:
    return decoder.feed(data[:cut]) + decoder.feed(data[cut:]) + decoder.finish()


def feed_bytewise(decoder: SSEDecoder, data: bytes) -> list[_Event]:
    events = []
    for index in range(len(data)):
        events += decoder.feed(data[index : index + 1])
    return events + decoder.finish()


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_line_decoder_when_split_at_every_byte_then_same_lines(ending: bytes) -> None:
    text = ending.join([b"alpha", b"", "\u0431\u0435\u0442\u0430 \U0001f600".encode(), b"gamma"])
    text += ending
    for cut in range(len(text) + 1):
        decoder = LineDecoder()
        lines = decoder.feed(text[:cut]) + decoder.feed(text[cut:])
        assert decoder.finish() == b""
        assert lines == [b"alpha", b"", "\u0431\u0435\u0442\u0430 \U0001f600".encode(), b"gamma"]


def test_line_decoder_crlf_split_between_cr_and_lf_is_one_line_end() -> None:
    decoder = LineDecoder()
    assert decoder.feed(b"one\r") == [b"one"]
    assert decoder.feed(b"\ntwo\r") == [b"two"]
    assert decoder.feed(b"\r\n") == [b""]
    assert decoder.finish() == b""


def test_sse_event_split_at_every_byte_is_parsed_once() -> None:
    frame = (
        ": keep-alive\n\n"
        'event: delta\nid: 7\ndata: {"text": "\u041f\u0440\u0438\u0432\u0456\u0442 \U0001f30d"}\n\n'
        "data: line one\ndata: line two\n\n"
    ).encode()
    expected = [
        ServerSentEvent(
            "delta", '{"text": "\u041f\u0440\u0438\u0432\u0456\u0442 \U0001f30d"}', "7"
        ),
        ServerSentEvent("message", "line one\nline two", "7"),
    ]
    for cut in range(len(frame) + 1):
        assert feed_split(SSEDecoder(), frame, cut) == expected
    assert feed_bytewise(SSEDecoder(), frame) == expected


def test_sse_field_rules_follow_the_whatwg_spec() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(
        b"data:no-space\n\n"  # no space after the colon
        b"data\n\n"  # a field without a colon has an empty value
        b"event: nothing\n\n"  # no data line at all: no event
        b"retry: 2500\nid: a\x00b\ndata: x\n\n"  # an id containing NUL is ignored
        b"retry: soon\nid:\ndata: y\n\n"  # an empty id resets; a non-number retry is ignored
        b"unknown: field\ndata:  two spaces\n\n"
    )
    assert events == [
        ServerSentEvent("message", "no-space"),
        ServerSentEvent("message", ""),
        ServerSentEvent("message", "x", None, 2500),
        ServerSentEvent("message", "y", None, 2500),
        ServerSentEvent("message", " two spaces", None, 2500),
    ]


def test_sse_leading_bom_is_dropped_even_when_split() -> None:
    data = b"\xef\xbb\xbfdata: hi\n\n"
    for cut in range(len(data) + 1):
        assert feed_split(SSEDecoder(), data, cut) == [ServerSentEvent("message", "hi")]


def test_sse_invalid_utf8_becomes_replacement_character() -> None:
    (event,) = SSEDecoder().feed(b"data: a\xffb\n\n")
    assert event.data == "a\ufffdb"


def test_sse_unterminated_last_line_is_discarded_but_complete_lines_are_kept() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: [DONE]\n") == []
    assert decoder.finish() == [ServerSentEvent("message", "[DONE]")]
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"trunc') == []
    assert decoder.finish() == []
