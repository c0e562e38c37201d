"""The cycle collector of the processes laraflowai owns: `laraflowai serve`'s,
and each worker process of the job queue's broker (`jobs/worker.py`).

CPython collects its youngest generation every 700 net allocations of
container objects. An event loop serving many streams keeps a few such objects
per stream alive across each wait (the timer, its future, the coroutine), so
at 1000 open streams the young collections caught them over and over, moved
them into the older generations, and full collections walked the whole heap:
about a quarter of the server's CPU per event, with 100-180 ms pauses
(`bench/sse_profile.py ours`, 1000 streams, gc callbacks: 5.2-6.5 µs of 19-23
per event; at a threshold of 10,000, 0.45 of 15-18). Only the youngest
generation's threshold changes; cycles are still collected, later.
"""

from __future__ import annotations

import gc

__all__ = ["tune_collector"]


def tune_collector(threshold: int) -> None:
    """Collect the youngest generation every `threshold` net allocations (0
    leaves the interpreter's setting as it is)."""
    if threshold:
        _, middle, oldest = gc.get_threshold()
        gc.set_threshold(threshold, middle, oldest)
