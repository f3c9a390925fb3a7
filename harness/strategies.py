"""Hypothesis strategies that generate documents from the ALT_LAS JSON Schemas.

Covers the subset of JSON Schema 2020-12 that our schemas use (objects, arrays with
`prefixItems`, enums and consts, strings with length/pattern/format, numbers with bounds,
`$ref` into `$defs`, type unions and `if`/`then`/`else`). Anything the generator cannot honour
exactly (conditionals) is filtered through the validator, so every value it yields is valid.
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from harness import schemas

JSON = Any
Strategy = st.SearchStrategy[JSON]

# Turkish and English letters, digits and punctuation: the text our users type.
TEXT_ALPHABET = string.ascii_letters + string.digits + " .,;:!?'-" + "çğıöşüÇĞİÖŞÜ"


def _uuid() -> Strategy:
    return st.uuids().map(str)


def _datetime() -> Strategy:
    return st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ).map(lambda d: d.isoformat(timespec="milliseconds").replace("+00:00", "Z"))


FORMATS: dict[str, Callable[[], Strategy]] = {"uuid": _uuid, "date-time": _datetime}


class _Builder:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root

    def _deref(self, ref: str) -> dict[str, Any]:
        if ref.startswith("#/"):
            node: Any = self.root
            for part in ref[2:].split("/"):
                node = node[part]
            return dict(node)
        kind = ref.rsplit("/", 1)[-1].removesuffix(".schema.json")
        return schemas.document_schema(kind)

    def build(self, schema: dict[str, Any]) -> Strategy:
        if "$ref" in schema:
            target = self._deref(schema["$ref"])
            return _Builder(target if not schema["$ref"].startswith("#") else self.root).build(
                target
            )
        if "const" in schema:
            return st.just(schema["const"])
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        types = schema.get("type")
        if isinstance(types, list):
            return st.one_of(*(self.build({**schema, "type": t}) for t in types))
        if types == "null":
            return st.none()
        if types == "boolean":
            return st.booleans()
        if types == "integer":
            return st.integers(schema.get("minimum", -(2**31)), schema.get("maximum", 2**31))
        if types == "number":
            return st.floats(
                schema.get("minimum", -1e9), schema.get("maximum", 1e9), allow_nan=False
            )
        if types == "string":
            return self._string(schema)
        if types == "array":
            return self._array(schema)
        if types == "object" or "properties" in schema:
            return self._object(schema)
        # Unconstrained (e.g. free-form `parameters`): small JSON values.
        return st.recursive(
            st.none()
            | st.booleans()
            | st.integers(-1000, 1000)
            | st.text(TEXT_ALPHABET, max_size=10),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(
                    st.text(string.ascii_lowercase, min_size=1, max_size=8), inner, max_size=3
                )
            ),
            max_leaves=5,
        )

    def _string(self, schema: dict[str, Any]) -> Strategy:
        if schema.get("format") in FORMATS:
            return FORMATS[schema["format"]]()
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True)
        return st.text(
            TEXT_ALPHABET,
            min_size=schema.get("minLength", 0),
            max_size=min(schema.get("maxLength", 40), 40),
        ).filter(lambda s: len(s) >= schema.get("minLength", 0))

    def _array(self, schema: dict[str, Any]) -> Strategy:
        if "prefixItems" in schema:
            return st.tuples(*(self.build(s) for s in schema["prefixItems"])).map(list)
        items = self.build(schema.get("items", {}))
        return st.lists(
            items,
            min_size=schema.get("minItems", 0),
            max_size=min(schema.get("maxItems", 5), 5),
            unique_by=(lambda v: json.dumps(v, sort_keys=True))
            if schema.get("uniqueItems")
            else None,
        )

    def _object(self, schema: dict[str, Any]) -> Strategy:
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        fixed = {k: self.build(v) for k, v in props.items() if k in required}
        optional = {k: self.build(v) for k, v in props.items() if k not in required}
        base = st.fixed_dictionaries(fixed, optional=optional)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            names = schema.get("propertyNames", {"type": "string", "minLength": 1})
            keys = self._string({"maxLength": 10, **names})
            lo = schema.get("minProperties", 0)
            more = st.dictionaries(keys, self.build(extra), min_size=lo, max_size=max(lo, 4))
            base = st.tuples(base, more).map(lambda pair: {**pair[1], **pair[0]})
        return base


def documents(kind: str) -> Strategy:
    """Valid documents of `kind` (`alt`, `last`, `atlas`), generated from their JSON Schema."""
    schema = schemas.document_schema(kind)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return _Builder(schema).build(schema).filter(validator.is_valid)
