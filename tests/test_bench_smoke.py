"""`bench/run --quick` still runs and reports every documented figure (so the
benchmark cannot rot). Timings are never asserted: the machines are shared."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEYS = {
    "agent_stream_cpu_ratio",
    "agent_astream_cpu_ratio",
    "crew_stream_cpu_ratio",
    "ttfc_added_ms",
    "sse_strict_clients",
    "sse_cpu_us_per_event",
    "sse_kib_per_stream",
    "sse_bare_strict_clients",
    "sse_bare_cpu_us_per_event",
    "sse_bare_kib_per_stream",
    "cache_replay_us_per_chunk",
    "openai_cpu_ratio",
    "anthropic_cpu_ratio",
}


def test_quick_bench_reports_every_figure(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--json", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "agent_stream" in result.stdout
    figures = json.loads(output.read_text())
    assert set(figures) >= KEYS
    assert figures["agent_stream_cpu_ratio"] > 0
    assert figures["agent_astream_cpu_ratio"] > 0
    assert figures["per_client"]["raw_sync"]["cpu_us_per_chunk"] > 0
    # The SSE part ran end to end (a server and a load client); whether N passed is
    # the machine's business, so only the figures' presence is checked.
    assert isinstance(figures["sse_strict_clients"], int)
    assert figures["sse"]["trials"], figures["sse"]
    assert all("error" not in trial for trial in figures["sse"]["trials"])
