"""Pure transforms from provider deltas to the chunks handed to callers."""

from .chunker import Chunker, split_text

__all__ = ["Chunker", "split_text"]
