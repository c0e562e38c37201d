"""Each provider's local server for tool-using agents: a first reply with two
tool calls, then the answer; and how each provider carries the results back."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from laraflowai._config import reset_settings
from tests.servers import (
    ProviderServer,
    RecordedRequest,
    Reply,
    anthropic_events,
    gemini_events,
    ndjson_reply,
    ollama_lines,
    openai_chunks,
    sse_data,
    stream_reply,
)

KEY = "provider-key-0123456789abcdef"
PROVIDERS = ["openai", "anthropic", "gemini", "ollama"]


def openai_tool_chunks(
    calls: list[tuple[str, str, list[str]]], usage: dict[str, int]
) -> list[bytes]:
    """OpenAI's chunks for tool calls: the first delta of each call names it
    (id, type, name, empty arguments), the next ones carry argument fragments."""
    base = {"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    events = []
    for index, (call_id, name, fragments) in enumerate(calls):
        first = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        delta: dict[str, Any] = {"tool_calls": [first]}
        if index == 0:
            delta = {"role": "assistant", "content": None, **delta}
        events.append(
            sse_data({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        )
        for fragment in fragments:
            piece = {"index": index, "function": {"arguments": fragment}}
            events.append(
                sse_data(
                    {
                        **base,
                        "choices": [
                            {"index": 0, "delta": {"tool_calls": [piece]}, "finish_reason": None}
                        ],
                    }
                )
            )
    events.append(
        sse_data({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    )
    events.append(sse_data({**base, "choices": [], "usage": usage}))
    events.append(b"data: [DONE]\n\n")
    return events


CALLS = [
    ("call_a", "add", ['{"a": 2,', ' "b": 3}']),
    ("call_w", "weather", ['{"city": "Ки', 'їв"}']),
]
ARGS: list[dict[str, Any]] = [{"a": 2, "b": 3}, {"city": "Київ"}]


def tool_reply(provider: str) -> Reply:
    if provider == "openai":
        usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        return stream_reply(openai_tool_chunks(CALLS, usage))
    if provider == "anthropic":
        events = anthropic_events(
            ["Let me look."],
            tool_calls=CALLS,
            stop_reason="tool_use",
            input_tokens=10,
            output_tokens=5,
        )
        return stream_reply(events)
    if provider == "gemini":
        calls = [(name, args) for (_, name, _), args in zip(CALLS, ARGS, strict=True)]
        return stream_reply(gemini_events(["Let me look."], function_calls=calls))
    calls = [(name, args) for (_, name, _), args in zip(CALLS, ARGS, strict=True)]
    return ndjson_reply(
        ollama_lines(["Let me look."], tool_calls=calls, eval_count=5, prompt_eval_count=10)
    )


def answer_reply(provider: str, texts: list[str]) -> Reply:
    if provider == "openai":
        usage = {"prompt_tokens": 20, "completion_tokens": 7, "total_tokens": 27}
        return stream_reply(openai_chunks(texts, usage=usage))
    if provider == "anthropic":
        return stream_reply(anthropic_events(texts, input_tokens=20, output_tokens=7))
    if provider == "gemini":
        return stream_reply(gemini_events(texts))
    return ndjson_reply(ollama_lines(texts, eval_count=7, prompt_eval_count=20))


def has_results(provider: str, body: dict[str, Any]) -> bool:
    if provider == "gemini":
        return any(
            "functionResponse" in part for c in body["contents"] for part in c.get("parts", [])
        )
    if provider == "anthropic":
        return any(
            isinstance(m["content"], list)
            and any(b.get("type") == "tool_result" for b in m["content"])
            for m in body["messages"]
        )
    return any(m["role"] == "tool" for m in body["messages"])


def results_sent(provider: str, body: dict[str, Any]) -> list[tuple[str | None, str]]:
    """(call id or tool name, result text) of each tool result in the request, in order."""
    if provider == "openai":
        return [(m["tool_call_id"], m["content"]) for m in body["messages"] if m["role"] == "tool"]
    if provider == "ollama":
        return [(m["tool_name"], m["content"]) for m in body["messages"] if m["role"] == "tool"]
    if provider == "anthropic":
        found = []
        for message in body["messages"]:
            if isinstance(message["content"], list):
                for block in message["content"]:
                    if block.get("type") == "tool_result":
                        content = block["content"]
                        if isinstance(content, list):
                            content = "".join(part["text"] for part in content)
                        found.append((block["tool_use_id"], content))
        return found
    found = []
    for content in body["contents"]:
        for part in content.get("parts", []):
            if "functionResponse" in part:
                response = part["functionResponse"]
                found.append(
                    (response["name"], json.dumps(response["response"], ensure_ascii=False))
                )
    return found


def calls_sent(provider: str, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(name, arguments) of each tool call the assistant made, as the request repeats them."""
    if provider in ("openai", "ollama"):
        found = []
        for message in body["messages"]:
            for call in message.get("tool_calls") or []:
                arguments = call["function"]["arguments"]
                if isinstance(arguments, str):
                    arguments = json.loads(arguments)
                found.append((call["function"]["name"], arguments))
        return found
    if provider == "anthropic":
        return [
            (block["name"], block["input"])
            for message in body["messages"]
            if message["role"] == "assistant" and isinstance(message["content"], list)
            for block in message["content"]
            if block.get("type") == "tool_use"
        ]
    return [
        (part["functionCall"]["name"], part["functionCall"]["args"])
        for content in body["contents"]
        for part in content.get("parts", [])
        if "functionCall" in part
    ]


def tool_names_offered(provider: str, body: dict[str, Any]) -> list[str]:
    if provider in ("openai", "ollama"):
        return [t["function"]["name"] for t in body["tools"]]
    if provider == "anthropic":
        return [t["name"] for t in body["tools"]]
    return [d["name"] for t in body["tools"] for d in t["functionDeclarations"]]


@dataclass
class Script:
    """Answers tool calls first, then `texts`, once the results come back."""

    provider: str
    texts: list[str]
    first: Callable[[str], Reply] = tool_reply

    def __call__(self, request: RecordedRequest) -> Reply:
        body = request.json()
        if has_results(self.provider, body):
            return answer_reply(self.provider, self.texts)
        return self.first(self.provider)


@pytest.fixture
def provider_env(server: ProviderServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"{server.url}/anthropic")
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.setenv("GEMINI_BASE_URL", f"{server.url}/gemini/v1beta")
    monkeypatch.setenv("OLLAMA_HOST", server.url.removeprefix("http://"))
    reset_settings()
    yield
