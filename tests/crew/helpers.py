"""Shared helpers of the crew tests: route replies by task, read a crew's events."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from laraflowai import Crew, CrewEvent
from tests.servers import RecordedRequest, Reply


def user_prompt(request: RecordedRequest) -> str:
    return str(request.json()["messages"][-1]["content"])


def route(replies: Mapping[str, Reply]) -> Callable[[RecordedRequest], Reply]:
    """A server handler answering each task by the start of its prompt: parallel
    requests arrive in any order."""

    def handler(request: RecordedRequest) -> Reply:
        prompt = user_prompt(request)
        for start, reply in replies.items():
            if prompt.startswith(start):
                return reply
        raise LookupError(f"no reply for {prompt!r}")

    return handler


async def collect(crew: Crew, sync: bool) -> list[CrewEvent]:
    if sync:
        return list(crew.stream())
    return [event async for event in crew.astream()]


def text_by_task(events: list[CrewEvent]) -> dict[int, str]:
    texts: dict[int, str] = {}
    for event in events:
        if event.kind == "chunk":
            assert event.chunk is not None
            texts[event.task_index] = texts.get(event.task_index, "") + event.chunk
    return texts


def kinds(events: list[CrewEvent]) -> list[tuple[str, int, str]]:
    return [(event.kind, event.task_index, event.agent_role) for event in events]


def usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
