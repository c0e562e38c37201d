"""Ending sync HTTP streams from another thread.

A running generator cannot be closed from another thread, and a read blocked on
a socket wakes only for that socket (closing it does not, on Linux). So a thread
that reads a stream for someone else (a crew running tasks in parallel) enters
an `AbortScope`; every HTTP stream read inside it registers its socket, and
`abort()`, from any thread, shuts those sockets down: the blocked read fails at
once, the reading thread closes its stream, and the scope sends no further
request. A stream still waiting for the response head ends when the head arrives.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from threading import Lock
from types import TracebackType
from typing import Any

from .._exceptions import LaraFlowAIError
from ._watchdog import shutdown_socket

__all__ = ["AbortScope", "abortable", "raise_if_aborted"]


class AbortScope:
    """`with scope:` in the reading thread; `scope.abort()` from any thread."""

    __slots__ = ("_lock", "_sockets", "_token", "aborted")

    def __init__(self) -> None:
        self._lock = Lock()
        self._sockets: set[socket.socket] = set()
        self._token: Token[AbortScope | None] | None = None
        self.aborted = False

    def abort(self) -> None:
        with self._lock:
            self.aborted = True
            for sock in self._sockets:
                shutdown_socket(sock)

    def __enter__(self) -> AbortScope:
        self._token = _current.set(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _current.reset(self._token)
            self._token = None


_current: ContextVar[AbortScope | None] = ContextVar("laraflowai_abort_scope", default=None)


def _closed(label: str) -> LaraFlowAIError:
    # Neither a ProviderError nor a StreamInterruptedError: those are retried.
    return LaraFlowAIError(f"the stream from {label} was closed before it ended")


def raise_if_aborted(label: str) -> None:
    """Send no request once the current scope is aborted."""
    scope = _current.get()
    if scope is not None and scope.aborted:
        raise _closed(label)


@contextmanager
def abortable(network_stream: Any, label: str) -> Iterator[None]:
    """Let the current scope, if any, shut this response's connection down."""
    scope = _current.get()
    sock = network_stream.get_extra_info("socket") if network_stream is not None else None
    if scope is None or not isinstance(sock, socket.socket):
        yield
        return
    with scope._lock:
        if scope.aborted:
            raise _closed(label)
        scope._sockets.add(sock)
    try:
        yield
    except Exception:
        if scope.aborted:
            raise _closed(label) from None
        raise
    finally:
        # Shut down under the lock only while registered: once the body is done
        # the connection goes back to the pool, and is no longer ours.
        with scope._lock:
            scope._sockets.discard(sock)
