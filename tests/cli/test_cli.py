"""The `laraflowai` command, run as a real process against the local server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import ProviderServer, Sleep, openai_chunks, stream_reply

SECRET = "sk-cli-secret-0123456789abcdef"


def run(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "laraflowai", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def env(server: ProviderServer) -> dict[str, str]:
    clean = {key: value for key, value in os.environ.items() if not key.endswith("_API_KEY")}
    clean.update(
        {"OPENAI_API_KEY": SECRET, "OPENAI_BASE_URL": f"{server.url}/v1", "PYTHONUNBUFFERED": "1"}
    )
    return clean


def test_chat_prints_the_answer_while_it_is_still_streaming(
    server: ProviderServer, env: dict[str, str], tmp_path: Path
) -> None:
    events = openai_chunks(["\u041f\u0435\u0440\u0448\u0430 ", "part", " and the rest"])
    server.enqueue(
        stream_reply(events[:2] + [b""], then=[Sleep(1.5), *stream_reply(events[2:]).steps])
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "laraflowai", "chat", "Hello", "--role", "Poet", "--goal", "Rhyme"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )
    assert process.stdout is not None
    wanted = len("\u041f\u0435\u0440\u0448\u0430 ".encode())
    first = b""
    while len(first) < wanted:
        piece = process.stdout.read(wanted - len(first))
        assert piece, "the command ended before printing anything"
        first += piece
    # The first words are on the terminal while the server is still sending.
    assert first.decode() == "\u041f\u0435\u0440\u0448\u0430 "
    assert not server.exchange(0).completed
    rest, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert (first + rest).decode() == "\u041f\u0435\u0440\u0448\u0430 part and the rest\n"
    body = server.requests[0].json()
    assert "Poet" in body["messages"][0]["content"] and "Rhyme" in body["messages"][0]["content"]


def test_chat_options_reach_the_provider(
    server: ProviderServer, env: dict[str, str], tmp_path: Path
) -> None:
    server.enqueue(
        stream_reply(
            openai_chunks(
                ["ok"], usage={"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
            )
        )
    )
    result = run(
        ["chat", "Hi", "--provider", "openai", "--model", "gpt-x", "--max-tokens", "9", "--stats"],
        env,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"
    assert "tokens in/out 3/1" in result.stderr
    body = server.requests[0].json()
    assert (body["model"], body["max_tokens"]) == ("gpt-x", 9)


def test_chat_error_midway_keeps_the_text_and_says_what_happened(
    server: ProviderServer, env: dict[str, str], tmp_path: Path
) -> None:
    events = openai_chunks(["kept text"], finish_reason=None, include_done=False)
    server.enqueue(stream_reply(events))
    env["LARAFLOWAI_MAX_RETRIES"] = "0"
    result = run(["chat", "Hi"], env, tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith("kept text")
    assert "before the answer was complete" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "extra_env", "words"),
    [
        (["chat", "Hi", "--provider", "nope"], {}, "unknown provider 'nope'"),
        (["chat", "Hi", "--provider", "groq"], {}, "GROQ_API_KEY"),
        (["chat", "  "], {}, "non-empty string"),
        (["config"], {"LARAFLOWAI_STREAMING_TIMEOUT": "forever"}, "LARAFLOWAI_STREAMING_TIMEOUT"),
    ],
    ids=["provider", "key", "task", "setting"],
)
def test_bad_input_gets_one_clear_line_not_a_traceback(
    env: dict[str, str], tmp_path: Path, args: list[str], extra_env: dict[str, str], words: str
) -> None:
    result = run(args, {**env, **extra_env}, tmp_path)
    assert result.returncode == 1
    assert words in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_option_value_is_refused_by_the_parser(env: dict[str, str], tmp_path: Path) -> None:
    result = run(["chat", "Hi", "--max-tokens", "lots"], env, tmp_path)
    assert result.returncode == 2
    assert "--max-tokens" in result.stderr and "whole number" in result.stderr


def test_config_shows_effective_settings_with_secrets_hidden(
    env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(
        f"GROQ_API_KEY={SECRET}-groq\nLARAFLOWAI_STREAMING_BUFFER_SIZE=42\n"
    )
    result = run(["config"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert re.search(r"LARAFLOWAI_STREAMING_BUFFER_SIZE +42 ", result.stdout)
    assert "OPENAI_API_KEY=(set, hidden)" in result.stdout
    assert "GROQ_API_KEY=(set, hidden)" in result.stdout
    assert "ANTHROPIC_API_KEY=(not set)" in result.stdout
    assert SECRET not in result.stdout + result.stderr
    as_json = run(["config", "--json"], env, tmp_path)
    assert (
        SECRET not in as_json.stdout
        and '"LARAFLOWAI_STREAMING_BUFFER_SIZE": "42"' in as_json.stdout
    )


def test_chat_replays_from_the_cache_unless_told_not_to(
    server: ProviderServer, env: dict[str, str], tmp_path: Path
) -> None:
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    server.enqueue(stream_reply(openai_chunks(["first answer"])))
    server.enqueue(stream_reply(openai_chunks(["fresh answer"])))
    assert run(["chat", "Same question"], env, tmp_path).stdout == "first answer\n"
    assert run(["chat", "Same question"], env, tmp_path).stdout == "first answer\n"
    assert server.request_count == 1
    assert run(["chat", "Same question", "--no-cache"], env, tmp_path).stdout == "fresh answer\n"
    assert server.request_count == 2
