"""Instructions per event under callgrind: `python -m bench.instructions SCRIPT MODE ...`.

Runs `python -m bench.SCRIPT MODE --events LOW` and `... --events HIGH` under
`valgrind --tool=callgrind` (start-up, imports and warm-up cancel out) and
prints (high - low) / ((HIGH - LOW) x streams), where `streams` is what each
event count is multiplied by: `--runs` for core_profile, `--streams` for
sse_profile. Deterministic to a few tenths of a percent, unlike time on a
shared machine. Extra arguments go to the script, e.g.

    python -m bench.instructions core_profile astream --low 2000 --high 20000
    python -m bench.instructions sse_profile ours --low 100 --high 200 -- --streams 100
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_COLLECTED = re.compile(r"Collected : (\d+)")


def instructions(script: str, mode: str, events: int, extra: list[str]) -> int:
    command = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, "-m", f"bench.{script}", mode, "--events", str(events), *extra,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True)
    found = _COLLECTED.findall(result.stderr)
    if not found:
        raise RuntimeError(f"no instruction count in valgrind's output: {result.stderr[-500:]}")
    return int(found[-1])


def _multiplier(script: str, extra: list[str]) -> int:
    flag = "--runs" if script == "core_profile" else "--streams"
    default = 1 if script == "core_profile" else 100
    for index, argument in enumerate(extra):
        if argument == flag:
            return int(extra[index + 1])
        if argument.startswith(flag + "="):
            return int(argument.split("=", 1)[1])
    return default


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.instructions", description=__doc__)
    parser.add_argument("script", choices=["core_profile", "sse_profile"])
    parser.add_argument("mode")
    parser.add_argument("--low", type=int, default=2000)
    parser.add_argument("--high", type=int, default=20000)
    args, extra = parser.parse_known_args(argv)  # the rest (after an optional --) is the script's
    extra = [argument for argument in extra if argument != "--"]
    low = instructions(args.script, args.mode, args.low, extra)
    high = instructions(args.script, args.mode, args.high, extra)
    per_event = (high - low) / ((args.high - args.low) * _multiplier(args.script, extra))
    print(f"{args.script} {args.mode}: {per_event:,.0f} instructions per event")


if __name__ == "__main__":
    main()
