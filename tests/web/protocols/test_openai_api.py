"""The OpenAI-compatible API, read by the official `openai` SDK (sync and async,
streaming and not) from the app under uvicorn, answering from the local
provider server. Issue 17."""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import pytest

from laraflowai import Agent
from tests.conftest import API_KEY, require
from tests.servers import (
    Hang,
    ProviderServer,
    in_stream_error,
    openai_chunks,
    stream_reply,
)

from .conftest import ServeProtocols

require("openai", "the official OpenAI SDK reads the OpenAI-compatible API")
import openai  # noqa: E402

USAGE = {"prompt_tokens": 31, "completion_tokens": 4, "total_tokens": 35}
CONVERSATION = [
    {"role": "system", "content": "Answer in English."},
    {"role": "user", "content": "My name is Ada."},
    {"role": "assistant", "content": "Hello, Ada!"},
    {"role": "user", "content": "What is my name?"},
]
AGENT_SYSTEM = {"role": "system", "content": "You are Chat Assistant. Your goal: Help users."}


_OPEN: list[Any] = []


def client_for(app: Any, sync: bool, api_key: str = "not-needed", timeout: float = 10) -> Any:
    make = openai.OpenAI if sync else openai.AsyncOpenAI
    client = make(base_url=f"{app.url}/v1", api_key=api_key, max_retries=0, timeout=timeout)
    _OPEN.append(client)
    return client


@pytest.fixture(autouse=True)
async def close_clients() -> AsyncIterator[None]:
    yield
    while _OPEN:
        await call(_OPEN.pop().close())


async def call(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


async def chunks_of(stream: Any, sync: bool) -> list[Any]:
    if sync:
        with stream:
            return list(stream)
    async with stream:
        return [chunk async for chunk in stream]


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_sdk_streams_the_text_and_the_usage_exactly_and_the_conversation_goes_upstream(
    server: ProviderServer, serve_protocols: ServeProtocols, sync: bool
) -> None:
    server.enqueue(stream_reply(openai_chunks(["Your name ", "is Ada", "."], usage=USAGE)))
    app = serve_protocols()
    client = client_for(app, sync)

    stream = await call(
        client.chat.completions.create(
            model="laraflowai",
            messages=CONVERSATION,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    chunks = await chunks_of(stream, sync)

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Your name is Ada."
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert all(c.object == "chat.completion.chunk" and c.model == "laraflowai" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    usage = chunks[-1].usage
    assert chunks[-1].choices == []
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (31, 4, 35)
    assert all(c.usage is None for c in chunks[:-1])
    assert server.requests[0].json()["messages"] == [AGENT_SYSTEM, *CONVERSATION]


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_sdk_gets_a_whole_completion_when_not_streaming(
    server: ProviderServer, serve_protocols: ServeProtocols, sync: bool
) -> None:
    server.enqueue(stream_reply(openai_chunks(["Hello", ", Ada!"], usage=USAGE)))
    client = client_for(serve_protocols(), sync)

    completion = await call(
        client.chat.completions.create(
            model="laraflowai", messages=[{"role": "user", "content": "Hi"}], temperature=0.5
        )
    )

    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "Hello, Ada!"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens == 31
    assert completion.usage.completion_tokens == 4
    assert completion.usage.total_tokens == 35
    sent = server.requests[0].json()
    assert sent["temperature"] == 0.5
    assert sent["messages"] == [AGENT_SYSTEM, {"role": "user", "content": "Hi"}]


def test_model_selects_a_configured_agent_and_models_lists_them(
    server: ProviderServer,
    serve_protocols: ServeProtocols,
    make_web_agent: Callable[..., Agent],
) -> None:
    server.enqueue(stream_reply(openai_chunks(["Reviewed."])))
    agents = {
        "writer": make_web_agent("Writer", "Write"),
        "editor": make_web_agent("Editor", "Edit"),
    }
    client = client_for(serve_protocols(agents=agents), True)

    assert [m.id for m in client.models.list()] == ["writer", "editor"]
    assert client.models.retrieve("editor").owned_by == "laraflowai"
    answer = client.chat.completions.create(
        model="editor", messages=[{"role": "user", "content": [{"type": "text", "text": "Go"}]}]
    )
    assert answer.choices[0].message.content == "Reviewed."
    assert server.requests[0].json()["messages"][0]["content"].startswith("You are Editor.")

    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert missing.value.status_code == 404
    assert missing.value.body == {
        "message": "The model 'gpt-4o' does not exist on this server; it serves writer, editor",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"model": "laraflowai", "messages": []}, "messages", "at least one user message"),
        (
            {"model": "laraflowai", "messages": [{"role": "assistant", "content": "x"}]},
            "messages",
            "the last of messages must be the user's",
        ),
        (
            {"model": "laraflowai", "messages": [{"role": "tool", "content": "x"}]},
            "messages[0].role",
            "tool results are not supported",
        ),
        (
            {"model": "laraflowai", "messages": [{"role": "user", "content": "x"}], "n": 2},
            "n",
            "n must be 1",
        ),
        ({"messages": [{"role": "user", "content": "x"}]}, "model", "model is required"),
        ("[1, 2", "body", "not valid JSON"),
    ],
)
def test_bad_input_is_a_400_in_openai_error_shape(
    server: ProviderServer, serve_protocols: ServeProtocols, body: Any, param: str, words: str
) -> None:
    app = serve_protocols()
    content = body if isinstance(body, str) else None
    reply = httpx2.post(
        f"{app.url}/v1/chat/completions",
        content=content,
        json=None if content else body,
        headers={"Content-Type": "application/json"},
    )
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert words in error["message"]
    assert server.request_count == 0


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_an_error_mid_stream_is_an_error_event_with_a_safe_message(
    server: ProviderServer, serve_protocols: ServeProtocols, sync: bool
) -> None:
    secret = f"key {API_KEY} at {server.url}/v1 failed"
    events = openai_chunks(["Partial "], finish_reason=None, include_done=False)
    server.enqueue(stream_reply([*events, in_stream_error(secret)]))
    client = client_for(serve_protocols(), sync)
    stream = await call(
        client.chat.completions.create(
            model="laraflowai", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
    )
    seen: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        if sync:
            for chunk in stream:
                seen.append(chunk.choices[0].delta.content or "")
        else:
            async for chunk in stream:
                seen.append(chunk.choices[0].delta.content or "")

    assert "".join(seen) == "Partial "
    assert caught.value.body == {
        "message": "The answer could not be completed.",
        "type": "server_error",
        "param": None,
        "code": "internal",
    }, caught.value.body
    text = str(caught.value) + repr(caught.value.body)
    assert API_KEY not in text and server.url not in text


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_a_provider_failure_without_streaming_is_an_openai_error_reply(
    server: ProviderServer, serve_protocols: ServeProtocols, sync: bool
) -> None:
    from tests.servers import error_reply

    server.enqueue(error_reply(429, message=f"slow down, {API_KEY}", retry_after=0))
    client = client_for(serve_protocols(), sync)
    with pytest.raises(openai.RateLimitError) as caught:
        await call(
            client.chat.completions.create(
                model="laraflowai", messages=[{"role": "user", "content": "Hi"}]
            )
        )
    assert caught.value.body == {
        "message": "The model provider is limiting requests; try again soon.",
        "type": "rate_limit_error",
        "param": None,
        "code": "rate_limit",
    }


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_a_client_that_disconnects_closes_the_provider_request(
    server: ProviderServer, serve_protocols: ServeProtocols, sync: bool
) -> None:
    events = openai_chunks(["Thinking ", "hard"], finish_reason=None, include_done=False)
    server.enqueue(stream_reply(events, then=[Hang()]))
    client = client_for(serve_protocols(), sync)
    stream = await call(
        client.chat.completions.create(
            model="laraflowai", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
    )
    if sync:
        chunks = iter(stream)
        first, second = next(chunks), next(chunks)
    else:
        chunks = aiter(stream)
        first, second = await anext(chunks), await anext(chunks)
    assert first.choices[0].delta.role == "assistant"
    assert second.choices[0].delta.content == "Thinking "
    assert not server.exchange(0).client_closed
    await call(stream.close())
    assert server.wait_for_disconnect(0, timeout=2.0), "the provider request is still open"


def test_an_identical_request_is_replayed_from_the_cache_with_the_same_frames(
    server: ProviderServer, serve_protocols: ServeProtocols
) -> None:
    server.enqueue(stream_reply(openai_chunks(["Cached ", "answer"], usage=USAGE)))
    client = client_for(serve_protocols({"LARAFLOWAI_STREAMING_CACHE": "true"}), True)

    def ask() -> tuple[str, Any]:
        chunks = list(
            client.chat.completions.create(
                model="laraflowai",
                messages=CONVERSATION,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        return text, chunks[-1].usage.total_tokens

    assert ask() == ask() == ("Cached answer", 35)
    assert server.request_count == 1


async def test_a_client_that_leaves_a_whole_answer_early_closes_the_provider_request(
    server: ProviderServer, serve_protocols: ServeProtocols
) -> None:
    events = openai_chunks(["Thinking "], finish_reason=None, include_done=False)
    server.enqueue(stream_reply(events, then=[Hang()]))
    client = client_for(serve_protocols(), False, timeout=0.5)
    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(
            model="laraflowai", messages=[{"role": "user", "content": "Hi"}]
        )
    assert server.wait_for_disconnect(0, timeout=2.0), "the provider request is still open"


def test_the_api_token_guards_the_v1_routes(
    server: ProviderServer, serve_protocols: ServeProtocols
) -> None:
    server.enqueue(stream_reply(openai_chunks(["ok"])))
    app = serve_protocols(token="s3cret-token-value")
    with pytest.raises(openai.AuthenticationError):
        client_for(app, True, api_key="wrong").models.list()
    answer = client_for(app, True, api_key="s3cret-token-value").chat.completions.create(
        model="laraflowai", messages=[{"role": "user", "content": "Hi"}]
    )
    assert answer.choices[0].message.content == "ok"
    assert server.request_count == 1


def test_the_chunk_encoder_writes_openai_frames_without_io() -> None:
    from laraflowai import Finished, ReasoningDelta, TextDelta, ToolCall, Usage
    from laraflowai.web.openai_api import ChatCompletionChunks

    encoder = ChatCompletionChunks("m", include_usage=True, id="chatcmpl-1", created=7)
    frames = b"".join(
        [
            encoder.start(),
            encoder.feed(ReasoningDelta("hm")),
            encoder.feed(TextDelta('say "hi"\n')),
            encoder.feed(ToolCall(0, "call_9", "f", {"a": 1})),
            encoder.feed(Finished("tool_calls")),
            encoder.feed(Usage(5, 2, 7, reasoning_tokens=1)),
            encoder.end(),
        ]
    ).decode()
    *events, done, rest = frames.split("\n\n")
    assert (done, rest) == ("data: [DONE]", "")
    chunks = [json.loads(event.removeprefix("data: ")) for event in events]
    head = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 7,
        "model": "m",
        "system_fingerprint": None,
    }

    def delta(value: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": value, "logprobs": None, "finish_reason": finish}
        return {**head, "choices": [choice], "usage": None}

    call = {"index": 0, "id": "call_9", "type": "function"}
    assert chunks == [
        delta({"role": "assistant", "content": ""}),
        delta({"reasoning_content": "hm"}),
        delta({"content": 'say "hi"\n'}),
        delta({"tool_calls": [{**call, "function": {"name": "f", "arguments": '{"a":1}'}}]}),
        delta({}, "tool_calls"),
        {
            **head,
            "choices": [],
            "usage": {
                "prompt_tokens": 5,
                "completion_tokens": 2,
                "total_tokens": 7,
                "completion_tokens_details": {"reasoning_tokens": 1},
            },
        },
    ]
