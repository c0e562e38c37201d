"""The bench's provider server: the tests' ProviderServer, answering
`/n/<count>/v1/chat/completions` (OpenAI format) and `/n/<count>/v1/messages`
(Anthropic format) with a stream of `<count>` text deltas, pre-built once and
written in 16 KiB pieces as a real socket would deliver them. `/n/<count>/requests`
answers how many streams it has served, so a client can prove that a replay from
the cache never reached it. `/t/<count>/v1/chat/completions` answers a request
without tool results with two tool calls, and one with them with the `<count>`
text deltas: a tool-using agent's two steps."""

from __future__ import annotations

import functools
import re

from tests.servers import (
    ProviderServer,
    RecordedRequest,
    Reply,
    Write,
    anthropic_events,
    json_reply,
    openai_chunks,
)
from tests.tools.wire import CALLS, openai_tool_chunks

_PATH = re.compile(r"^/([nt])/(\d+)/v1/(chat/completions|messages)$")
_COUNT = re.compile(r"^/n/\d+/requests$")
_PIECE = 16 * 1024


@functools.lru_cache(maxsize=16)
def _body(count: int, kind: str) -> tuple[bytes, ...]:
    deltas = [f"tok{index} " for index in range(count)]
    usage = {"prompt_tokens": 5, "completion_tokens": count, "total_tokens": count + 5}
    if kind == "messages":
        events = anthropic_events(deltas, output_tokens=count)
    else:
        events = openai_chunks(deltas, usage=usage)
    data = b"".join(events)
    return tuple(data[start : start + _PIECE] for start in range(0, len(data), _PIECE))


@functools.cache
def _tool_calls() -> bytes:
    usage = {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}
    return b"".join(openai_tool_chunks(CALLS, usage))


def start_server() -> ProviderServer:
    server = ProviderServer().start()
    served = 0  # only the server's own thread reads and writes it

    def reply(request: RecordedRequest) -> Reply:
        nonlocal served
        if _COUNT.match(request.path):
            return json_reply({"streams": served})
        match = _PATH.match(request.path)
        if match is None:
            return Reply(status=404, steps=[Write(b'{"error": {"message": "unknown bench path"}}')])
        served += 1
        if match.group(1) == "t" and b'"role":"tool"' not in request.body:
            return Reply(steps=[Write(_tool_calls())])
        pieces = _body(int(match.group(2)), match.group(3).split("/")[-1])
        return Reply(steps=[Write(piece) for piece in pieces])

    server.set_handler(reply)
    return server
