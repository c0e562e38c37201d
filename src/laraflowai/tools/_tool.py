"""A function the model may call, described once when the agent is made."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any, overload

import pydantic_core

from .._exceptions import ConfigurationError
from ..providers import ToolSpec
from ._schema import describe

__all__ = ["Tool", "tool"]

# The strictest provider rule (OpenAI's): letters, digits, _ and -, at most 64.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class Tool:
    """`Tool(get_weather)`: a plain function (sync or async) the model may call.

    Its name is the function's unless `name=` is given; its description is the
    docstring's summary unless `description=` is given; its parameters' JSON
    schema comes from the type hints, their descriptions from the docstring.
    `requires_approval=True`: each call waits for the agent's `approve`
    callback, or pauses the run until `resume()` (see `Agent`).
    """

    __slots__ = ("function", "name", "description", "requires_approval", "is_async", "_signature")

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        requires_approval: bool = False,
    ) -> None:
        if not callable(function):
            raise ConfigurationError(
                f"a tool is a function (or a Tool), not {type(function).__name__}"
            )
        name = name if name is not None else getattr(function, "__name__", "")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigurationError(
                f"the tool name {name!r} cannot be sent to every provider: use 1 to 64 letters, "
                "digits, '_' or '-' (pass name=... to Tool)"
            )
        if not isinstance(requires_approval, bool):
            raise ConfigurationError(
                f"requires_approval must be True or False, got {requires_approval!r}"
            )
        self.function = function
        self.name = name
        self._signature = describe(function, name)
        if description is not None and not isinstance(description, str):
            raise ConfigurationError(f"tool {name!r}: description must be a string")
        self.description = (description or self._signature.description).strip()
        self.requires_approval = requires_approval
        self.is_async = inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
            getattr(function, "__call__", None)  # noqa: B004 (an async callable object)
        )

    @property
    def parameters(self) -> dict[str, Any]:
        """The JSON schema of the arguments (an object schema)."""
        return self._signature.parameters

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.parameters)

    def arguments(self, given: dict[str, Any]) -> dict[str, Any]:
        """The model's arguments, checked and converted to the function's types
        (pydantic.ValidationError if they do not fit)."""
        return self._signature.arguments(given)

    @staticmethod
    def output(value: Any) -> str:
        """What the model is sent for a tool's return value: a string as it is,
        anything else as JSON (pydantic models and dataclasses included)."""
        if isinstance(value, str):
            return value
        try:
            return pydantic_core.to_json(value).decode()
        except pydantic_core.PydanticSerializationError:
            return str(value)

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"


@overload
def tool(function: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    requires_approval: bool = False,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    function: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    requires_approval: bool = False,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """A decorator: `@tool` or `@tool(requires_approval=True)` makes a Tool."""
    if function is not None:
        return Tool(function)

    def make(function: Callable[..., Any]) -> Tool:
        return Tool(
            function, name=name, description=description, requires_approval=requires_approval
        )

    return make
