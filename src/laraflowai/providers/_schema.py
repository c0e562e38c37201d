"""What each provider's constrained decoding accepts of a JSON schema.

OpenAI's strict mode: https://platform.openai.com/docs/guides/structured-outputs#supported-schemas
Anthropic's JSON outputs: https://docs.claude.com/en/docs/build-with-claude/structured-outputs
"""

from __future__ import annotations

from typing import Any

from .._exceptions import ConfigurationError

__all__ = ["anthropic_schema", "openai_strict"]

# Keywords OpenAI's strict mode documents; a schema using any other one is sent
# without `strict` (the model is still shown the schema).
_OPENAI_KEYWORDS = frozenset(
    (
        "type", "properties", "required", "additionalProperties", "items", "enum", "const",
        "anyOf", "$ref", "$defs", "definitions", "description", "title", "format", "pattern",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
        "minLength", "maxLength", "minItems", "maxItems",
    )
)  # fmt: skip
# What Anthropic's JSON outputs leave out; moved into the description, where
# the model still reads them (the answer is validated against the full schema).
_ANTHROPIC_UNSUPPORTED = (
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
    "minLength", "maxLength", "maxItems", "uniqueItems", "minProperties", "maxProperties",
)  # fmt: skip
_ANTHROPIC_FORMATS = frozenset(
    (
        "date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6",
        "uuid",
    )
)  # fmt: skip


def openai_strict(schema: dict[str, Any]) -> bool:
    """True when `schema` already meets strict mode's rules: every object lists
    all its properties as required and allows no others, and only supported
    keywords appear. Nothing is rewritten: making an optional field required
    (and nullable) would change what a valid answer is."""
    return _strict(schema)


def _strict(node: Any) -> bool:
    if isinstance(node, list):
        return all(_strict(item) for item in node)
    if not isinstance(node, dict):
        return True
    if not _OPENAI_KEYWORDS.issuperset(node):
        return False
    if node.get("type") == "object" or "properties" in node:
        properties = node.get("properties", {})
        if node.get("additionalProperties") is not False:
            return False
        if not isinstance(properties, dict) or set(node.get("required", ())) != set(properties):
            return False
        if not all(_strict(value) for value in properties.values()):
            return False
    for key in ("items", "anyOf", "$defs", "definitions"):
        value = node.get(key)
        if isinstance(value, dict) and key in ("$defs", "definitions"):
            if not all(_strict(v) for v in value.values()):
                return False
        elif value is not None and not _strict(value):
            return False
    return True


def anthropic_schema(schema: dict[str, Any], name: str) -> dict[str, Any]:
    """A copy of `schema` that Anthropic's JSON outputs take: every object
    closed (`additionalProperties: false`), unsupported constraints moved into
    the description. An object that allows arbitrary keys cannot be expressed:
    ConfigurationError."""
    converted: dict[str, Any] = _anthropic(schema, f"output schema {name!r}")
    return converted


def _anthropic(node: Any, path: str) -> Any:
    if isinstance(node, list):
        return [_anthropic(item, f"{path}[{i}]") for i, item in enumerate(node)]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    moved: list[str] = []
    for key, value in node.items():
        if (
            key in _ANTHROPIC_UNSUPPORTED
            or (key == "minItems" and value not in (0, 1))
            or (key == "format" and value not in _ANTHROPIC_FORMATS)
        ):
            moved.append(f"{key}: {value}")
        elif key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {k: _anthropic(v, f"{path}.{k}") for k, v in value.items()}
        else:
            out[key] = _anthropic(value, path)
    if node.get("type") == "object" or "properties" in node:
        extra = node.get("additionalProperties", False)
        if extra is not False:
            raise ConfigurationError(
                f"Anthropic's structured output cannot express {path}: an object must list "
                "its properties and allow no others (additionalProperties false); use a "
                "list of key/value objects, or a model with named fields"
            )
        out["additionalProperties"] = False
    if moved:
        note = "(" + ", ".join(moved) + ")"
        out["description"] = f"{out['description']} {note}" if "description" in out else note
    return out
