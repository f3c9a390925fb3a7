"""Idempotency-Key decisions: a stable request fingerprint and the same-request check."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference_services.common.errors import ServiceError
from reference_services.gateway import commands
from reference_services.gateway.idempotency import IdempotencyConflict, check_same, request_hash

BODY: dict[str, Any] = {
    "command": "İstanbul hava durumunu ara",
    "mode": "normal",
    "metadata": {"b": 1, "a": [1.5, None, True]},
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


def test_hash_is_pinned() -> None:
    # Stored with every command: a new encoding would turn retries of commands accepted before
    # an upgrade into conflicts. Change this value only together with a data migration.
    assert request_hash(BODY) == "4311c7b370f7fd63fb1439db6edf4acce8e065996a83fa3bfed17be7d1fa554b"
    assert request_hash({}) == hashlib.sha256(b"{}").hexdigest()


def test_hash_is_sha256_of_canonical_utf8_json() -> None:
    canonical = '{"command": "ı", "mode": "x"}'
    expected = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert request_hash({"mode": "x", "command": "ı"}) == expected, "sorted keys, no \\u escapes"


@given(body=st.dictionaries(st.text(), json_values, max_size=6))
def test_key_order_does_not_matter(body: dict[str, Any]) -> None:
    reordered = dict(reversed(list(body.items())))
    assert request_hash(reordered) == request_hash(body)


@given(a=st.dictionaries(st.text(), json_values), b=st.dictionaries(st.text(), json_values))
def test_different_bodies_hash_differently(a: dict[str, Any], b: dict[str, Any]) -> None:
    same_json = json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert (request_hash(a) == request_hash(b)) == same_json


def test_same_body_returns_the_stored_row() -> None:
    row = {"id": "c1", "request_hash": request_hash(BODY)}
    assert check_same(row, request_hash(dict(BODY))) is row


def test_different_body_is_a_conflict() -> None:
    row = {"id": "c1", "request_hash": request_hash(BODY)}
    message = "^this Idempotency-Key was already used with a different request body$"
    with pytest.raises(IdempotencyConflict, match=message):
        check_same(row, request_hash({**BODY, "mode": "chaos"}))
    assert issubclass(IdempotencyConflict, ServiceError)


def test_commands_keeps_its_names() -> None:
    assert commands.IdempotencyConflict is IdempotencyConflict
    assert commands.request_hash is request_hash
