"""Idempotency-Key decisions: the request fingerprint and the same-request check.

Pure decision logic, kept apart from `commands` (which owns the PostgreSQL side) so it can be
tested and mutation-tested without a database. A repeated key with the same body returns the
stored command; with a different body it is a conflict, never a silent second command.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, TypeVar

from reference_services.common.errors import ServiceError

__all__ = ["IdempotencyConflict", "check_same", "request_hash"]

Row = TypeVar("Row", bound=Mapping[str, Any])


class IdempotencyConflict(ServiceError):
    """The Idempotency-Key was used before with a different request body."""


def request_hash(body: Mapping[str, Any]) -> str:
    """SHA-256 hex digest of the body as canonical JSON (sorted keys, UTF-8, no escaping).

    Stored next to the command, so it must never change for the same body: a changed encoding
    would turn every retry of a command accepted before an upgrade into a conflict.
    """
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_same(row: Row, digest: str) -> Row:
    """`row` (the command stored under the key) if it was made from the same body, else raise."""
    if row["request_hash"] != digest:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used with a different request body"
        )
    return row
