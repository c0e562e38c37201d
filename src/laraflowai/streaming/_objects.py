"""Structured output: the shape an answer must have, its partial values while
it streams, and its validated value at the end.

pydantic describes the type (the schema each provider's JSON mode is given) and
validates the whole answer; pydantic-core's tolerant parser (jiter) reads the
JSON so far as it grows. A schema that is not an object (a list, a number) is
wrapped in one, as providers require, and unwrapped again here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .._exceptions import ConfigurationError, OutputValidationError
from ..providers import OutputSpec

if TYPE_CHECKING:
    import pydantic

__all__ = ["OutputType"]

_WRAPPED = "result"
_START = re.compile(r"[{\[]")
_FENCE_END = re.compile(r"\s*```\s*$")
_NAME = re.compile(r"[^A-Za-z0-9_-]")


class OutputType:
    """`output_type=Invoice`: what the provider is asked for and how the
    answer's text becomes a value."""

    __slots__ = ("type", "spec", "_adapter", "_wrapped")

    def __init__(self, output_type: Any) -> None:
        import pydantic

        try:
            adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(output_type)
            schema = adapter.json_schema()
        except (pydantic.PydanticSchemaGenerationError, pydantic.PydanticUserError, TypeError):
            raise ConfigurationError(
                f"output_type {output_type!r} cannot be described as JSON: use a pydantic "
                "model, a dataclass, a TypedDict or JSON-like types (list[...], dict[str, ...])"
            ) from None
        self.type = output_type
        self._adapter = adapter
        self._wrapped = schema.get("type") != "object"
        if self._wrapped:
            defs = schema.pop("$defs", None)
            schema = {"type": "object", "properties": {_WRAPPED: schema}, "required": [_WRAPPED]}
            if defs:
                schema["$defs"] = defs
        raw = getattr(output_type, "__name__", None) or "output"
        name = _NAME.sub("_", raw)[:64] or "output"
        self.spec = OutputSpec(name, schema)

    def partial(self, text: str) -> Any:
        """The value the JSON so far describes (None before it starts)."""
        import pydantic_core

        json = _json_part(text)
        if json is None:
            return None
        try:
            value = pydantic_core.from_json(json, allow_partial=True)
        except ValueError:
            return None
        if self._wrapped:
            return value.get(_WRAPPED) if isinstance(value, dict) else None
        return value

    def validate(self, text: str) -> Any:
        """The answer as an instance of the type; OutputValidationError if it is not one."""
        import pydantic
        import pydantic_core

        json = _json_part(text)
        if json is None:
            raise OutputValidationError(
                f"the answer holds no JSON value, so it is not a {self.spec.name}",
                content=text,
                errors=[],
            )
        try:
            if self._wrapped:
                value = pydantic_core.from_json(json)
                if not isinstance(value, dict) or _WRAPPED not in value:
                    raise ValueError(f"expected an object with a {_WRAPPED!r} field")
                return self._adapter.validate_python(value[_WRAPPED])
            return self._adapter.validate_json(json)
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors()
            )
            raise OutputValidationError(
                f"the answer is not a valid {self.spec.name}: {problems}",
                content=text,
                errors=exc.errors(include_url=False),  # type: ignore[arg-type]
            ) from None
        except ValueError as exc:
            raise OutputValidationError(
                f"the answer is not valid JSON for {self.spec.name}: {exc}",
                content=text,
                errors=[],
            ) from None


def _json_part(text: str) -> str | None:
    """The JSON in `text`, without a Markdown fence or words around it."""
    match = _START.search(text)
    if match is None:
        return None
    return _FENCE_END.sub("", text[match.start() :])
