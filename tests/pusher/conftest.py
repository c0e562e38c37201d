"""The real pusher-js client in Node, installed once per test session from npm."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from laraflowai import Settings
from laraflowai.web import create_app
from tests.conftest import API_KEY
from tests.servers import ProviderServer
from tests.web.conftest import BASE_ENV
from tests.web.servers import AppServer

_HERE = Path(__file__).parent / "js"
KEY, SECRET = "laraflowai-key", "pusher-secret-42ab9f"
CREDENTIALS = {"PUSHER_APP_ID": "1", "PUSHER_APP_KEY": KEY, "PUSHER_APP_SECRET": SECRET}
BUILTIN = {"LARAFLOWAI_WEBSOCKET_ENABLED": "true", "LARAFLOWAI_WEBSOCKET_DRIVER": "builtin"}


def _missing(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pusher_js(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with pusher-js installed and our listener script."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _missing("Node and npm are needed to run the real pusher-js client")
    folder = tmp_path_factory.mktemp("pusher-js")
    for name in ("package.json", "listen.cjs"):
        shutil.copy(_HERE / name, folder / name)
    done = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--silent"],
        cwd=folder, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    if done.returncode != 0:
        _missing(f"npm could not install pusher-js: {done.stderr[-1000:]}")
    return folder


class Listener:
    """pusher-js subscribed to one channel, in a Node process; its events as they come."""

    def __init__(self, folder: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            ["node", "listen.cjs", *args],
            cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def wait_for(self, kind: str, timeout: float = 15.0) -> dict[str, Any]:
        while True:
            try:
                item = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(
                    f"pusher-js did not report {kind!r}; saw {self.seen}"
                ) from None
            if item is None:
                stderr = self.process.stderr.read() if self.process.stderr else ""
                raise AssertionError(f"pusher-js ended before {kind!r}; saw {self.seen}; {stderr}")
            self.seen.append(item)
            if item["type"] == kind:
                return item

    def events(self) -> list[dict[str, Any]]:
        """Every channel event, up to and including `complete` or `error`."""
        while not any(
            i["type"] == "event" and i["name"] in ("complete", "error") for i in self.seen
        ):
            self.wait_for("event")
        return [item for item in self.seen if item["type"] == "event"]

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def listen(pusher_js: Path) -> Iterator[Any]:
    started: list[Listener] = []

    def start(*args: str) -> Listener:
        listener = Listener(pusher_js, *args)
        started.append(listener)
        return listener

    yield start
    for listener in started:
        listener.close()


@pytest.fixture
def serve(server: ProviderServer) -> Iterator[Any]:
    started: list[AppServer] = []

    def start(env: dict[str, str], **kwargs: Any) -> AppServer:
        settings = Settings.from_env({**BASE_ENV, **CREDENTIALS, **env})
        app = AppServer(
            create_app(settings, provider="openai", base_url=f"{server.url}/v1", api_key=API_KEY,
                       **kwargs)
        )  # fmt: skip
        app.server.config.ws = "websockets-sansio"
        started.append(app.start())
        return app

    yield start
    for app in started:
        app.stop()
