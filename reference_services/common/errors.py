"""The services' base exception and the errors every service can raise."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base of every error a reference service raises on purpose."""


class SchemaViolation(ServiceError):
    """A document or event does not match its JSON Schema."""

    def __init__(self, kind: str, errors: list[dict[str, Any]]) -> None:
        self.kind = kind
        self.errors = errors
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [f"{e['path'] or '(root)'}: {e['message']}" for e in self.errors[:5]]
        more = f" (+{len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        return f"invalid {self.kind}: " + "; ".join(parts) + more


class TransientError(ServiceError):
    """A failure worth retrying later (a dependency is down or slow).

    `retry_after_s`, when known (a circuit breaker knows when it will probe again), becomes the
    HTTP Retry-After header; otherwise clients are told to retry after a second.
    """

    def __init__(self, *args: object, retry_after_s: float | None = None) -> None:
        super().__init__(*args)
        self.retry_after_s = retry_after_s


class PermanentError(ServiceError):
    """A message that can never be handled (retrying will not help): it goes to the DLQ."""


class NotFound(ServiceError):
    """The thing asked for does not exist."""

    def __init__(self, what: str, ident: str) -> None:
        self.what = what
        self.ident = ident
        super().__init__(f"{what} {ident!r} not found")
