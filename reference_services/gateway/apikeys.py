"""API keys: create, list, revoke, rotate; verify one presented as `ApiKey …` or `X-API-Key`.

A key reads `altlas_<prefix>_<secret>`. Only the prefix (public: it finds the row and names the
key in lists and logs) and an HMAC-SHA256 of the whole key under the gateway's pepper
(`api_key_pepper`, from the secret store when one is configured) are stored: a copy of the
database does not give the keys, and without the pepper not even a guess can be checked. A key
acts for its owner with the roles it was given (at most the owner's) and, if `routes` is set,
only on routes whose path starts with one of them. Rotation issues a successor and lets the old
key live `overlap_s` more (so deployments can switch over), then it expires.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from reference_services.gateway.auth import AuthError, Principal

KEY_PREFIX = "altlas"
COLUMNS = (
    "id, prefix, owner, name, roles, routes, created_at, expires_at, revoked_at, last_used_at,"
    " replaced_by"
)
INSERT_SQL = (
    "INSERT INTO api_keys (id, prefix, secret_hash, owner, name, roles, routes, expires_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id, prefix, owner, name, roles, routes,"
    " created_at, expires_at, revoked_at, last_used_at, replaced_by"
)
BY_PREFIX_SQL = (
    "SELECT k.id, k.secret_hash, k.owner, k.roles, k.routes, k.expires_at, k.revoked_at,"
    " u.roles AS owner_roles FROM api_keys k JOIN users u ON u.username = k.owner"
    " WHERE k.prefix = $1"
)
# Built from the constant COLUMNS only (S608 sees an f-string, not input).
LIST_SQL = f"SELECT {COLUMNS} FROM api_keys WHERE owner = $1 ORDER BY created_at DESC"  # noqa: S608
LIST_ALL_SQL = f"SELECT {COLUMNS} FROM api_keys ORDER BY created_at DESC LIMIT 1000"  # noqa: S608
GET_SQL = f"SELECT {COLUMNS} FROM api_keys WHERE id = $1"  # noqa: S608
REVOKE_SQL = "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL"
RETIRE_SQL = (
    "UPDATE api_keys SET replaced_by = $2,"
    " expires_at = LEAST(COALESCE(expires_at, 'infinity'), now() + make_interval(secs => $3))"
    " WHERE id = $1"
)
TOUCH_SQL = "UPDATE api_keys SET last_used_at = now() WHERE id = $1"


@dataclass(frozen=True)
class NewKey:
    key: str  # shown once
    row: dict[str, Any]


def _under(path: str, route: str) -> bool:
    """`path` is `route` or below it (`/api/v1/archive` covers `/api/v1/archive/search`, not
    `/api/v1/archive-x`)."""
    base = route.rstrip("/")
    return path == base or path.startswith(base + "/")


class ApiKeys:
    def __init__(self, pepper: str) -> None:
        if len(pepper) < 16:
            raise ValueError("api_key_pepper must be at least 16 characters")
        self._pepper = pepper.encode()
        # When this process last recorded each key's use (last_used_at, to the minute).
        self._recent_touch: dict[str, datetime] = {}

    def _hash(self, key: str) -> str:
        return hmac.new(self._pepper, key.encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def _split(key: str) -> str:
        parts = key.split("_", 2)  # the secret may hold "_" itself
        if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 12 or len(parts[2]) < 32:
            raise AuthError("malformed API key")
        return parts[1]

    async def create(
        self,
        pool: Any,
        owner: Principal,
        *,
        name: str,
        roles: tuple[str, ...] | None,
        routes: list[str] | None,
        expires_in_s: int | None,
    ) -> NewKey:
        granted = tuple(roles) if roles else owner.roles
        beyond = [r for r in granted if r not in owner.roles]
        if beyond:
            raise PermissionError(f"a key cannot have roles its owner lacks: {beyond}")
        prefix = secrets.token_hex(6)
        key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
        expires = datetime.now(UTC) + timedelta(seconds=expires_in_s) if expires_in_s else None
        row = await pool.fetchrow(
            INSERT_SQL, uuid.uuid4(), prefix, self._hash(key), owner.username, name,
            list(granted), routes, expires,
        )  # fmt: skip
        return NewKey(key, dict(row))

    async def verify(self, pool: Any, key: str, path: str) -> Principal:
        prefix = self._split(key)
        row = await pool.fetchrow(BY_PREFIX_SQL, prefix)
        # Compare even when no row matched, so timing does not tell which prefixes exist.
        stored = row["secret_hash"] if row else self._hash("")
        if not hmac.compare_digest(stored, self._hash(key)) or row is None:
            raise AuthError("unknown API key")
        now = datetime.now(UTC)
        if row["revoked_at"] is not None:
            raise AuthError("API key revoked")
        if row["expires_at"] is not None and row["expires_at"] <= now:
            raise AuthError("API key expired")
        routes = row["routes"]
        if routes and not any(_under(path, r) for r in routes):
            raise PermissionError(f"this API key is limited to {list(routes)}")
        roles = tuple(r for r in row["roles"] if r in row["owner_roles"])
        last = self._recent_touch.get(prefix)
        if last is None or now - last > timedelta(minutes=1):  # last use, to the minute
            await pool.execute(TOUCH_SQL, row["id"])
            if len(self._recent_touch) > 100_000:
                self._recent_touch.clear()
            self._recent_touch[prefix] = now
        return Principal(row["owner"], roles, str(row["id"]), f"apikey:{prefix}")

    async def list(self, pool: Any, who: Principal) -> list[dict[str, Any]]:
        sql, args = (LIST_ALL_SQL, ()) if who.has_any(("admin",)) else (LIST_SQL, (who.username,))
        return [dict(r) for r in await pool.fetch(sql, *args)]

    async def _own(self, pool: Any, who: Principal, key_id: uuid.UUID) -> dict[str, Any] | None:
        row = await pool.fetchrow(GET_SQL, key_id)
        if row is None or (row["owner"] != who.username and not who.has_any(("admin",))):
            return None  # another's key answers like a missing one
        return dict(row)

    async def revoke(self, pool: Any, who: Principal, key_id: uuid.UUID) -> bool:
        if await self._own(pool, who, key_id) is None:
            return False
        await pool.execute(REVOKE_SQL, key_id)
        return True

    async def rotate(
        self, pool: Any, who: Principal, key_id: uuid.UUID, overlap_s: int
    ) -> NewKey | None:
        old = await self._own(pool, who, key_id)
        now = datetime.now(UTC)
        if (
            old is None
            or old["revoked_at"] is not None
            or old["replaced_by"] is not None
            or (old["expires_at"] is not None and old["expires_at"] <= now)
        ):
            return None  # only a live key that has no successor yet can be rotated
        owner = Principal(old["owner"], tuple(old["roles"]))
        remaining = (
            int((old["expires_at"] - datetime.now(UTC)).total_seconds())
            if old["expires_at"] is not None
            else None
        )
        new = await self.create(
            pool,
            owner,
            name=old["name"],
            roles=tuple(old["roles"]),
            routes=old["routes"],
            expires_in_s=remaining if remaining and remaining > 0 else None,
        )
        await pool.execute(RETIRE_SQL, key_id, new.row["id"], float(overlap_s))
        return new
