"""The outbox relay's LISTEN connection: refused LISTENs must not leak pool connections.

Found by the disaster-recovery experiment (chaos/local/postgres-data-destroyed.json): while the
restored PostgreSQL replayed WAL as a hot standby, LISTEN failed on every relay pass and each
pass kept its connection, until the gateway's pool was empty and it never became ready again.
"""

from __future__ import annotations

from typing import Any, cast

import asyncpg
import pytest

from reference_services.gateway.relay import OutboxRelay

pytestmark = pytest.mark.unit


class _Conn:
    def __init__(self, refuse: bool) -> None:
        self.refuse = refuse

    def is_closed(self) -> bool:
        return False

    async def add_listener(self, channel: str, callback: Any) -> None:
        if self.refuse:
            raise asyncpg.exceptions.FeatureNotSupportedError(
                "cannot execute LISTEN during recovery"
            )


class _Pool:
    def __init__(self, refuse: bool) -> None:
        self.refuse = refuse
        self.out = 0

    async def acquire(self) -> _Conn:
        self.out += 1
        return _Conn(self.refuse)

    async def release(self, conn: _Conn, timeout: float | None = None) -> None:
        self.out -= 1


def _relay(pool: _Pool) -> OutboxRelay:
    return OutboxRelay(cast(asyncpg.Pool, pool), messaging=cast(Any, None), poll_s=1, batch=10)


async def test_a_refused_listen_gives_its_connection_back() -> None:
    pool = _Pool(refuse=True)
    relay = _relay(pool)
    for _ in range(20):  # twenty relay passes against a hot standby
        await relay._listen()
    assert pool.out == 0, f"{pool.out} connections kept by refused LISTENs (the pool leaks dry)"
    assert relay._listener is None


async def test_a_working_listen_keeps_one_connection() -> None:
    pool = _Pool(refuse=False)
    relay = _relay(pool)
    for _ in range(5):
        await relay._listen()
    assert pool.out == 1, "the listener should hold exactly one connection, reused every pass"
