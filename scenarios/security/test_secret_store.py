"""The gateway's secrets in a Vault-compatible store (OpenBao, started by the local stack): the
gateway has no key in its environment and reads it through AppRole; its role may read its own
secret and nothing else; a signing-key rotation written to the store reaches the running
gateway, and tokens of the old key stay valid while both keys are published."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from harness.clients.gateway import API, GatewayClient
from harness.infra import vault
from harness.polling import poll_until
from harness.security import forge
from harness.stack.state import StackState


@pytest.fixture(scope="module")
def store(stack: StackState) -> dict[str, Any]:
    if "vault" not in stack.credentials or "gateway" not in stack.processes:
        pytest.skip("the stack runs no secret store (local stack with OpenBao: make setup)")
    return {**stack.credentials["vault"], "gateway_env": stack.processes["gateway"].env}


async def test_the_gateway_reads_its_key_from_the_store(
    store: dict[str, Any], gateway: GatewayClient
) -> None:
    env = store["gateway_env"]
    assert "ALTLAS_JWT_PRIVATE_KEY" not in env and "ALTLAS_API_KEY_PEPPER" not in env, (
        "with a store, the gateway's environment holds no key"
    )
    secret = await asyncio.to_thread(vault.read_gateway_secret, store["addr"], store["root_token"])
    jwks = (await gateway.http.get("/.well-known/jwks.json")).json()
    assert jwks["keys"][0]["kid"] == secret["jwt_key_id"], (jwks, secret["jwt_key_id"])


def _as_gateway(store: dict[str, Any]) -> Any:
    import hvac

    client = hvac.Client(url=store["addr"], timeout=5)
    client.auth.approle.login(
        role_id=store["gateway_env"]["ALTLAS_VAULT_ROLE_ID"],
        secret_id=store["gateway_env"]["ALTLAS_VAULT_SECRET_ID"],
    )
    return client


async def test_the_gateway_role_reads_its_secret_and_nothing_else(store: dict[str, Any]) -> None:
    import hvac.exceptions

    client = await asyncio.to_thread(_as_gateway, store)
    own = client.secrets.kv.v2.read_secret_version(
        path=vault.GATEWAY_PATH, mount_point=vault.MOUNT, raise_on_deleted_version=True
    )
    assert own["data"]["data"]["jwt_key_id"], "the role reads the gateway's secret"
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.kv.v2.create_or_update_secret(
            path=vault.GATEWAY_PATH, mount_point=vault.MOUNT, secret={"jwt_key_id": "mine"}
        )
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.kv.v2.read_secret_version(
            path="altlas/other", mount_point=vault.MOUNT, raise_on_deleted_version=True
        )


async def test_a_rotation_in_the_store_keeps_old_tokens_valid(
    store: dict[str, Any], gateway: GatewayClient, stack: StackState
) -> None:
    cred = stack.credentials["viewer"]
    before = (await gateway.login(cred["username"], cred["password"])).json()["access_token"]
    old_kid = forge.parts(before)[0]["kid"]
    key_file = Path(stack.state_dir or ".harness") / "secrets" / "jwt.pem"
    new_kid = await asyncio.to_thread(
        vault.rotate_signing_key, store["addr"], store["root_token"], key_file
    )

    async def _both_published() -> bool:
        kids = [k["kid"] for k in (await gateway.http.get("/.well-known/jwks.json")).json()["keys"]]
        return kids == [new_kid, old_kid]

    await poll_until(_both_published, 30, "the gateway to publish the new key beside the old")
    headers = {"Authorization": f"Bearer {before}"}
    old = await gateway.http.get(f"{API}/archive/search", headers=headers)
    assert old.status_code == 200, f"a token of the old key, during the overlap: {old.text}"
    after = (await gateway.login(cred["username"], cred["password"])).json()["access_token"]
    assert forge.parts(after)[0]["kid"] == new_kid, "new tokens are signed with the new key"
    fresh = await gateway.http.get(
        f"{API}/archive/search", headers={"Authorization": f"Bearer {after}"}
    )
    assert fresh.status_code == 200, fresh.text
