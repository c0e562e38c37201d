"""A function's tool description: schema from hints, descriptions from the docstring."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Literal

import pydantic
import pytest

from laraflowai import ConfigurationError
from laraflowai.tools import Tool, tool


class Unit(enum.Enum):
    C = "celsius"
    F = "fahrenheit"


@dataclasses.dataclass
class Place:
    city: str
    country: str | None = None


def google(city: str, days: int = 3, unit: Unit = Unit.C) -> str:
    """Forecast the weather.

    Several lines of summary are fine.

    Args:
        city: The city's name,
            e.g. "Kyiv".
        days (int): How many days ahead.
        unit: Celsius or Fahrenheit.

    Returns:
        The forecast.
    """
    return city


def sphinx(query: str, limit: int) -> list[str]:
    """Search the notes.

    :param query: Words to look for.
    :param int limit: At most this many results.
    :returns: The notes.
    """
    return []


def numpy_style(place: Place, mode: Literal["fast", "exact"] = "fast") -> None:
    """Find a place.

    Parameters
    ----------
    place : Place
        Where to look.
    mode : str
        How hard to look.

    Returns
    -------
    None
    """


def test_google_docstring_and_hints_become_the_schema() -> None:
    made = Tool(google)
    assert made.name == "google"
    assert made.description == "Forecast the weather.\n\nSeveral lines of summary are fine."
    props = made.parameters["properties"]
    assert props["city"] == {"type": "string", "description": 'The city\'s name, e.g. "Kyiv".'}
    assert props["days"] == {"type": "integer", "default": 3, "description": "How many days ahead."}
    assert props["unit"]["description"] == "Celsius or Fahrenheit."
    assert made.parameters["required"] == ["city"]
    assert made.parameters["$defs"]["Unit"]["enum"] == ["celsius", "fahrenheit"]
    assert made.parameters["additionalProperties"] is False


def test_sphinx_and_numpy_docstrings() -> None:
    props = Tool(sphinx).parameters["properties"]
    assert props["query"]["description"] == "Words to look for."
    assert props["limit"]["description"] == "At most this many results."
    assert Tool(sphinx).description == "Search the notes."
    made = Tool(numpy_style)
    assert made.description == "Find a place."
    assert made.parameters["properties"]["place"]["description"] == "Where to look."
    assert made.parameters["properties"]["mode"]["enum"] == ["fast", "exact"]


def test_arguments_are_validated_and_converted() -> None:
    made = Tool(numpy_style)
    args = made.arguments({"place": {"city": "Lviv"}})
    assert args == {"place": Place("Lviv"), "mode": "fast"}
    with pytest.raises(pydantic.ValidationError):
        made.arguments({"place": {"city": "Lviv"}, "mode": "slow"})
    with pytest.raises(pydantic.ValidationError):
        made.arguments({"place": {"city": "Lviv"}, "extra": 1})
    assert Tool(google).arguments({"city": "Kyiv", "days": "5"})["days"] == 5


def test_decorator_forms_and_outputs() -> None:
    @tool
    def plain(x: int) -> int:
        return x

    @tool(name="renamed", description="Said here.", requires_approval=True)
    async def other(x: int) -> dict[str, Any]:
        return {"x": x}

    assert isinstance(plain, Tool) and plain.name == "plain" and not plain.is_async
    assert other.name == "renamed" and other.description == "Said here."
    assert other.requires_approval and other.is_async
    assert Tool.output("text") == "text"
    assert Tool.output({"a": [1, Place("Kyiv")]}) == '{"a":[1,{"city":"Kyiv","country":null}]}'
    assert Tool.output(object()).startswith("<object object")


@pytest.mark.parametrize(
    ("function", "kwargs", "message"),
    [
        (lambda *args: None, {"name": "f"}, "*args"),
        (lambda **kw: None, {"name": "f"}, "**kw"),
        (len, {}, "positional-only"),
        (google, {"name": "has space"}, "1 to 64 letters"),
        (google, {"name": "x" * 65}, "1 to 64 letters"),
        ("not callable", {}, "a tool is a function"),
        (google, {"requires_approval": "yes"}, "True or False"),
    ],
)
def test_functions_that_cannot_be_tools_are_refused(
    function: Any, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("*", r"\*")):
        Tool(function, **kwargs)


class Opaque:
    pass


def test_unserialisable_parameter_types_are_refused() -> None:
    def uses(thing: Opaque) -> None:
        pass

    with pytest.raises(ConfigurationError, match="cannot be described as JSON"):
        Tool(uses)
