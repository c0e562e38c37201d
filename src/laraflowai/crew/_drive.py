"""Running a crew's tasks: the sync and async drivers, side by side.

Sequential: one task after the other in the caller's thread or task, each sent
the previous task's output as context. Parallel: up to `limit` tasks at once, in
threads (sync) or asyncio tasks (async), their events merged through a queue in
the order they arrive. A failed task ends the crew: the others are cancelled.
Closing the crew's stream cancels every task still running through its
stream's `cancel()`, which closes its upstream connection (in a sync worker
thread still waiting for the response head, as soon as the head arrives).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections import deque
from collections.abc import AsyncGenerator, Generator, Sequence
from contextlib import aclosing, closing
from dataclasses import dataclass
from typing import cast

from .._exceptions import LaraFlowAIError
from ..wire import Event
from ._run import TaskRun, finish
from .events import CrewEvent

__all__ = ["arun_parallel", "arun_sequential", "run_parallel", "run_sequential"]


@dataclass(frozen=True, slots=True)
class _End:
    """A parallel task's worker is done; `crash` is an exception that was no
    task failure (a callback's bug, say), for the caller to raise."""

    index: int
    crash: BaseException | None = None


def stream_task(run: TaskRun, context: str | None) -> Generator[CrewEvent, None, None]:
    response = run.agent.stream(run.prompt(context))
    run.watch(response)
    try:
        with closing(cast(Generator[Event, None, None], response.events())) as events:
            for event in events:
                yield from run.feed(event)
        whole = response.to_response()
    except LaraFlowAIError as error:
        yield from run.chunks()
        yield run.fail(error, response.usage, response.get_execution_time())
        return
    finally:
        response.close()
    yield from run.chunks()
    yield run.complete(whole)


async def astream_task(run: TaskRun, context: str | None) -> AsyncGenerator[CrewEvent, None]:
    response = run.agent.astream(run.prompt(context))
    run.watch(response)
    try:
        async with aclosing(cast(AsyncGenerator[Event, None], response.events())) as events:
            async for event in events:
                for crew_event in run.feed(event):
                    yield crew_event
        whole = await response.to_response()
    except LaraFlowAIError as error:
        for crew_event in run.chunks():
            yield crew_event
        yield run.fail(error, response.usage, response.get_execution_time())
        return
    finally:
        await response.aclose()
    for crew_event in run.chunks():
        yield crew_event
    yield run.complete(whole)


def run_sequential(runs: Sequence[TaskRun]) -> Generator[CrewEvent, None, None]:
    started_at = time.perf_counter()
    context: str | None = None
    for run in runs:
        with closing(stream_task(run, context)) as events:
            yield from events
        if run.result.status == "failed":
            yield finish(runs, started_at, failed=run)
            return
        context = run.result.content
    yield finish(runs, started_at)


async def arun_sequential(runs: Sequence[TaskRun]) -> AsyncGenerator[CrewEvent, None]:
    started_at = time.perf_counter()
    context: str | None = None
    for run in runs:
        async with aclosing(astream_task(run, context)) as events:
            async for event in events:
                yield event
        if run.result.status == "failed":
            yield finish(runs, started_at, failed=run)
            return
        context = run.result.content
    yield finish(runs, started_at)


def run_parallel(runs: Sequence[TaskRun], limit: int) -> Generator[CrewEvent, None, None]:
    started_at = time.perf_counter()
    events: queue.Queue[CrewEvent | _End] = queue.Queue()
    waiting = deque(runs)
    running: dict[int, threading.Thread] = {}

    def work(run: TaskRun) -> None:
        crash: BaseException | None = None
        try:
            with closing(stream_task(run, None)) as task_events:
                for event in task_events:
                    if run.cancelled:
                        break
                    events.put(event)
        except BaseException as exc:  # the caller's thread raises it
            crash = exc
        events.put(_End(run.index, crash))

    def start() -> None:
        while waiting and len(running) < limit:
            run = waiting.popleft()
            thread = threading.Thread(
                target=work,
                args=(run,),
                name=f"laraflowai-crew-task-{run.index}",
                daemon=True,
            )
            running[run.index] = thread
            thread.start()

    def cancel() -> None:
        # A worker blocked reading its socket can't be closed from this thread:
        # cancelling its stream shuts the connection down, and the worker ends by itself.
        for index in running:
            runs[index].cancel()
        running.clear()

    try:
        start()
        while running:
            item = events.get()
            if isinstance(item, _End):
                running.pop(item.index).join()
                if item.crash is not None:
                    raise item.crash
                start()
                continue
            yield item
            if item.kind == "task_error":
                cancel()
                yield finish(runs, started_at, failed=runs[item.task_index])
                return
        yield finish(runs, started_at)
    finally:
        cancel()


async def arun_parallel(runs: Sequence[TaskRun], limit: int) -> AsyncGenerator[CrewEvent, None]:
    started_at = time.perf_counter()
    events: asyncio.Queue[CrewEvent | _End] = asyncio.Queue()
    waiting = deque(runs)
    running: dict[int, asyncio.Task[None]] = {}

    async def work(run: TaskRun) -> None:
        crash: BaseException | None = None
        try:
            async with aclosing(astream_task(run, None)) as task_events:
                async for event in task_events:
                    events.put_nowait(event)
        except Exception as exc:  # the caller's task raises it
            crash = exc
        events.put_nowait(_End(run.index, crash))

    def start() -> None:
        while waiting and len(running) < limit:
            run = waiting.popleft()
            running[run.index] = asyncio.create_task(
                work(run), name=f"laraflowai-crew-task-{run.index}"
            )

    async def cancel() -> None:
        # Each worker's stream ends at its read in progress, or at its first;
        # the worker then ends by itself, its connection closed.
        tasks = list(running.values())
        for index in running:
            runs[index].cancel()
        running.clear()
        if tasks:
            await asyncio.wait(tasks)

    try:
        start()
        while running:
            item = await events.get()
            if isinstance(item, _End):
                await running.pop(item.index)
                if item.crash is not None:
                    raise item.crash
                start()
                continue
            yield item
            if item.kind == "task_error":
                await cancel()
                yield finish(runs, started_at, failed=runs[item.task_index])
                return
        yield finish(runs, started_at)
    finally:
        await cancel()
