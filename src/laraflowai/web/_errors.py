"""The JSON error body every API route answers with."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from .._secrets import redact

__all__ = ["error_response"]


def error_response(
    status: int, kind: str, message: str, *, param: str | None = None
) -> JSONResponse:
    """The JSON error body of every API route: `{"error": {"type", "message", "param"?}}`."""
    error: dict[str, Any] = {"type": kind, "message": redact(message)}
    if param is not None:
        error["param"] = param
    return JSONResponse({"error": error}, status_code=status)
