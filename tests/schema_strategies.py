"""Hypothesis strategies from the JSON Schemas of our OpenAPI document (the subset it uses: types,
enum, required, properties, additionalProperties, lengths, patterns, bounds, item counts).

Generated values match their schema; the schema-driven test mixes them with arbitrary JSON to break it.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st


def _string(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    if "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True)
    return st.text(min_size=schema.get("minLength", 0), max_size=schema.get("maxLength", 40))


def _number(schema: dict[str, Any], integer: bool) -> st.SearchStrategy[Any]:
    low, high = schema.get("minimum"), schema.get("maximum")
    if integer:
        return st.integers(min_value=low, max_value=high)
    return st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False)


def _object(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    fixed = {name: from_schema(sub) for name, sub in properties.items() if name in required}
    optional = {name: from_schema(sub) for name, sub in properties.items() if name not in required}
    strategy = st.fixed_dictionaries(fixed, optional=optional)
    extra = schema.get("additionalProperties", True)
    if extra is False or not isinstance(extra, dict):
        return strategy
    more = st.dictionaries(st.text(max_size=10).filter(lambda k: k not in properties), from_schema(extra), max_size=3)
    return st.tuples(strategy, more).map(lambda parts: {**parts[1], **parts[0]})


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kinds = schema.get("type")
    if isinstance(kinds, list):
        return st.one_of(*(from_schema({**schema, "type": kind}) for kind in kinds))
    if kinds == "object":
        return _object(schema)
    if kinds == "array":
        items = from_schema(schema.get("items", {}))
        size = {"min_size": schema.get("minItems", 0), "max_size": schema.get("maxItems", 5)}
        return st.lists(items, unique=bool(schema.get("uniqueItems")), **size)
    if kinds == "string":
        return _string(schema)
    if kinds in ("integer", "number"):
        return _number(schema, kinds == "integer")
    if kinds == "boolean":
        return st.booleans()
    if kinds == "null":
        return st.none()
    raise ValueError(f"no strategy for schema {schema!r}")
