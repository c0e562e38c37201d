"""A request's headers as a plain dict.

Starlette's `Headers.get` looks a name up through `Mapping.get`, which raises
and catches a KeyError inside for every header the request lacks: the
exception costs more than the lookup, and the guards ask for several absent
headers on every request (`origin`, `authorization`, `cookie`, ...).
"""

from __future__ import annotations

from starlette.types import Scope

__all__ = ["header_map"]


def header_map(scope: Scope) -> dict[str, str]:
    """The request's headers by (lowercase) name; of a repeated one, the
    first, as `Headers.get` gives it."""
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return headers
