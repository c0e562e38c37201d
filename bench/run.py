"""`bench/run [--quick] [--only stream|sse] [--json PATH]`: our streaming path
against a raw client and the peers, interleaved (A B C A B C ...) so machine
drift cancels, each client in its own process, with a replay from the stream
cache and the shaping path among them (the "stream" part); then the SSE
endpoint end to end (the "sse" part, bench/sse.py).

Results are ratios to the raw baseline of the same run (httpx + httpx-sse +
json.loads per event), never absolute pass/fail figures; the SSE part reports
the largest number of streams one server process holds under the strict
criterion, for ours, a bare Starlette reference and the floor (a raw ASGI app
writing frames encoded at start-up), measured in the same run.
A part that did not run reports None for its figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import delivery, sse
from .clients import REPLAYS
from .server import start_server

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("stream", "sse", "delivery")
DELIVERY_FIGURES = [
    "memory_store_cpu_us_per_event", "redis_store_cpu_us_per_event", "redis_store_ratio",
    "redis_server_cpu_us_per_event", "redis_agent_cpu_us_per_delta",
    "redis_agent_iterated_cpu_us_per_delta", "ws_clients", "ws_cpu_us_per_event",
    "ws_bare_cpu_us_per_event", "ws_ratio",
]  # fmt: skip
STREAM_CLIENTS = [
    "raw_sync", "raw_async", "agent_stream", "agent_astream", "crew_stream", "tools_stream",
    "cache_replay", "cache_replay_memory", "shaping", "openai", "anthropic", "litellm",
]  # fmt: skip
TTFC_CLIENTS = ["raw_sync", "agent_stream", "raw_async", "agent_astream"]
PEERS = ["openai", "anthropic", "litellm"]
SSE_FIGURES = [
    "sse_strict_clients", "sse_cpu_us_per_event", "sse_kib_per_stream",
    "sse_bare_strict_clients", "sse_bare_cpu_us_per_event", "sse_bare_kib_per_stream",
    "sse_floor_strict_clients", "sse_floor_cpu_us_per_event", "sse_floor_kib_per_stream",
    "sse_granian_strict_clients", "sse_granian_cpu_us_per_event", "sse_granian_kib_per_stream",
    "sse_cpu_ratio_to_bare_same_n", "sse_granian_cpu_ratio_to_bare_same_n",
    "sse_floor_cpu_ratio_to_bare_same_n", "sse_cpu_at_clients",
]  # fmt: skip


def _client(name: str, url: str, repeat: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "bench.clients", name, "--url", url, "--repeat", str(repeat)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )
    if result.returncode != 0:
        tail = result.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"error": tail[0]}
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _median(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [row[key] for row in rows if key in row]
    return statistics.median(values) if values else None


def _added(ours: float | None, base: float | None) -> float | None:
    return None if ours is None or base is None else ours - base


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    parser.add_argument("--only", choices=PARTS, help="run one part (default: all)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    parts = PARTS if args.only is None else (args.only,)
    started = time.time()
    results: dict[str, Any] = {"parts": list(parts)}
    if "stream" in parts:
        results.update(_stream_part(args.quick))
    else:
        results.update(chunks=None, rounds=None, **_stream_figures({}, {}))
    if "sse" in parts:
        results.update(_sse_part(args.quick))
    else:
        results.update(dict.fromkeys(SSE_FIGURES))
    if "delivery" in parts:
        results.update(_delivery_part(args.quick))
    else:
        results.update(dict.fromkeys(DELIVERY_FIGURES))
    results["seconds"] = round(time.time() - started, 1)
    if "stream" in parts:
        _print_stream(results)
    if "sse" in parts:
        _print_sse(results)
    if "delivery" in parts:
        print("\ndelivery beyond one process (bench/delivery.py):")
        for key in DELIVERY_FIGURES:
            print(f"  {key:32} {results.get(key)}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def _stream_part(quick: bool) -> dict[str, Any]:
    """Parts 1, 2 and 4: cost per chunk of every client, interleaved, then the
    time added to the first chunk of a short stream."""
    chunks, rounds, repeat, ttfc_streams = (2000, 1, 1, 10) if quick else (20000, 5, 3, 200)
    server = start_server()
    try:
        stream_url = f"{server.url}/n/{chunks}"
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in STREAM_CLIENTS}
        for _ in range(rounds):
            for name in STREAM_CLIENTS:
                rows[name].append(_client(name, stream_url, repeat))
        short_url = f"{server.url}/n/5"
        ttfc: dict[str, list[dict[str, Any]]] = {name: [] for name in TTFC_CLIENTS}
        for _ in range(1 if quick else 2):
            for name in TTFC_CLIENTS:
                ttfc[name].append(_client(name, short_url, ttfc_streams))
    finally:
        server.stop()
    return {"chunks": chunks, "rounds": rounds, **_stream_figures(rows, ttfc)}


def _stream_figures(
    rows: dict[str, list[dict[str, Any]]], ttfc: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    cpu = {name: _median(rows.get(name, []), "cpu_us_per_chunk") for name in STREAM_CLIENTS}
    wall = {name: _median(rows.get(name, []), "wall_us_per_chunk") for name in STREAM_CLIENTS}
    first = {name: _median(ttfc.get(name, []), "ttfc_ms") for name in TTFC_CLIENTS}
    base = cpu["raw_sync"]

    def ratio(name: str, baseline: str = "raw_sync") -> float | None:
        # Each round against the baseline of the same round, then the median: a
        # round the machine slowed for everyone cancels out.
        pairs = zip(rows.get(name, []), rows.get(baseline, []), strict=False)
        ratios = [
            ours["cpu_us_per_chunk"] / theirs["cpu_us_per_chunk"]
            for ours, theirs in pairs
            if "cpu_us_per_chunk" in ours and theirs.get("cpu_us_per_chunk")
        ]
        return statistics.median(ratios) if ratios else None

    # The server is never the bottleneck if it can feed chunks faster than the
    # fastest client consumes them: the fastest client's wall time per chunk
    # bounds it from below. Replays never reach it, so they do not count.
    fastest = min(
        (value for name, value in wall.items() if value and name not in REPLAYS), default=None
    )
    return {
        "raw_sync_cpu_us_per_chunk": base,
        "raw_async_cpu_us_per_chunk": cpu["raw_async"],
        "agent_stream_cpu_ratio": ratio("agent_stream"),
        "agent_astream_cpu_ratio": ratio("agent_astream", "raw_async"),
        "crew_stream_cpu_ratio": ratio("crew_stream"),
        # A tool-using agent's chunks against a plain agent's, the same run.
        "tools_stream_cpu_ratio_to_plain": ratio("tools_stream", "agent_stream"),
        "ttfc_added_ms": _added(first["agent_stream"], first["raw_sync"]),
        "ttfc_added_async_ms": _added(first["agent_astream"], first["raw_async"]),
        "server_ceiling_chunks_per_s": None if not fastest else 1e6 / fastest,
        "cache_replay_us_per_chunk": cpu["cache_replay"],
        "cache_replay_cpu_ratio": ratio("cache_replay"),
        "cache_replay_memory_us_per_chunk": cpu["cache_replay_memory"],
        "cache_replay_memory_cpu_ratio": ratio("cache_replay_memory"),
        "shaping_us_per_provider_chunk": cpu["shaping"],
        "shaping_cpu_ratio": ratio("shaping"),
        **{f"{peer}_cpu_ratio": ratio(peer) for peer in PEERS},
        "per_client": {
            name: {
                "cpu_us_per_chunk": cpu[name],
                "wall_us_per_chunk": wall[name],
                "cpu_ratio": ratio(name, "raw_async" if name == "agent_astream" else "raw_sync"),
                "rounds_cpu_us_per_chunk": [
                    row.get("cpu_us_per_chunk") for row in rows.get(name, [])
                ],
            }
            for name in STREAM_CLIENTS
        },
        "unavailable": {
            name: rows[name][0].get("unavailable") or rows[name][0].get("error")
            for name in STREAM_CLIENTS
            if cpu[name] is None and rows.get(name)
        },
    }


def _delivery_part(quick: bool) -> dict[str, Any]:
    try:
        return {**delivery.store_rows(quick), **delivery.fanout_rows(quick)}
    except (OSError, RuntimeError) as error:  # e.g. no redis-server: reported, not fatal
        return {**dict.fromkeys(DELIVERY_FIGURES), "delivery": {"error": str(error)}}


def _sse_part(quick: bool) -> dict[str, Any]:
    def report(row: dict[str, Any]) -> None:
        print(f"  sse {_trial_line(row)}", file=sys.stderr, flush=True)

    try:
        return sse.run_part(quick, report)
    except (OSError, RuntimeError) as error:  # e.g. no /proc: the part is skipped, not the run
        return {"sse": {"error": str(error)}}


def _print_stream(results: dict[str, Any]) -> None:
    clients = results["per_client"]
    print(f"{results['chunks']} chunks per stream, {results['rounds']} interleaved rounds")
    print(f"{'client':<20} {'cpu µs/chunk':>13} {'wall µs/chunk':>14} {'cpu ratio':>10}")
    for name in STREAM_CLIENTS:
        cpu, wall = clients[name]["cpu_us_per_chunk"], clients[name]["wall_us_per_chunk"]
        if cpu is None:
            print(f"{name:<20} {'-':>13} {'-':>14} {'-':>10}  ({results['unavailable'][name]})")
            continue
        ratio = clients[name]["cpu_ratio"]
        print(f"{name:<20} {cpu:>13.2f} {wall:>14.2f} {_fmt(ratio, 2):>9}x")
    print(
        "cache_replay*: agent.stream() replayed from the sqlite / memory cache, no request;"
        " shaping: buffer_size 10, max_chunk_size 1000, per provider chunk"
    )
    print(f"time to first chunk added (sync):  {_fmt(results['ttfc_added_ms'])} ms")
    print(f"time to first chunk added (async): {_fmt(results['ttfc_added_async_ms'])} ms")
    print(f"server ceiling: >= {_fmt(results['server_ceiling_chunks_per_s'], 0)} chunks/s")
    for key in ("tools_stream_cpu_ratio_to_plain",
                "cache_replay_us_per_chunk", "cache_replay_cpu_ratio",
                "cache_replay_memory_us_per_chunk", "cache_replay_memory_cpu_ratio",
                "shaping_us_per_provider_chunk", "shaping_cpu_ratio"):  # fmt: skip
        print(f"{key}: {_fmt(results[key], 2)}")


def _print_sse(results: dict[str, Any]) -> None:
    part = results.get("sse", {})
    if "error" in part:
        print(f"SSE end to end: not measured ({part['error']})")
        return
    shape, rule = part["shape"], part["criterion"]
    print(
        f"SSE end to end: one event every {shape['interval'] * 1e3:g} ms for "
        f"{shape['duration']:g} s per stream; strict = p99 gap < {rule['p99_gap_ms_below']:g} ms,"
        f" p99 first event < {rule['p99_first_ms_below']:g} ms,"
        f" delivered >= {rule['delivered_at_least']:.0%},"
        f" streams completed >= {rule['completed_at_least']:.0%}"
    )
    print(
        f"{'mode':<7} {'N':>5} {'pass':>5} {'p99 gap':>8} {'p99 1st':>8} {'deliv':>6} {'done':>6} "
        f"{'srv µs/ev':>9} {'srv cpu':>8} {'KiB peak':>8} {'KiB open':>8} {'cli cpu':>8} "
        f"{'cli lag':>8} {'load':>5}"
    )
    for row in part["trials"]:
        print(_trial_line(row))
    for key in SSE_FIGURES:
        digits = 0 if key.endswith("clients") else 2 if "ratio" in key else 1
        print(f"{key}: {_fmt(results.get(key), digits)}")
    before, after = part["load_avg_before"][0], part["load_avg_after"][0]
    print(
        f"load client: max {_fmt(_percent(part['client_max_cpu_share']), 0)}% of a core, "
        f"max p99 loop lag {_fmt(part['client_max_loop_lag_p99_ms'], 1)} ms"
        f"{' (BUSY: it may have been the bottleneck)' if part['client_ever_busy'] else ''}; "
        f"load average {before:.2f} before, {after:.2f} after ({part['seconds']:g} s)"
    )


def _percent(share: float | None) -> float | None:
    return None if share is None else share * 100


def _trial_line(row: dict[str, Any]) -> str:
    head = f"{row['mode']:<7} {row['clients']:>5} {'yes' if row['passed'] else 'no':>5}"
    if "error" in row:
        return f"{head}  ({row['error']})"
    return (
        f"{head} {_fmt(row['p99_gap_ms'], 1):>8} {_fmt(row['p99_first_ms'], 0):>8} "
        f"{row['delivered']:>6.1%} {row['completed_share']:>6.1%} "
        f"{_fmt(row['server_cpu_us_per_event'], 1):>9} "
        f"{row['server_cpu_share']:>8.0%} {row['kib_per_stream']:>8.1f} "
        f"{_fmt(row['kib_per_stream_early'], 1):>8} "
        f"{row['cpu_share']:>8.0%} {_fmt(row['loop_lag_p99_ms'], 1):>8} {row['load_avg_1m']:>5.2f}"
    )


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


if __name__ == "__main__":
    sys.exit(main())
