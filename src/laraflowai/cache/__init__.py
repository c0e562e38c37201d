"""The stream cache: complete, successful streams stored as their provider
events and replayed without calling the provider; in-flight sharing of
identical requests.

from laraflowai.cache import open_store
open_store(get_settings()).clear()          # what `laraflowai cache clear` does
"""

from ._codec import decode_events, encode_events
from ._key import request_key
from ._store import CacheError, Store, close_stores, default_cache_path, open_store

__all__ = [
    "CacheError",
    "Store",
    "close_stores",
    "decode_events",
    "default_cache_path",
    "encode_events",
    "open_store",
    "request_key",
]
