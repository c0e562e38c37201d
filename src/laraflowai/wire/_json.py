"""The JSON parser of the hot path: orjson, a dependency of the package (about
3x faster than the standard library on small chunk objects, measured in bench/).
The only import of `wire/` from outside the standard library."""

from __future__ import annotations

from orjson import loads

__all__ = ["loads"]
