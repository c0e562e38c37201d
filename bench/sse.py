"""Part 3: the SSE endpoint end to end, from a load client in another process.

Each trial starts a fresh server process (`bench.sse_server`: ours, the bare
Starlette reference, or the floor, a raw ASGI app writing frames encoded at
start-up), reads its CPU time and RSS from /proc while
`bench.sse_load` holds N streams of one event every 20 ms for 10 s, then
kills both. A trial passes the strict criterion when the p99 gap between
events is under 100 ms, the p99 wait for the first event under 1 s, at
least 90% of the events arrive, and at least 99% of the streams complete
(no error, not cut off, done by the deadline). N climbs a ladder until a
trial fails, then two bisection steps between the last pass and the first
failure narrow it. A failed trial is run once more at the same N, for every
mode alike, and the N holds if that one passes: at the edge one trial's p99
wait for the first event swings by seconds from the machine alone (four
trials of one server at one N, minutes apart: 961 to 5411 ms), so a single
unlucky trial would decide a mode's figure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import selectors
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
MODES = ("ours", "bare", "floor", "granian")
FIGURES = ("strict_clients", "cpu_us_per_event", "kib_per_stream")
PREFIXES = {"ours": "sse", "bare": "sse_bare", "floor": "sse_floor", "granian": "sse_granian"}
# mode -> (the app bench.sse_server serves, the server); granian is measured when installed.
SERVED = {
    "ours": ("ours", "uvicorn"),
    "bare": ("bare", "uvicorn"),
    "floor": ("floor", "uvicorn"),
    "granian": ("ours", "granian"),
}
LADDER = (250, 500, 750, 1000, 1250, 1500, 1750, 2000)
REFINE_STEPS = 2
MAX_GAP_MS = 100.0
MAX_FIRST_MS = 1000.0
MIN_DELIVERED = 0.9
# Without it a saturated server could pass on 90% of the events while streams fail.
MIN_COMPLETED = 0.99
# The client shares the machine with the server: past these, it could be
# what delays the events it measures.
CLIENT_BUSY_SHARE = 0.8
CLIENT_BUSY_LAG_MS = 20.0
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Shape:
    interval: float = 0.02
    duration: float = 10.0
    ramp: float = 1.0
    ladder: tuple[int, ...] = LADDER
    budget: float = 900.0  # seconds; no trial starts after this
    confirm: bool = True  # a failed trial is run once more at the same N

    @property
    def events(self) -> int:
        return max(1, round(self.duration / self.interval))

    @property
    def deadline(self) -> float:
        return self.ramp + self.duration + max(2.0, self.duration / 2)


QUICK = Shape(duration=1.0, ramp=0.2, ladder=(20,), budget=60.0, confirm=False)
FULL = Shape()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise LookupError(f"{key} not in /proc/{pid}/status")


def _python(module: str, *args: str, stderr: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdout=subprocess.PIPE,
        stderr=stderr,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _read_port(server: subprocess.Popen[bytes], timeout: float) -> int:
    assert server.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(server.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise RuntimeError(f"the SSE server was not ready within {timeout:g} s")
    line = server.stdout.readline().decode().split()
    if len(line) != 2 or line[0] != "port":
        raise RuntimeError(f"the SSE server did not start: {' '.join(line) or 'no output'}")
    return int(line[1])


def _tail(log: IO[bytes]) -> str:
    log.seek(0)
    lines = log.read().decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "no output"


def trial(mode: str, clients: int, shape: Shape) -> dict[str, Any]:
    """One server process under N streams; every process is gone on return."""
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryFile() as server_log, tempfile.TemporaryFile() as load_log:
        try:
            timing = ["--interval", str(shape.interval), "--duration", str(shape.duration)]
            app, server_name = SERVED[mode]
            server = _python(
                "bench.sse_server", "--mode", app, "--server", server_name, *timing,
                stderr=server_log,
            )  # fmt: skip
            processes.append(server)
            try:
                port = _read_port(server, timeout=30)
            except RuntimeError as error:
                raise RuntimeError(f"{error} ({_tail(server_log)})") from None
            idle_kib = _status_kib(server.pid, "VmRSS")
            cpu_start = _cpu_seconds(server.pid)
            load_avg = os.getloadavg()[0]
            load = _python(
                "bench.sse_load", "--port", str(port), "--clients", str(clients),
                "--events", str(shape.events), "--ramp", str(shape.ramp),
                "--deadline", str(shape.deadline), stderr=load_log,
            )  # fmt: skip
            processes.append(load)
            peak_kib, early_kib = _watch(load, server.pid, shape.ramp + 1, shape.deadline + 30)
            server_cpu = _cpu_seconds(server.pid) - cpu_start
            assert load.stdout is not None
            output = load.stdout.read().decode().strip().splitlines()
            if load.returncode != 0 or not output:
                raise RuntimeError(f"the load client failed: {_tail(load_log)}")
        finally:
            for process in processes:
                process.kill()
                process.wait()
    row: dict[str, Any] = {"mode": mode, **json.loads(output[-1]), "load_avg_1m": load_avg}
    row["completed_share"] = row["completed"] / clients
    events = row["events"]
    row.update(
        server_cpu_s=server_cpu,
        server_cpu_share=server_cpu / row["wall_s"],
        server_cpu_us_per_event=server_cpu / events * 1e6 if events else None,
        server_idle_rss_kib=idle_kib,
        server_peak_rss_kib=peak_kib,
        kib_per_stream=(peak_kib - idle_kib) / clients,
        kib_per_stream_early=None if early_kib is None else (early_kib - idle_kib) / clients,
        passed=_passes(row),
        client_busy=(row["cpu_share"] or 0) > CLIENT_BUSY_SHARE
        or (row["loop_lag_p99_ms"] or 0) > CLIENT_BUSY_LAG_MS,
    )
    return row


def _watch(
    load: subprocess.Popen[bytes], server_pid: int, early_at: float, timeout: float
) -> tuple[int, int | None]:
    """Wait for the load client, sampling the server's RSS: (peak, the first
    sample after `early_at` seconds), in KiB. The early one is taken once every
    stream is open but has sent few events, so it shows the fixed cost of a
    stream apart from what grows with its events."""
    started = time.monotonic()
    peak, early = 0, None
    while load.poll() is None:
        elapsed = time.monotonic() - started
        if elapsed > timeout:
            raise RuntimeError(f"the load client ran past {timeout:g} s")
        rss = _status_kib(server_pid, "VmRSS")
        peak = max(peak, rss)
        if early is None and elapsed >= early_at:
            early = rss
        time.sleep(0.1)
    # The high-water mark catches a peak between two samples.
    return max(peak, _status_kib(server_pid, "VmHWM")), early


def _passes(row: dict[str, Any]) -> bool:
    gap, first = row["p99_gap_ms"], row["p99_first_ms"]
    return (
        row["delivered"] >= MIN_DELIVERED
        and row["completed_share"] >= MIN_COMPLETED
        and gap is not None
        and gap < MAX_GAP_MS
        and first is not None
        and first < MAX_FIRST_MS
    )


def modes() -> list[str]:
    """The modes this machine can run: granian only when it is installed."""
    have_granian = importlib.util.find_spec("granian") is not None
    return [mode for mode in MODES if mode != "granian" or have_granian]


def search(
    shape: Shape, report: Callable[[dict[str, Any]], None] | None = None
) -> list[dict[str, Any]]:
    """Every mode up the ladder, interleaved at each N so machine drift hits
    all alike, each until its first failure; then a few bisection steps
    between the last pass and the first failure (below the first rung too)."""
    started = time.monotonic()
    rows: list[dict[str, Any]] = []

    def once(mode: str, clients: int) -> dict[str, Any] | None:
        if time.monotonic() - started > shape.budget:
            return None
        try:
            row = trial(mode, clients, shape)
        except (RuntimeError, OSError, LookupError, ValueError) as error:
            # A server that died or a client that failed is this N's failure, not the run's.
            row = {"mode": mode, "clients": clients, "passed": False, "error": str(error)}
        rows.append(row)
        if report is not None:
            report(row)
        return row

    def run(mode: str, clients: int) -> dict[str, Any] | None:
        row = once(mode, clients)
        if row is not None and not row["passed"] and shape.confirm:
            return once(mode, clients) or row
        return row

    alive = set(modes())
    for clients in shape.ladder:
        for mode in modes():
            if mode in alive:
                row = run(mode, clients)
                if row is None or not row["passed"]:
                    alive.discard(mode)
        if not alive:
            break
    if len(shape.ladder) > 1:
        for mode in modes():
            for _ in range(REFINE_STEPS):
                held, failed = _bounds(rows, mode)
                if failed is None:
                    break
                step = 25 if failed <= 250 else 50
                middle = (held + failed) // 2 // step * step
                if middle <= held or run(mode, middle) is None:
                    break
    return rows


def _bounds(rows: list[dict[str, Any]], mode: str) -> tuple[int, int | None]:
    """The largest N a trial of `mode` passed, and the smallest N that no
    trial passed (None: none failed)."""
    mine = [row for row in rows if row["mode"] == mode]
    passed = {row["clients"] for row in mine if row["passed"]}
    failed = min((row["clients"] for row in mine if row["clients"] not in passed), default=None)
    return max(passed, default=0), failed


def summary(rows: list[dict[str, Any]], shape: Shape) -> dict[str, Any]:
    """The figures for bench/run: per mode, the largest N that passed, the
    memory per stream measured at that N (at the smallest N tried when none
    passed) and the CPU per event at one N for all (`sse_cpu_at_clients`)."""
    figures: dict[str, Any] = {}
    ran = {row["mode"] for row in rows}
    # CPU per event grows with N near saturation (more timers and objects per
    # pass of the loop), so a mode measured at a larger N than another would
    # look costlier for holding more: every mode's figure is taken at the
    # largest N that ours and bare both held (a mode that did not pass it: at
    # its own largest).
    reference = _both_held(rows, "ours", "bare")
    for mode, prefix in PREFIXES.items():
        if mode not in ran:
            figures.update(dict.fromkeys(f"{prefix}_{key}" for key in FIGURES))
            continue
        mine = [row for row in rows if row["mode"] == mode and "error" not in row]
        held, _ = _bounds(rows, mode)
        at = [row for row in mine if row["clients"] == held and row["passed"]] or sorted(
            mine, key=lambda row: row["clients"]
        )
        same = [row for row in mine if row["clients"] == reference and row["passed"]] or at
        figures[f"{prefix}_strict_clients"] = held
        figures[f"{prefix}_cpu_us_per_event"] = same[0]["server_cpu_us_per_event"] if same else None
        figures[f"{prefix}_kib_per_stream"] = at[0]["kib_per_stream"] if at else None
    figures["sse_cpu_at_clients"] = reference
    # CPU per event grows with N: each mode's own figure above is at its own
    # largest N, so the ratios are also given at the same N, where both ran.
    for mode in ("ours", "granian", "floor"):
        figures[f"{PREFIXES[mode]}_cpu_ratio_to_bare_same_n"] = _same_n_ratio(rows, mode, "bare")
    measured = [row for row in rows if "error" not in row]
    figures["sse"] = {
        "criterion": {
            "p99_gap_ms_below": MAX_GAP_MS,
            "p99_first_ms_below": MAX_FIRST_MS,
            "delivered_at_least": MIN_DELIVERED,
            "completed_at_least": MIN_COMPLETED,
        },
        "shape": asdict(shape),
        "client_max_cpu_share": max((row["cpu_share"] for row in measured), default=None),
        "client_max_loop_lag_p99_ms": max(
            (row["loop_lag_p99_ms"] or 0 for row in measured), default=None
        ),
        "client_ever_busy": any(row["client_busy"] for row in measured),
        "trials": rows,
    }
    return figures


def _both_held(rows: list[dict[str, Any]], mode: str, other: str) -> int | None:
    """The largest N that both modes ran and passed."""

    def held(name: str) -> set[int]:
        return {row["clients"] for row in rows if row["mode"] == name and row.get("passed")}

    return max(held(mode) & held(other), default=None)


def _same_n_ratio(rows: list[dict[str, Any]], mode: str, base: str) -> float | None:
    """Median over the N where both passed of mode's CPU per event / base's."""

    def cpu(name: str) -> dict[int, float]:
        return {
            row["clients"]: row["server_cpu_us_per_event"]
            for row in rows
            if row["mode"] == name and row.get("passed") and row.get("server_cpu_us_per_event")
        }

    mine, theirs = cpu(mode), cpu(base)
    ratios = [mine[n] / theirs[n] for n in mine.keys() & theirs.keys()]
    return statistics.median(ratios) if ratios else None


def run_part(quick: bool, report: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    shape = QUICK if quick else FULL
    load_before = os.getloadavg()
    started = time.monotonic()
    rows = search(shape, report)
    figures = summary(rows, shape)
    figures["sse"]["load_avg_before"] = load_before
    figures["sse"]["load_avg_after"] = os.getloadavg()
    figures["sse"]["seconds"] = round(time.monotonic() - started, 1)
    return figures
