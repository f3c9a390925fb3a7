"""Login sessions as refresh-token families (table `refresh_tokens`, migration 0003).

A login starts a family. A refresh token is good for one refresh: `rotate` marks it used and
records its successor in the same transaction. A refresh token presented again after that was
copied (or raced): the whole family is revoked, so neither copy keeps the session (RFC 9700
§4.14.2). `end` (logout) revokes the family. Rows past their expiry are pruned.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from reference_services.gateway.auth import AuthError

START_SQL = "INSERT INTO refresh_tokens (jti, family, username, expires_at) VALUES ($1, $2, $3, $4)"
USE_SQL = (
    "UPDATE refresh_tokens SET used_at = now() WHERE jti = $1 AND used_at IS NULL"
    " AND revoked_at IS NULL AND expires_at > now() RETURNING family, username"
)
FIND_SQL = "SELECT family, used_at, revoked_at FROM refresh_tokens WHERE jti = $1"
REVOKE_SQL = "UPDATE refresh_tokens SET revoked_at = now() WHERE family = $1 AND revoked_at IS NULL"
PRUNE_SQL = (
    "DELETE FROM refresh_tokens WHERE jti = ANY(ARRAY("
    "SELECT jti FROM refresh_tokens WHERE expires_at < now() LIMIT $1))"
)


@dataclass(frozen=True)
class Issued:
    """The ids of a refresh token about to be handed out, and when it expires."""

    token_id: str
    session: str
    expires_at: datetime


class Sessions:
    def __init__(self, refresh_ttl_s: int) -> None:
        self.refresh_ttl_s = refresh_ttl_s

    def _next(self, session: str) -> Issued:
        expires = datetime.now(UTC) + timedelta(seconds=self.refresh_ttl_s)
        return Issued(str(uuid.uuid4()), session, expires)

    async def start(self, pool: Any, username: str) -> Issued:
        """A new session for `username` and its first refresh token's ids."""
        issued = self._next(str(uuid.uuid4()))
        await pool.execute(START_SQL, issued.token_id, issued.session, username, issued.expires_at)
        return issued

    async def rotate(self, pool: Any, token_id: str, username: str) -> Issued:
        """Spend refresh token `token_id`; the ids of its successor. AuthError when it was
        spent, revoked or expired before — and a spent one revokes its whole session."""
        reused: str | None = None
        async with pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(USE_SQL, token_id)
            if row is not None:
                if row["username"] != username:  # a signed token disagreeing with its row
                    raise AuthError("refresh token does not belong to its subject")
                issued = self._next(str(row["family"]))
                await conn.execute(
                    START_SQL, issued.token_id, issued.session, username, issued.expires_at
                )
                return issued
            found = await conn.fetchrow(FIND_SQL, token_id)
            if found is None:
                raise AuthError("unknown refresh token: log in again")
            if found["revoked_at"] is not None:
                raise AuthError("refresh token revoked (logged out or reused): log in again")
            if found["used_at"] is not None:
                reused = str(found["family"])
                await conn.execute(REVOKE_SQL, found["family"])
        if reused is not None:
            raise AuthError("refresh token already used: the session is revoked, log in again")
        raise AuthError("refresh token expired: log in again")

    async def end(self, pool: Any, token_id: str) -> bool:
        """Revoke the session of refresh token `token_id`; False when no such token exists."""
        async with pool.acquire() as conn, conn.transaction():
            found = await conn.fetchrow(FIND_SQL, token_id)
            if found is None:
                return False
            await conn.execute(REVOKE_SQL, found["family"])
        return True

    async def prune(self, pool: Any, batch: int = 5000) -> int:
        """Delete expired refresh tokens in batches; how many."""
        total = 0
        while True:
            status = await pool.execute(PRUNE_SQL, batch)
            deleted = int(status.rsplit(" ", 1)[-1])
            total += deleted
            if deleted < batch:
                return total
