"""`laraflowai worker`: runs queued streams (LARAFLOWAI_QUEUE=redis) in worker
processes, on taskiq's worker with the Redis Streams broker."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .._config import get_settings, hide_password

__all__ = ["add_worker_command", "run_worker"]

_INSTALL_HINT = 'laraflowai worker needs the jobs extra: pip install "laraflowai[jobs]"'


def _count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to 64, got {text!r}")
    return int(text)


def add_worker_command(commands: Any) -> None:
    worker = commands.add_parser(
        "worker",
        help="run queued streams (LARAFLOWAI_QUEUE=redis) from LARAFLOWAI_REDIS_URL",
    )
    worker.add_argument("--processes", type=_count, default=1, help="worker processes (default 1)")
    worker.add_argument(
        "--concurrency", type=_count, default=32, help="streams at once per process (default 32)"
    )
    worker.add_argument(
        "--log-level",
        default="INFO",
        choices=["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"],
        type=str.upper,
        help="log level (default INFO)",
    )


def run_worker(args: argparse.Namespace) -> int:
    settings = get_settings()
    try:
        from taskiq.cli.worker.args import WorkerArgs
        from taskiq.cli.worker.run import run_worker as run_taskiq_worker

        import laraflowai.jobs.worker  # noqa: F401  (fails now, not in a child, if broken)
    except ImportError:
        sys.stderr.write(f"laraflowai: error: {_INSTALL_HINT}\n")
        return 1
    print(
        f"laraflowai: worker taking streams from {hide_password(str(settings.redis_url))} "
        f"({args.processes} process(es), {args.concurrency} streams each)",
        flush=True,
    )
    status = run_taskiq_worker(
        WorkerArgs(
            broker="laraflowai.jobs.worker:broker",
            modules=[],
            workers=args.processes,
            max_async_tasks=args.concurrency,
            log_level=args.log_level,
            shutdown_timeout=10,
        )
    )
    return int(status or 0)
