"""A Python function's tool description: its JSON schema from the type hints,
its descriptions from the docstring, and a validator for the model's arguments.

pydantic builds the schema and validates (a model of the parameters);
docstring-parser reads the descriptions (Google, Sphinx or NumPy style).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, get_type_hints

import pydantic

from .._exceptions import ConfigurationError

__all__ = ["Signature", "describe"]


class Signature:
    """What the model is told about a function, and how its arguments are checked."""

    __slots__ = ("description", "parameters", "_model", "_names")

    def __init__(self, description: str, model: type[pydantic.BaseModel]) -> None:
        self.description = description
        self._model = model
        self._names = tuple(model.model_fields)
        schema = model.model_json_schema()
        schema.pop("title", None)
        for field in schema.get("properties", {}).values():
            if isinstance(field, dict):
                field.pop("title", None)
        schema.setdefault("properties", {})
        self.parameters: dict[str, Any] = schema

    def arguments(self, given: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments for the function; pydantic.ValidationError if
        the model's arguments do not fit."""
        validated = self._model.model_validate(given)
        return {name: getattr(validated, name) for name in self._names}


def describe(function: Callable[..., Any], name: str) -> Signature:
    """The Signature of `function`; ConfigurationError if it cannot be a tool."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"tool {name!r}: cannot read the parameters of {function!r}; "
            "pass a plain function or method"
        ) from None
    try:
        hints = get_type_hints(function)
    except Exception as exc:  # a hint naming something not importable at runtime
        raise ConfigurationError(
            f"tool {name!r}: its type hints cannot be resolved ({exc}); "
            "import the types they name at module level"
        ) from None
    summary, documented = _docstring(inspect.getdoc(function) or "")
    fields: dict[str, Any] = {}
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise ConfigurationError(
                f"tool {name!r}: *{parameter.name} and **{parameter.name} cannot be described "
                "to a model; give every parameter a name (and a type hint)"
            )
        if parameter.kind is parameter.POSITIONAL_ONLY:
            raise ConfigurationError(
                f"tool {name!r}: the positional-only parameter {parameter.name!r} cannot be "
                "passed by name; remove the `/` from its signature"
            )
        annotation = hints.get(parameter.name, Any)
        default = ... if parameter.default is parameter.empty else parameter.default
        fields[parameter.name] = (
            annotation,
            pydantic.Field(default, description=documented.get(parameter.name)),
        )
    try:
        model = pydantic.create_model(
            f"{name}_arguments",
            __config__=pydantic.ConfigDict(extra="forbid"),
            **fields,
        )
        return Signature(summary, model)
    except (pydantic.PydanticSchemaGenerationError, pydantic.PydanticUserError, TypeError) as exc:
        raise ConfigurationError(
            f"tool {name!r}: its parameters cannot be described as JSON ({exc}); use JSON-like "
            "types (str, int, float, bool, lists, dicts, enums, dataclasses, pydantic models)"
        ) from None


def _docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The description (text before any section) and each parameter's description."""
    import docstring_parser

    try:
        parsed = docstring_parser.parse(doc)
    except docstring_parser.ParseError:
        return doc.strip(), {}
    summary = "\n\n".join(
        part for part in (parsed.short_description, parsed.long_description) if part
    )
    params = {
        param.arg_name: " ".join(param.description.split())
        for param in parsed.params
        if param.description
    }
    return summary, params
