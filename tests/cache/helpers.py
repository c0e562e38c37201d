"""Shared by the cache tests: a child process that streams one answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import API_KEY

# Streams one answer with the default settings from the environment, then
# prints what it got as JSON.
CHILD = """
import json, sys
from laraflowai import FlowAI
from laraflowai.cache import close_stores
agent = FlowAI.agent("Writer", "Write", "openai", base_url=sys.argv[1], api_key=sys.argv[2])
response = agent.stream("Write a haiku").set_buffer_size(1)
chunks = list(response)
stats = response.get_stats()
close_stores()
print(json.dumps({"chunks": chunks, "cached": stats["cached"], "complete": stats["is_complete"]}))
"""


def stream_in_child(base_url: str, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, base_url, API_KEY],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))
