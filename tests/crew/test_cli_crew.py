"""`laraflowai crew FILE` streams each task into the terminal, labelled by task
and agent; a bad file gets one clear line on stderr and exit code 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from laraflowai.cli.main import main
from tests.crew.helpers import route, usage, user_prompt
from tests.servers import ProviderServer, Sleep, error_reply, openai_chunks, stream_reply

KEY = "sk-crew-cli-0123456789abcdef"

WRITER_AND_EDITOR = """\
agents:
  - name: writer
    role: Writer
    goal: Write content
  - role: Editor
    goal: Review content
    temperature: 0.2
tasks:
  - Write an article
  - description: Review the article
    agent: Editor
"""


@pytest.fixture
def env(server: ProviderServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The provider's key and the local server, for in-process runs and child processes."""
    values = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": f"{server.url}/v1"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    clean = {name: value for name, value in os.environ.items() if not name.endswith("_API_KEY")}
    return {**clean, **values, "PYTHONUNBUFFERED": "1"}


def test_crew_command_streams_each_task_live_labelled_by_task_and_agent(
    server: ProviderServer, env: dict[str, str], tmp_path: Path
) -> None:
    article = openai_chunks(["An article ", "about Laravel."], usage=usage(12, 4))
    server.enqueue(
        stream_reply(article[:1] + [b""], then=[Sleep(0.3), *stream_reply(article[1:]).steps]),
        stream_reply(openai_chunks(["Looks good."], usage=usage(30, 3))),
    )
    (tmp_path / "crew.yaml").write_text(WRITER_AND_EDITOR)
    process = subprocess.Popen(
        [sys.executable, "-m", "laraflowai", "crew", "crew.yaml", "--stats"],
        env={**env, "LARAFLOWAI_STREAMING_BUFFER_SIZE": "1"},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )
    assert process.stdout is not None
    wanted = b"[1/2 Writer] An article "
    first = b""
    while len(first) < len(wanted):
        piece = process.stdout.read(len(wanted) - len(first))
        assert piece, "the command ended before printing anything"
        first += piece
    # The writer's first words are on the terminal while the server is still sending.
    assert first == wanted
    assert not server.exchange(0).completed
    rest, err = process.communicate(timeout=30)

    assert process.returncode == 0, err
    assert (first + rest).decode() == (
        "[1/2 Writer] An article about Laravel.\n[2/2 Editor] Looks good.\n"
    )
    assert user_prompt(server.requests[1]) == (
        "Review the article\n\nContext:\nAn article about Laravel."
    )
    assert server.requests[1].json()["temperature"] == 0.2
    stats = err.decode()
    assert "[1/2 Writer: completed, 25 chars" in stats and "tokens in/out 12/4" in stats
    assert "[crew: 2 tasks" in stats and "tokens in/out 42/7" in stats


def test_crew_command_runs_a_toml_crew_in_parallel(
    server: ProviderServer,
    env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.set_handler(
        route(
            {
                "Summarise": stream_reply(openai_chunks(["Short ", "summary."]), delay=0.02),
                "Translate": stream_reply(openai_chunks(["Kurze ", "Fassung."]), delay=0.02),
            }
        )
    )
    FILE = """\
mode = "parallel"
max_parallel_tasks = 2

[[agents]]
role = "Summariser"
goal = "Summarise"

[[agents]]
role = "Translator"
goal = "Translate"
options = { seed = 7 }

[[tasks]]
description = "Summarise the notes"

[[tasks]]
description = "Translate the notes"
"""
    (tmp_path / "crew.toml").write_text(FILE)
    FLOW = ["crew", str(tmp_path / "crew.toml")]

    assert main(FLOW) == 0

    out = capsys.readouterr().out
    texts: dict[str, str] = {}
    for line in out.splitlines():
        label, _, text = line.partition("] ")
        texts[label + "]"] = texts.get(label + "]", "") + text
    assert texts == {"[1/2 Summariser]": "Short summary.", "[2/2 Translator]": "Kurze Fassung."}
    assert server.max_concurrent_requests == 2
    seeds = {user_prompt(r): r.json().get("seed") for r in server.requests}
    assert seeds == {"Summarise the notes": None, "Translate the notes": 7}


def test_a_failed_task_prints_what_arrived_and_says_which_task_failed(
    server: ProviderServer,
    env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.enqueue(
        stream_reply(openai_chunks(["An article."])),
        error_reply(401, message="Incorrect API key provided"),
    )
    (tmp_path / "crew.yml").write_text(WRITER_AND_EDITOR)

    assert main(["crew", str(tmp_path / "crew.yml")]) == 1

    captured = capsys.readouterr()
    assert captured.out == "[1/2 Writer] An article.\n"
    assert captured.err.startswith("laraflowai: error: task 2 (Editor) failed: ")
    assert KEY not in captured.err


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("missing.yaml", None, "missing.yaml: no such file"),
        ("crew.json", "{}", "a crew file is YAML (.yaml, .yml) or TOML (.toml)"),
        ("crew.yaml", "agents: [role: x\n", "not valid YAML: "),
        ("crew.toml", "agents = [", "not valid TOML: "),
        ("crew.yaml", "- just a list\n", "expected agents and tasks at the top level"),
        ("crew.yaml", "agents: []\ntasks: [x]\n", "'agents' is missing"),
        ("crew.yaml", "agnets: []\n", "unknown key 'agnets' (known keys: agents, "),
        (
            "crew.yaml",
            "agents: [{role: W, goal: G, colour: red}]\ntasks: [x]\n",
            "agents[0]: unknown key 'colour'",
        ),
        ("crew.yaml", "agents: [{role: W}]\ntasks: [x]\n", "agents[0]: 'goal' is missing"),
        (
            "crew.yaml",
            "agents: [{role: W, goal: G}]\ntasks: [{description: x, agent: Nobody}]\n",
            "tasks[0]: no agent is named 'Nobody' (the agents: W)",
        ),
        ("crew.yaml", "agents: [{role: W, goal: G}]\ntasks: [{agent: W}]\n", "'description'"),
        (
            "crew.yaml",
            "mode: sideways\nagents: [{role: W, goal: G}]\ntasks: [x]\n",
            "unknown execution_mode 'sideways'",
        ),
        (
            "crew.yaml",
            "agents: [{role: W, goal: G, provider: nope}]\ntasks: [x]\n",
            "agents[0]: unknown provider 'nope'",
        ),
    ],
    ids=[
        "missing",
        "extension",
        "yaml-syntax",
        "toml-syntax",
        "not-a-table",
        "no-agents",
        "unknown-key",
        "unknown-agent-key",
        "missing-goal",
        "unknown-agent",
        "missing-description",
        "bad-mode",
        "bad-provider",
    ],
)
def test_a_bad_crew_file_gets_one_clear_line_and_exit_code_1(
    env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    server: ProviderServer,
    name: str,
    content: str | None,
    words: str,
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)

    assert main(["crew", str(path)]) == 1

    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("laraflowai: error: "), captured.err
    assert words in lines[0]
    assert captured.out == ""
    assert server.request_count == 0


def test_a_bad_crew_file_never_shows_a_traceback(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "crew.yaml").write_text("agents: [{role: W, goal: G}]\ntasks: [{agent: 3}]\n")
    result = subprocess.run(
        [sys.executable, "-m", "laraflowai", "crew", "crew.yaml"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "tasks[0]: 'description' is missing" in result.stderr
