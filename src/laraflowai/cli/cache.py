"""`laraflowai cache clear` empties the stream cache; `laraflowai cache info`
says where it is and how many streams it holds."""

from __future__ import annotations

import argparse
from typing import Any

from .._config import get_settings
from ..cache import open_store

__all__ = ["add_cache_command", "run_cache"]


def add_cache_command(commands: Any) -> None:
    cache = commands.add_parser("cache", help="show or clear the stream cache")
    actions = cache.add_subparsers(dest="cache_action", metavar="ACTION")
    actions.required = True
    actions.add_parser("clear", help="remove every cached stream")
    actions.add_parser("info", help="where the cache is and how many streams it holds")


def run_cache(args: argparse.Namespace) -> int:
    settings = get_settings()
    store = open_store(settings)
    if args.cache_action == "clear":
        removed = store.clear()
        noun = "stream" if removed == 1 else "streams"
        print(f"removed {removed} cached {noun} from the {store.name} store ({store.location()})")
        return 0
    state = "on" if settings.cache_enabled else "off (LARAFLOWAI_STREAMING_CACHE=false)"
    print(f"stream cache: {state}")
    print(f"store: {store.name} ({store.location()})")
    print(f"entries: {store.count()}")
    print(f"time to live: {settings.cache_ttl} s")
    return 0
