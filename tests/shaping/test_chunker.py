"""Chunk shaping without I/O: coalescing to a minimum size, splitting at a
maximum size, never inside a character or a grapheme cluster. Issue 6."""

from __future__ import annotations

import unicodedata

import pytest
import regex

from laraflowai.shaping import Chunker, split_text

GRAPHEMES = regex.compile(r"\X")
SKIN_TONES = range(0x1F3FB, 0x1F400)
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 7 code points
MIXED = (
    "\u041f\u0440\u0438\u0432\u0456\u0442, \u0441\u0432\u0456\u0442! "  # Cyrillic
    "\U0001f44b\U0001f3fd\U0001f44d\U0001f3ff "  # skin tones
    "\U0001f1fa\U0001f1e6\U0001f1f5\U0001f1f1\U0001f1ef\U0001f1f5"  # three flags, no spaces
    f" {FAMILY} e\u0301te\u0301 \u2764\ufe0f\r\n"  # ZWJ family, combining accents, VS16, CRLF
)


def assert_whole_clusters(pieces: list[str], text: str) -> None:
    assert "".join(pieces) == text
    assert [cluster for piece in pieces for cluster in GRAPHEMES.findall(piece)] == (
        GRAPHEMES.findall(text)
    )
    for piece in pieces:  # the same, said by hand for the cases of the issue
        first = ord(piece[0])
        assert first not in SKIN_TONES and piece[0] not in "\u200d\ufe0f\n"
        assert not unicodedata.combining(piece[0])
        regional = sum(1 for char in piece if 0x1F1E6 <= ord(char) <= 0x1F1FF)
        assert regional % 2 == 0  # every flag whole


@pytest.mark.parametrize("max_chars", [7, 8, 10, 11, 17, 50, 1000])
def test_splits_never_cut_a_character_or_a_grapheme_cluster(max_chars: int) -> None:
    text = MIXED * 40
    pieces = split_text(text, max_chars)
    assert all(len(piece) <= max_chars for piece in pieces)
    assert_whole_clusters(pieces, text)


def test_a_5000_character_delta_splits_into_five_or_six_chunks_at_word_boundaries() -> None:
    words = "Streaming answers arrive word by word, never stuck. " * 100
    pieces = split_text(words[:5000], 1000)
    assert 5 <= len(pieces) <= 6
    assert all(len(piece) <= 1000 for piece in pieces)
    assert all(piece.endswith(" ") for piece in pieces[:-1])
    assert "".join(pieces) == words[:5000]


def test_without_whitespace_near_the_end_the_cut_is_at_the_limit() -> None:
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_crlf_stays_together() -> None:
    text = "abcdefghi\r\njklmnopqr\r\n"
    for max_chars in range(2, 12):
        assert not any(piece.startswith("\n") for piece in split_text(text, max_chars))


def test_a_cluster_longer_than_the_limit_is_cut_between_code_points() -> None:
    pieces = split_text(FAMILY * 2, 3)
    assert "".join(pieces) == FAMILY * 2 and all(len(piece) <= 3 for piece in pieces)


def test_small_deltas_coalesce_into_chunks_of_at_least_min_chars() -> None:
    chunker = Chunker(min_chars=5, max_chars=100)
    out = [chunk for letter in "abcdefghijkl" for chunk in chunker.feed(letter)]
    assert out == ["abcde", "fghij"]
    assert chunker.pending == "kl" and chunker.pending_since is not None
    assert chunker.flush() == ["kl"]
    assert chunker.pending == "" and chunker.pending_since is None


def test_the_short_rest_of_a_split_delta_waits_for_more_text() -> None:
    chunker = Chunker(min_chars=10, max_chars=20)
    assert chunker.feed("x" * 45) == ["x" * 20, "x" * 20]
    assert chunker.pending == "x" * 5
    assert chunker.feed("y" * 5) == ["x" * 5 + "y" * 5]
    assert chunker.feed("") == [] and chunker.pending_since is None
