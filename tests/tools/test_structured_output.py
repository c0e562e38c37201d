"""Structured output that streams: partial objects grow as the JSON arrives,
the final object validates, for each provider, in its native JSON mode."""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest

from laraflowai import ConfigurationError, FlowAI, OutputValidationError
from tests.servers import ProviderServer
from tests.tools.wire import (
    PROVIDERS,
    answer_reply,
    provider_env,  # noqa: F401 (a fixture)
)

pytestmark = pytest.mark.usefixtures("provider_env", "async_clients")


class City(pydantic.BaseModel):
    name: str
    population: int
    districts: list[str]


CITY = {"name": "Київ", "population": 2952301, "districts": ["Поділ", "Оболонь", "Печерськ"]}


def pieces(text: str, size: int = 7) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def grows(before: Any, after: Any) -> bool:
    """Whether `after` extends `before`: nothing that was there changes except
    to grow (a string longer, a list with more items, an object with more keys)."""
    if isinstance(before, dict):
        return isinstance(after, dict) and all(
            key in after and grows(value, after[key]) for key, value in before.items()
        )
    if isinstance(before, list):
        return (
            isinstance(after, list)
            and len(before) <= len(after)
            and all(grows(a, b) for a, b in zip(before, after, strict=False))
        )
    if isinstance(before, str):
        return isinstance(after, str) and after.startswith(before)
    return before == after or (isinstance(before, int) and isinstance(after, int))


def native_mode(provider: str, body: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema the request asks the provider to follow, in its own field."""
    if provider == "openai":
        assert body["response_format"]["type"] == "json_schema"
        return dict(body["response_format"]["json_schema"]["schema"])
    if provider == "gemini":
        config = body["generationConfig"]
        assert config["responseMimeType"] == "application/json"
        return dict(config.get("responseJsonSchema") or config["responseSchema"])
    if provider == "ollama":
        return dict(body["format"])
    assert body["output_config"]["format"]["type"] == "json_schema"
    return dict(body["output_config"]["format"]["schema"])


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_partial_objects_grow_and_the_final_one_validates(
    server: ProviderServer, provider: str, sync: bool
) -> None:
    text = json.dumps(CITY, ensure_ascii=False)
    server.enqueue(answer_reply(provider, pieces(text)))
    agent = FlowAI.agent("Geographer", "Describe cities", provider, cache=False)
    if sync:
        response: Any = agent.stream("Describe Kyiv", output_type=City).set_buffer_size(1)
        partials = list(response.objects())
        final = response.get_object()
    else:
        response = agent.astream("Describe Kyiv", output_type=City).set_buffer_size(1)
        partials = [value async for value in response.objects()]
        final = await response.get_object()

    assert final == City(**CITY)
    assert len(partials) > 5
    assert partials[-1] == CITY
    for before, after in zip(partials, partials[1:], strict=False):
        assert grows(before, after), (before, after)
    schema = native_mode(provider, server.requests[0].json())
    assert set(schema["properties"]) == {"name", "population", "districts"}


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_a_non_object_type_is_wrapped_and_unwrapped(
    server: ProviderServer, sync: bool
) -> None:
    server.enqueue(answer_reply("openai", pieces('{"result": [1, 2, 3]}', 3)))
    agent = FlowAI.agent("A", "B", "openai", cache=False)
    if sync:
        response: Any = agent.stream("Count", output_type=list[int])
        partials = list(response.objects())
        final = response.get_object()
    else:
        response = agent.astream("Count", output_type=list[int])
        partials = [value async for value in response.objects()]
        final = await response.get_object()
    assert final == [1, 2, 3]
    assert partials[-1] == [1, 2, 3]
    schema = native_mode("openai", server.requests[0].json())
    assert schema["properties"]["result"]["type"] == "array"


def test_an_answer_that_does_not_validate_is_a_typed_error(server: ProviderServer) -> None:
    server.enqueue(answer_reply("openai", ['{"name": "Kyiv", "population": "many"}']))
    response = FlowAI.agent("A", "B", "openai", cache=False).stream("Go", output_type=City)
    with pytest.raises(OutputValidationError) as caught:
        response.get_object()
    error = caught.value
    assert "population" in error.message and "districts" in error.message
    assert error.content == '{"name": "Kyiv", "population": "many"}'
    assert {tuple(e["loc"]) for e in error.errors} == {("population",), ("districts",)}


def test_a_fenced_answer_is_read(server: ProviderServer) -> None:
    text = "```json\n" + json.dumps(CITY) + "\n```"
    server.enqueue(answer_reply("openai", pieces(text)))
    response = FlowAI.agent("A", "B", "openai", cache=False).stream("Go", output_type=City)
    assert response.get_object() == City(**CITY)


class Opaque:
    pass


def test_objects_without_an_output_type_is_refused(server: ProviderServer) -> None:
    response = FlowAI.agent("A", "B", "openai", cache=False).stream("Go")
    with pytest.raises(ConfigurationError, match="output_type"):
        next(response.objects())
    with pytest.raises(ConfigurationError, match="cannot be described as JSON"):
        FlowAI.agent("A", "B", "openai").stream("Go", output_type=Opaque)
