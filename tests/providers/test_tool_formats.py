"""Tools, tool choice, tool calls and tool results reach each provider in its
own documented request format, sent through the real streaming path.

Checked against each provider's API reference and official SDK types:
- OpenAI Chat Completions: https://platform.openai.com/docs/api-reference/chat/create
  (tools, tool_choice, assistant tool_calls with JSON-string arguments, role "tool").
- Anthropic Messages: https://docs.claude.com/en/docs/agents-and-tools/tool-use/implement-tool-use
  (tools with input_schema, tool_choice {type: auto|any|tool|none}, tool_use blocks, every
  tool_result of a turn in ONE user message, is_error).
- Gemini: https://ai.google.dev/gemini-api/docs/function-calling (functionDeclarations with
  parametersJsonSchema, toolConfig.functionCallingConfig, functionCall/functionResponse parts).
- Ollama: https://github.com/ollama/ollama/blob/main/docs/api.md#chat-request-with-tools
  (tools as OpenAI's, tool_calls with object arguments, role "tool" with tool_name).
"""

from __future__ import annotations

from typing import Any

import pytest

from laraflowai import ConfigurationError, ToolCall
from laraflowai.providers import ChatRequest, ToolSpec
from tests.providers.conversation import (
    CALLS,
    KYIV,
    PNG_B64,
    REPORT,
    TIME,
    WEATHER,
    full_request,
    history,
    provider_at,
    send,
)
from tests.servers import (
    ProviderServer,
    anthropic_events,
    gemini_events,
    ndjson_reply,
    ollama_lines,
    openai_chunks,
    stream_reply,
)

ANSWER = '{"summary":"Rain in Kyiv","celsius":12}'
PIECES = ['{"summary":"Rain', ' in Kyiv","cel', 'sius":12}']
ARGUMENTS = '{"city":"\u041a\u0438\u0457\u0432"}'
SYSTEM = "You are a weather assistant."
CITY = {"city": KYIV}
QUESTION = "Where is this, and what is the weather there?"


def openai_tool(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        },
    }


def openai_body(model: str, *, strict: bool = True) -> dict[str, Any]:
    return {
        "model": model,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 100,
        "messages": [
            {"role": "system", "content": SYSTEM},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": QUESTION},
                    {
                        "type": "image_url",
                        "image_url": {"url": f"data:image/png;base64,{PNG_B64}"},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": "Let me check.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ARGUMENTS},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": ARGUMENTS},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "12 C, rain"},
            {"role": "tool", "tool_call_id": "call_2", "content": "clock unavailable"},
            {"role": "user", "content": "Summarise it."},
        ],
        "tools": [openai_tool(WEATHER), openai_tool(TIME)],
        "tool_choice": "auto",
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "report", "schema": REPORT.schema, "strict": strict},
        },
    }


ANTHROPIC_BODY: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 100,
    "stream": True,
    "system": SYSTEM,
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": QUESTION},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
                },
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": "call_1",
                    "name": "get_weather",
                    "input": {"city": KYIV},
                },
                {"type": "tool_use", "id": "call_2", "name": "get_time", "input": {"city": KYIV}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "12 C, rain"},
                {
                    "type": "tool_result",
                    "tool_use_id": "call_2",
                    "content": "clock unavailable",
                    "is_error": True,
                },
                {"type": "text", "text": "Summarise it."},
            ],
        },
    ],
    "tools": [
        {"name": t.name, "description": t.description, "input_schema": t.parameters}
        for t in (WEATHER, TIME)
    ],
    "tool_choice": {"type": "auto"},
    "output_config": {"format": {"type": "json_schema", "schema": REPORT.schema}},
}

GEMINI_BODY: dict[str, Any] = {
    "contents": [
        {
            "role": "user",
            "parts": [
                {"text": QUESTION},
                {"inlineData": {"mimeType": "image/png", "data": PNG_B64}},
            ],
        },
        {
            "role": "model",
            "parts": [
                {"text": "Let me check."},
                {"functionCall": {"name": "get_weather", "args": {"city": KYIV}, "id": "call_1"}},
                {"functionCall": {"name": "get_time", "args": {"city": KYIV}, "id": "call_2"}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "name": "get_weather",
                        "response": {"output": "12 C, rain"},
                        "id": "call_1",
                    }
                },
                {
                    "functionResponse": {
                        "name": "get_time",
                        "response": {"error": "clock unavailable"},
                        "id": "call_2",
                    }
                },
            ],
        },
        {"role": "user", "parts": [{"text": "Summarise it."}]},
    ],
    "systemInstruction": {"parts": [{"text": SYSTEM}]},
    "tools": [
        {
            "functionDeclarations": [
                {"name": t.name, "description": t.description, "parametersJsonSchema": t.parameters}
                for t in (WEATHER, TIME)
            ]
        }
    ],
    "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
    "generationConfig": {
        "maxOutputTokens": 100,
        "responseMimeType": "application/json",
        "responseJsonSchema": REPORT.schema,
    },
}

OLLAMA_BODY: dict[str, Any] = {
    "model": "llama3.2",
    "stream": True,
    "messages": [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": QUESTION, "images": [PNG_B64]},
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {"function": {"name": "get_weather", "arguments": {"city": KYIV}}},
                {"function": {"name": "get_time", "arguments": {"city": KYIV}}},
            ],
        },
        {"role": "tool", "tool_name": "get_weather", "content": "12 C, rain"},
        {"role": "tool", "tool_name": "get_time", "content": "clock unavailable"},
        {"role": "user", "content": "Summarise it."},
    ],
    "tools": [openai_tool(WEATHER), openai_tool(TIME)],
    "format": REPORT.schema,
    "options": {"num_predict": 100},
}


def deepseek_body() -> dict[str, Any]:
    body = openai_body("deepseek-chat")
    body["response_format"] = {"type": "json_object"}
    instruction = (
        "Answer with one JSON object, and nothing else, that matches this JSON schema:\n"
        '{"type": "object", "properties": {"summary": {"type": "string"}, "celsius": '
        '{"type": "number"}}, "required": ["summary", "celsius"], "additionalProperties": false}'
    )
    body["messages"].insert(1, {"role": "system", "content": instruction})
    return body


CASES = {
    "openai": ("/v1", "/v1/chat/completions", openai_body("gpt-4o-mini")),
    "grok": ("/v1", "/v1/chat/completions", openai_body("grok-3-mini")),
    "groq": ("/v1", "/v1/chat/completions", openai_body("llama-3.3-70b-versatile", strict=False)),
    "deepseek": ("", "/chat/completions", deepseek_body()),
    "anthropic": ("/anthropic", "/anthropic/v1/messages", ANTHROPIC_BODY),
    "gemini": (
        "/gemini/v1beta",
        "/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        GEMINI_BODY,
    ),
    "ollama": ("", "/api/chat", OLLAMA_BODY),
}


def answer_reply(provider: str) -> Any:
    if provider == "anthropic":
        return stream_reply(anthropic_events(PIECES))
    if provider == "gemini":
        return stream_reply(gemini_events(PIECES))
    if provider == "ollama":
        return ndjson_reply(ollama_lines(PIECES))
    return stream_reply(openai_chunks(PIECES))


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
@pytest.mark.parametrize("name", list(CASES))
async def test_tools_history_image_and_output_reach_each_provider_in_its_format(
    server: ProviderServer, async_clients: None, name: str, sync: bool
) -> None:
    prefix, path, expected = CASES[name]
    server.enqueue(answer_reply(name))
    answer = await send(provider_at(server, name, prefix), full_request(), sync)
    assert answer == ANSWER
    assert server.requests[0].path == path
    assert server.requests[0].json() == expected


@pytest.mark.parametrize(
    ("name", "prefix", "choices"),
    [
        (
            "openai",
            "/v1",
            {
                "required": "required",
                "none": "none",
                "get_time": {"type": "function", "function": {"name": "get_time"}},
            },
        ),
        (
            "anthropic",
            "/anthropic",
            {
                "required": {"type": "any"},
                "none": {"type": "none"},
                "get_time": {"type": "tool", "name": "get_time"},
            },
        ),
        (
            "gemini",
            "/gemini/v1beta",
            {
                "required": {"functionCallingConfig": {"mode": "ANY"}},
                "none": {"functionCallingConfig": {"mode": "NONE"}},
                "get_time": {
                    "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}
                },
            },
        ),
    ],
)
def test_tool_choice_takes_each_providers_form(
    server: ProviderServer, name: str, prefix: str, choices: dict[str, Any]
) -> None:
    provider = provider_at(server, name, prefix)
    field = "toolConfig" if name == "gemini" else "tool_choice"
    for choice, expected in choices.items():
        request = ChatRequest(history(), tools=(WEATHER, TIME), tool_choice=choice)
        body = provider.build_request(request)  # type: ignore[attr-defined]
        assert _json(body.body)[field] == expected


def test_no_tool_choice_leaves_the_providers_default(server: ProviderServer) -> None:
    for name, prefix in [("openai", "/v1"), ("anthropic", "/anthropic"), ("gemini", "/g")]:
        provider = provider_at(server, name, prefix)
        # OpenAI refuses a tool_choice without tools: none is sent.
        for choice in ("none", "auto"):
            request = ChatRequest(history(), tool_choice=choice)
            body = _json(provider.build_request(request).body)  # type: ignore[attr-defined]
            assert not {"tools", "tool_choice", "toolConfig"} & set(body)
        body = _json(provider.build_request(ChatRequest(history(), tools=(WEATHER,))).body)  # type: ignore[attr-defined]
        assert not {"tool_choice", "toolConfig"} & set(body)


def test_ollama_tool_choice_none_sends_no_tools_and_forcing_a_tool_is_refused(
    server: ProviderServer,
) -> None:
    provider = provider_at(server, "ollama")
    none = ChatRequest(history(), tools=(WEATHER,), tool_choice="none")
    assert "tools" not in _json(provider.build_request(none).body)  # type: ignore[attr-defined]
    for choice in ("required", "get_weather"):
        request = ChatRequest(history(), tools=(WEATHER,), tool_choice=choice)
        with pytest.raises(ConfigurationError, match="Ollama cannot be made to call a tool"):
            provider.check(request)


def test_tool_calls_without_text_and_results_answered_by_id_only(server: ProviderServer) -> None:
    messages: list[Any] = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "", "tool_calls": [CALLS[0]]},
        {"role": "tool", "tool_call_id": "call_1", "content": "12 C"},
    ]
    request = ChatRequest(messages, tools=(WEATHER,))
    openai = _json(provider_at(server, "openai", "/v1").build_request(request).body)  # type: ignore[attr-defined]
    assert openai["messages"][1]["content"] is None
    anthropic = _json(provider_at(server, "anthropic", "/a").build_request(request).body)  # type: ignore[attr-defined]
    assert anthropic["messages"][1]["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": KYIV}}
    ]
    gemini = _json(provider_at(server, "gemini", "/g").build_request(request).body)  # type: ignore[attr-defined]
    assert gemini["contents"][1]["parts"][0]["functionCall"]["name"] == "get_weather"
    assert len(gemini["contents"][1]["parts"]) == 1
    # The name comes from the call the result answers.
    assert gemini["contents"][2]["parts"][0]["functionResponse"]["name"] == "get_weather"
    ollama = _json(provider_at(server, "ollama").build_request(request).body)  # type: ignore[attr-defined]
    assert ollama["messages"][2] == {"role": "tool", "tool_name": "get_weather", "content": "12 C"}


def test_gemini_3_gets_the_documented_signature_for_calls_it_did_not_sign(
    server: ProviderServer,
) -> None:
    """https://ai.google.dev/gemini-api/docs/thought-signatures: the first call of
    each step carries a signature; a ToolCall keeps none, so the placeholder goes."""
    request = ChatRequest(history(), tools=(WEATHER, TIME))
    for model, signed in [("gemini-3-flash-preview", True), ("gemini-2.5-pro", False)]:
        provider = provider_at(server, "gemini", "/g", model=model)
        parts = _json(provider.build_request(request).body)["contents"][1]["parts"]  # type: ignore[attr-defined]
        signatures = [part.get("thoughtSignature") for part in parts]
        assert signatures == [None, "skip_thought_signature_validator" if signed else None, None]


def test_gemini_calls_without_ids_are_sent_without_ids(server: ProviderServer) -> None:
    call = ToolCall(0, None, "get_weather", {"city": KYIV})
    messages: list[Any] = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": None, "name": "get_weather", "content": "12 C"},
    ]
    body = _json(provider_at(server, "gemini", "/g").build_request(ChatRequest(messages)).body)  # type: ignore[attr-defined]
    assert body["contents"][1]["parts"][0]["functionCall"] == {
        "name": "get_weather",
        "args": {"city": KYIV},
    }
    assert body["contents"][2]["parts"][0] == {
        "functionResponse": {"name": "get_weather", "response": {"output": "12 C"}}
    }


def test_plain_requests_are_unchanged(server: ProviderServer) -> None:
    messages: list[Any] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Bye"},
    ]
    request = ChatRequest(messages)
    openai = _json(provider_at(server, "openai", "/v1").build_request(request).body)  # type: ignore[attr-defined]
    assert openai["messages"] == messages
    assert not {"tools", "tool_choice", "response_format"} & set(openai)
    ollama = _json(provider_at(server, "ollama").build_request(request).body)  # type: ignore[attr-defined]
    assert ollama["messages"] == messages
    anthropic = _json(provider_at(server, "anthropic", "/a").build_request(request).body)  # type: ignore[attr-defined]
    assert anthropic["messages"] == messages[1:] and anthropic["system"] == "Be brief."
    gemini = _json(provider_at(server, "gemini", "/g").build_request(request).body)  # type: ignore[attr-defined]
    assert set(gemini) == {"contents", "systemInstruction"}


BAD_TOOLS: list[tuple[Any, str]] = [
    ((ToolSpec("get weather", "x", {"type": "object"}),), "tool name 'get weather'"),
    ((ToolSpec("9lives", "x", {"type": "object"}),), "starting with a letter"),
    ((ToolSpec("a" * 65, "x", {"type": "object"}),), "1 to 64"),
    ((WEATHER, WEATHER), "two tools are named 'get_weather'"),
    ((ToolSpec("f", "x", {"type": "string"}),), 'parameters of tool \'f\'.*"type": "object"'),
    ((ToolSpec("f", "x", {"type": "object", "default": object()}),), "tool 'f' is not plain JSON"),
    ((ToolSpec("f", None, {"type": "object"}),), "description of tool 'f'"),  # type: ignore[arg-type]
    (({"name": "f"},), r"tools\[0\] is a dict, not a laraflowai.providers.ToolSpec"),
]


@pytest.mark.parametrize("name", ["openai", "anthropic", "gemini", "ollama"])
@pytest.mark.parametrize(("tools", "message"), BAD_TOOLS)
def test_bad_tools_are_refused_before_sending(
    server: ProviderServer, name: str, tools: Any, message: str
) -> None:
    provider = provider_at(server, name, "/x")
    with pytest.raises(ConfigurationError, match=message):
        provider.check(ChatRequest(history(), tools=tools))
    assert server.request_count == 0


@pytest.mark.parametrize(
    ("tools", "choice", "message"),
    [
        ((), "required", "tool_choice='required' asks for a tool call, but the request has no"),
        ((WEATHER,), "get_time", "names no tool of this request \\(its tools: get_weather\\)"),
        ((WEATHER,), 3, "tool_choice must be 'auto', 'required', 'none' or a tool's name"),
    ],
)
def test_bad_tool_choice_is_refused(
    server: ProviderServer, tools: Any, choice: Any, message: str
) -> None:
    for name in ("openai", "anthropic", "gemini"):
        with pytest.raises(ConfigurationError, match=message):
            provider_at(server, name, "/x").check(
                ChatRequest(history(), tools=tools, tool_choice=choice)
            )


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"role": "bot", "content": "x"}, r"messages\[0\] has role 'bot'"),
        ("hello", r"messages\[0\] must be a dict"),
        ({"role": "user", "content": "x", "tool_calls": [CALLS[0]]}, "only an assistant"),
        (
            {"role": "assistant", "content": "", "tool_calls": [{"name": "f"}]},
            r"tool_calls\[0\] is a dict, not a laraflowai.ToolCall",
        ),
        ({"role": "tool", "tool_call_id": "c", "content": {"t": 1}}, "content is not a string"),
        ({"role": "tool", "tool_call_id": 7, "content": "x"}, "tool_call_id must be a string"),
        ({"role": "tool", "tool_call_id": "c", "content": "x", "is_error": "yes"}, "is_error"),
    ],
)
def test_bad_messages_are_refused(server: ProviderServer, message: Any, error: str) -> None:
    for name in ("openai", "anthropic", "gemini", "ollama"):
        with pytest.raises(ConfigurationError, match=error):
            provider_at(server, name, "/x").check(ChatRequest([message]))


def test_calls_and_results_without_ids_are_refused_where_ids_are_needed(
    server: ProviderServer,
) -> None:
    no_id = ToolCall(0, None, "get_weather", {})
    calls: list[Any] = [{"role": "assistant", "content": "", "tool_calls": [no_id]}]
    result: list[Any] = [{"role": "tool", "content": "12 C", "name": "get_weather"}]
    for name, prefix in [("openai", "/v1"), ("anthropic", "/a")]:
        provider = provider_at(server, name, prefix)
        with pytest.raises(ConfigurationError, match="'get_weather' has no id"):
            provider.check(ChatRequest(calls))
        with pytest.raises(ConfigurationError, match="get_weather.*has no tool_call_id"):
            provider.check(ChatRequest(result))
    nameless: list[Any] = [{"role": "tool", "tool_call_id": "call_9", "content": "12 C"}]
    for name in ("gemini", "ollama"):
        with pytest.raises(ConfigurationError, match="needs the name"):
            provider_at(server, name, "/x").check(ChatRequest(nameless))


def _json(body: bytes) -> Any:
    import json

    return json.loads(body)
