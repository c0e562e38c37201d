"""Logging for a server of the web app."""

from __future__ import annotations

import logging

__all__ = ["QueryRedactingFilter"]


class QueryRedactingFilter(logging.Filter):
    """uvicorn's access log without query strings: the chat route carries the
    user's task there (an EventSource can only GET), which is no log's business."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path, mark, _ = args[2].partition("?")
            if mark:
                record.args = (args[0], args[1], f"{path}?…", args[3], args[4])
        return True
