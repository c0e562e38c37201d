"""`bench/run --quick` still runs and reports every documented figure (so the
benchmark cannot rot). Timings are never asserted: the machines are shared."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STREAM_KEYS = {
    "raw_sync_cpu_us_per_chunk",
    "agent_stream_cpu_ratio",
    "agent_astream_cpu_ratio",
    "crew_stream_cpu_ratio",
    "ttfc_added_ms",
    "ttfc_added_async_ms",
    "server_ceiling_chunks_per_s",
    "cache_replay_us_per_chunk",
    "cache_replay_cpu_ratio",
    "cache_replay_memory_us_per_chunk",
    "shaping_us_per_provider_chunk",
    "shaping_cpu_ratio",
}
# Peers are measured when installed (the bench extra), never dependencies.
PEERS = {"openai": "openai", "anthropic": "anthropic", "litellm": "litellm"}
SSE_KEYS = {
    "sse_strict_clients",
    "sse_cpu_us_per_event",
    "sse_kib_per_stream",
    "sse_bare_strict_clients",
    "sse_bare_cpu_us_per_event",
    "sse_bare_kib_per_stream",
    "sse_floor_strict_clients",
    "sse_floor_cpu_us_per_event",
    "sse_floor_kib_per_stream",
}


DELIVERY_KEYS = {
    "memory_store_cpu_us_per_event", "redis_store_cpu_us_per_event", "redis_store_ratio",
    "ws_cpu_us_per_event", "ws_bare_cpu_us_per_event", "ws_ratio",
}  # fmt: skip


def _bench(tmp_path: Path, *args: str) -> tuple[str, dict[str, Any]]:
    output = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", *args, "--json", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout, json.loads(output.read_text())


def _numbers(figures: dict[str, Any], keys: set[str]) -> None:
    missing = {key for key in keys if not isinstance(figures.get(key), int | float)}
    assert not missing, {key: figures.get(key) for key in missing}


def test_quick_bench_reports_every_figure(tmp_path: Path) -> None:
    stdout, figures = _bench(tmp_path)
    assert "agent_stream" in stdout and "cache_replay" in stdout
    assert figures["parts"] == ["stream", "sse", "delivery"]
    _numbers(figures, STREAM_KEYS | SSE_KEYS | DELIVERY_KEYS)
    assert figures["ws_all_delivered"] is True
    for peer, module in PEERS.items():
        if importlib.util.find_spec(module) is not None:
            _numbers(figures, {f"{peer}_cpu_ratio"})
        else:
            assert figures[f"{peer}_cpu_ratio"] is None
            assert peer in figures["unavailable"]
    assert figures["per_client"]["raw_sync"]["cpu_us_per_chunk"] > 0
    # The SSE part ran end to end (a server and a load client); whether N passed is
    # the machine's business, so only the figures' presence is checked.
    assert isinstance(figures["sse_strict_clients"], int)
    assert figures["sse"]["criterion"]["completed_at_least"] == 0.99
    assert figures["sse"]["trials"], figures["sse"]
    assert all("error" not in trial for trial in figures["sse"]["trials"])


def test_quick_bench_runs_one_part(tmp_path: Path) -> None:
    stdout, figures = _bench(tmp_path, "--only", "sse")
    assert "agent_stream" not in stdout
    assert figures["parts"] == ["sse"]
    _numbers(figures, SSE_KEYS)
    assert all(figures[key] is None for key in STREAM_KEYS)


def test_an_n_holds_when_its_repeated_trial_passes() -> None:
    # bench/sse.py runs a failed trial once more: the N fails only when no trial of it passed.
    from bench.sse import _bounds

    def row(clients: int, passed: bool) -> dict[str, Any]:
        return {"mode": "ours", "clients": clients, "passed": passed}

    rows = [row(250, True), row(500, False), row(500, True), row(750, False), row(750, False)]
    assert _bounds(rows, "ours") == (500, 750)
    assert _bounds(rows[:2], "ours") == (250, 500)
    assert _bounds([row(250, True)], "ours") == (250, None)
    assert _bounds(rows, "bare") == (0, None)
