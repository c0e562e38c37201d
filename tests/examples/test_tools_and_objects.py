"""examples/tools_and_objects.py runs as a user would run it, against the local
provider server speaking OpenAI's format: the model calls both tools (one
waits for approval typed at the prompt), then a structured answer streams."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.servers import ProviderServer, RecordedRequest, Reply, stream_reply
from tests.tools.wire import KEY, answer_reply, openai_tool_chunks, results_sent

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CALLS = [
    ("call_w", "get_weather", ['{"city": "Київ"}']),
    ("call_b", "book_table", ['{"restaurant": "Kanapa", "people": 2}']),
]
PLAN = {"city": "Lviv", "activities": ["coffee", "the Opera"]}


def handler(request: RecordedRequest) -> Reply:
    body = request.json()
    if "response_format" in body:
        text = json.dumps(PLAN)
        return answer_reply("openai", [text[i : i + 5] for i in range(0, len(text), 5)])
    if results_sent("openai", body):
        return answer_reply("openai", ["Sunny, 21°C; ", "your table is booked."])
    usage = {"prompt_tokens": 40, "completion_tokens": 9, "total_tokens": 49}
    return stream_reply(openai_tool_chunks(CALLS, usage))


def run(server: ProviderServer, tmp_path: Path, answer: str) -> Any:
    server.set_handler(handler)
    env = {key: value for key, value in os.environ.items() if not key.endswith("_API_KEY")}
    env.update(OPENAI_API_KEY=KEY, OPENAI_BASE_URL=f"{server.url}/v1", XDG_CACHE_HOME=str(tmp_path))
    return subprocess.run(
        [sys.executable, str(EXAMPLES / "tools_and_objects.py"), "openai"],
        env=env, cwd=tmp_path, input=answer, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_example_runs_the_tools_and_streams_the_plan(
    server: ProviderServer, tmp_path: Path
) -> None:
    result = run(server, tmp_path, "y\n")
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "[calling get_weather {'city': 'Київ'}]" in out
    assert "[book_table -> booked: Kanapa, 2 people]" in out
    assert "Sunny, 21°C; your table is booked." in out
    assert "tools run: 2" in out
    assert "city='Lviv' activities=['coffee', 'the Opera']" in out
    assert "{'city': 'Lviv', 'activities': ['coffee']}" in out  # a partial object
    assert "Traceback" not in result.stderr


def test_refusing_the_booking_tells_the_model(server: ProviderServer, tmp_path: Path) -> None:
    result = run(server, tmp_path, "n\n")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "[book_table -> the user did not approve this call" in result.stdout
    second = [r.json() for r in server.requests if results_sent("openai", r.json())][0]
    assert results_sent("openai", second)[1][0] == "call_b"
