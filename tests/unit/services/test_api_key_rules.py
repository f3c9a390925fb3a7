"""API keys and the secret store's document, without a database: key format, role ceiling,
the secret's required fields."""

from __future__ import annotations

import pytest

from reference_services.gateway.apikeys import ApiKeys
from reference_services.gateway.auth import AuthError, Principal
from reference_services.gateway.secrets_store import GatewaySecrets, SecretStoreError


class Pool:
    def __init__(self) -> None:
        self.rows: list[tuple[object, ...]] = []

    async def fetchrow(self, sql: str, *args: object) -> dict[str, object]:
        self.rows.append(args)
        return {"id": args[0], "prefix": args[1], "roles": args[5]}


@pytest.mark.parametrize(
    "key",
    ["", "altlas", "altlas_short_x", "other_0123456789ab_" + "x" * 40, "altlas_0123456789ab_short"],
)
def test_a_malformed_key_is_refused_before_any_lookup(key: str) -> None:
    with pytest.raises(AuthError, match="malformed"):
        ApiKeys("p" * 16)._split(key)


async def test_a_key_is_stored_only_as_its_hash_and_never_above_its_owner() -> None:
    keys, pool = ApiKeys("pepper-of-sixteen"), Pool()
    owner = Principal("ayşe", ("user", "viewer"))
    new = await keys.create(
        pool, owner, name="n", roles=("viewer",), routes=None, expires_in_s=None
    )
    _, prefix, stored, *_ = pool.rows[0]
    assert new.key.startswith(f"altlas_{prefix}_") and new.key not in str(pool.rows)
    assert stored == keys._hash(new.key) and stored != ApiKeys("another-pepper!!")._hash(new.key)
    assert ApiKeys._split(new.key) == prefix
    with pytest.raises(PermissionError, match="admin"):
        await keys.create(pool, owner, name="n", roles=("admin",), routes=None, expires_in_s=None)
    with pytest.raises(ValueError, match="16"):
        ApiKeys("short")


def test_the_secret_needs_a_key_and_reads_previous_keys() -> None:
    with pytest.raises(SecretStoreError, match="jwt_private_key"):
        GatewaySecrets.from_secret({"jwt_key_id": "k"})
    found = GatewaySecrets.from_secret(
        {
            "jwt_private_key": "PEM",
            "jwt_key_id": "k2",
            "api_key_pepper": "p" * 16,
            "jwt_previous_keys": '[{"kid": "k1", "public_key": "PUB"}]',
        },
        version=3,
    )
    assert [(k.kid, k.public_pem) for k in found.previous_keys] == [("k1", "PUB")]
    assert found.api_key_pepper == "p" * 16 and found.version == 3
    with pytest.raises(SecretStoreError, match="api_key_pepper"):
        GatewaySecrets.from_secret({"jwt_private_key": "PEM", "jwt_key_id": "k"})
    with pytest.raises(SecretStoreError, match="jwt_previous_keys"):
        GatewaySecrets.from_secret(
            {
                "jwt_private_key": "PEM",
                "jwt_key_id": "k",
                "api_key_pepper": "p" * 16,
                "jwt_previous_keys": "[1]",
            }
        )
