"""Real JavaScript clients in Node: `tests/js` installed with `npm ci` into a
temporary folder (keyed by its lock file, reused across runs), never into the
repository. Without Node or npm the tests skip; with CI=true they fail."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

JS = Path(__file__).resolve().parents[2] / "js"


def _unavailable(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def install_js() -> Path:
    """The folder holding tests/js's scripts with their packages installed."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        _unavailable("node and npm are needed to run the JavaScript clients")
    files = sorted(JS.glob("*.json")) + sorted(JS.glob("*.mjs"))
    digest = hashlib.sha256(b"".join(f.name.encode() + f.read_bytes() for f in files))
    home = Path(tempfile.gettempdir()) / "laraflowai-js" / digest.hexdigest()[:16]
    if (home / "node_modules" / ".package-lock.json").exists():
        return home
    home.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=home.parent))
    for file in files:
        shutil.copy(file, work / file.name)
    done = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        shutil.rmtree(work, ignore_errors=True)
        _unavailable(f"npm ci failed in tests/js:\n{done.stderr[-2000:]}")
    try:
        work.rename(home)
    except OSError:  # another run installed it meanwhile
        shutil.rmtree(work, ignore_errors=True)
    return home


def run_node(home: Path, script: str, *args: str, timeout: float = 30) -> Any:
    """Run `script` from tests/js with `args`; its stdout is JSON."""
    done = subprocess.run(
        ["node", str(home / script), *args],
        cwd=home,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"node {script} failed:\n{done.stderr[-4000:]}"
    return json.loads(done.stdout)
