"""The public API's changelog and its deprecation policy, in one place.

The gateway's OpenAPI version is the newest entry's; the portal (`portal.py`) prints the
changelog and the policy; a deprecated route answers with `Deprecation` (RFC 9745), `Sunset`
(RFC 8594) and `Link` headers naming its successor, and with 410 Gone after its sunset.

Policy: a route of `/api/v1` is never changed incompatibly. A route to be removed is marked
deprecated for at least 180 days before its sunset: from its deprecation date it carries the
headers and is flagged `deprecated` in the OpenAPI document; after the sunset it answers 410.
Additions (new routes, new optional fields, new response headers) come in minor versions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

MIN_NOTICE = timedelta(days=180)


@dataclass(frozen=True)
class Change:
    version: str
    date: str  # ISO date
    items: tuple[str, ...]


CHANGELOG: tuple[Change, ...] = (
    Change(
        "1.4.0",
        "2026-12-02",
        (
            "API documentation portal at /portal (the four services' OpenAPI documents, "
            "examples, try it, the error catalogue, this changelog).",
            "POST /api/v1/auth/token (OAuth 2.0 password grant, form-encoded) kept for older "
            "clients and deprecated on arrival: use POST /api/v1/auth/login or an OpenID "
            "provider's token. Sunset 2027-06-30.",
        ),
    ),
    Change(
        "1.3.0",
        "2026-12-02",
        (
            "Rate limits shared by every replica; RateLimit-Limit, RateLimit-Remaining and "
            "RateLimit-Reset on limited routes.",
            "ETag and Cache-Control on a command's status and on archive reads; If-None-Match "
            "answers 304.",
            "W3C traceparent accepted and returned on every request.",
        ),
    ),
    Change(
        "1.2.0",
        "2026-12-02",
        (
            "API keys: POST/GET /api/v1/api-keys, DELETE /api/v1/api-keys/{key_id}, "
            "POST /api/v1/api-keys/{key_id}/rotate; X-API-Key or Authorization: ApiKey.",
            "Access tokens of a configured OpenID Connect provider are accepted.",
        ),
    ),
    Change(
        "1.1.0",
        "2026-12-02",
        (
            "Refresh tokens rotate on each use; POST /api/v1/auth/logout ends a session.",
            "Failed logins are throttled per username (429 with Retry-After).",
        ),
    ),
    Change(
        "1.0.0",
        "2026-11-26",
        (
            "Commands (POST /api/v1/commands with Idempotency-Key, GET /api/v1/commands/{id}), "
            "their documents, archive search and reads, login.",
        ),
    ),
)

API_VERSION = CHANGELOG[0].version


@dataclass(frozen=True)
class Deprecation:
    since: datetime
    sunset: datetime
    successor: str  # the route to use instead

    def __post_init__(self) -> None:
        if self.sunset - self.since < MIN_NOTICE:
            raise ValueError(f"a sunset needs at least {MIN_NOTICE.days} days of notice")

    def headers(self) -> dict[str, str]:
        return {
            "Deprecation": f"@{int(self.since.timestamp())}",
            "Sunset": format_datetime(self.sunset, usegmt=True),
            "Link": (
                f'<{self.successor}>; rel="successor-version", '
                '</portal#changelog>; rel="deprecation"'
            ),
        }

    def gone(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> bool:
        return clock() >= self.sunset


PASSWORD_GRANT = Deprecation(
    since=datetime(2026, 12, 2, tzinfo=UTC),
    sunset=datetime(2027, 6, 30, tzinfo=UTC),
    successor="/api/v1/auth/login",
)
