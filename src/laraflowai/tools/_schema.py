"""A Python function's tool description: its JSON schema from the type hints,
its descriptions from the docstring, and a validator for the model's arguments.

pydantic builds the schema and validates (a model of the parameters); the
docstring's parameter descriptions are read from Google style (`Args:`),
Sphinx style (`:param x:`) and NumPy style (`Parameters` / `----------`).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any, get_type_hints

import pydantic

from .._exceptions import ConfigurationError

__all__ = ["Signature", "describe"]

_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Params)\s*:?\s*$")
_OTHER_SECTION = re.compile(
    r"^\s*(Returns?|Raises|Yields?|Examples?|Notes?|See Also|Attributes)\s*:?\s*$"
)
_SPHINX = re.compile(r"^\s*:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")
_GOOGLE = re.compile(r"^\s*\*{0,2}(\w+)(?:\s*\([^)]*\))?\s*:\s*(.*)$")
_NUMPY = re.compile(r"^\s*(\w+)\s*(?::\s*[^\n]*)?$")


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
    """The summary (text before any section) and each parameter's description."""
    lines = doc.splitlines()
    summary: list[str] = []
    params: dict[str, str] = {}
    current: str | None = None
    in_params = False
    numpy = False
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        sphinx = _SPHINX.match(line)
        if sphinx:
            current = sphinx.group(1)
            params[current] = sphinx.group(2).strip()
            in_params = True
            continue
        if _SECTION.match(line):
            in_params = True
            current = None
            numpy = index < len(lines) and set(lines[index].strip()) == {"-"}
            if numpy:
                index += 1
            continue
        if _OTHER_SECTION.match(line) or line.strip().startswith(":return"):
            in_params = False
            current = None
            if index < len(lines) and set(lines[index].strip()) == {"-"}:
                index += 1
            continue
        if not in_params:
            if not params:
                summary.append(line)
            continue
        if not line.strip():
            current = None if not numpy else current
            continue
        indent = len(line) - len(line.lstrip())
        if numpy and indent == 0:
            match = _NUMPY.match(line)
            if match:
                current = match.group(1)
                params[current] = ""
                continue
        if not numpy:
            match = _GOOGLE.match(line)
            if match and (current is None or indent <= _indent_of(lines, current)):
                current = match.group(1)
                params[current] = match.group(2).strip()
                continue
        if current is not None:
            params[current] = f"{params[current]} {line.strip()}".strip()
    return "\n".join(summary).strip(), {k: v for k, v in params.items() if v}


def _indent_of(lines: list[str], name: str) -> int:
    for line in lines:
        stripped = line.lstrip()
        if stripped.startswith((f"{name}:", f"{name} (")):
            return len(line) - len(stripped)
    return 0
