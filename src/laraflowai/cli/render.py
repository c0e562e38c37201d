"""Print a stream into the terminal as it arrives."""

from __future__ import annotations

import sys
from typing import TextIO

from ..streaming.response import StreamingResponse
from ..wire import ReasoningDelta, TextDelta

__all__ = ["print_stream", "print_stats"]


def print_stream(
    response: StreamingResponse,
    out: TextIO | None = None,
    err: TextIO | None = None,
    *,
    show_reasoning: bool = False,
) -> None:
    """Write each piece of the answer the moment it arrives; reasoning, when
    asked for, goes to stderr so the answer on stdout stays clean."""
    out = out or sys.stdout
    err = err or sys.stderr
    wrote_text = False
    for event in response.events():
        if type(event) is TextDelta:
            out.write(event.text)
            out.flush()
            wrote_text = True
        elif show_reasoning and type(event) is ReasoningDelta:
            err.write(event.text)
            err.flush()
    if wrote_text:
        out.write("\n")
        out.flush()


def print_stats(response: StreamingResponse, err: TextIO | None = None) -> None:
    err = err or sys.stderr
    stats = response.get_stats()
    ttfc = stats["time_to_first_chunk"]
    parts = [
        f"{stats['provider']}/{stats['model']}",
        f"{stats['chunk_count']} chunks",
        f"{stats['content_length']} chars",
        f"first chunk {ttfc:.3f} s" if ttfc is not None else "no chunk",
        f"total {stats['execution_time']:.3f} s",
    ]
    if stats["input_tokens"] is not None or stats["output_tokens"] is not None:
        parts.append(f"tokens in/out {stats['input_tokens']}/{stats['output_tokens']}")
    if stats["finish_reason"]:
        parts.append(f"finish {stats['finish_reason']}")
    if stats["cached"]:
        parts.append("replayed from the cache")
    err.write("[" + ", ".join(parts) + "]\n")
    err.flush()
