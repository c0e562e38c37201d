"""`laraflowai serve`'s cycle collector threshold (LARAFLOWAI_GC_THRESHOLD)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from laraflowai._config import Settings
from laraflowai.cli._collector import tune_collector


@pytest.fixture(autouse=True)
def kept_threshold() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


def test_the_youngest_generation_threshold_is_set_and_the_others_kept(
    kept_threshold: tuple[int, int, int],
) -> None:
    tune_collector(Settings.from_env({"LARAFLOWAI_GC_THRESHOLD": "25000"}).gc_threshold)
    assert gc.get_threshold() == (25_000, *kept_threshold[1:])
    assert gc.isenabled()


def test_zero_leaves_the_interpreter_setting(kept_threshold: tuple[int, int, int]) -> None:
    tune_collector(Settings.from_env({"LARAFLOWAI_GC_THRESHOLD": "0"}).gc_threshold)
    assert gc.get_threshold() == kept_threshold
