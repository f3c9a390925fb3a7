"""The gateway's secrets from a Vault-compatible KV store (OpenBao, Vault), through AppRole.

With `vault_addr` set, the gateway logs in with its AppRole (`vault_role_id`,
`vault_secret_id`) and reads one KV v2 secret (`vault_kv_mount`/`vault_secret_path`) holding:

- `jwt_private_key` (PEM) and `jwt_key_id`: the key that signs its tokens;
- `jwt_previous_keys` (optional): a JSON list of `{"kid", "public_key"}` (PEM) — keys that no
  longer sign but whose tokens still verify (the rotation overlap), all listed in the JWKS;
- `api_key_pepper`: the HMAC key over stored API-key hashes.

It reads the secret at start-up (the service does not start without it) and again every
`vault_refresh_s`, so a rotation written to the store reaches every replica without a restart;
if a later read fails, the gateway keeps what it has and says so in its log. Without a store the
same facts come from the environment (ALTLAS_JWT_PRIVATE_KEY, …).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from reference_services.common.errors import ServiceError

log = logging.getLogger(__name__)


class SecretStoreError(ServiceError):
    """The store refused the login or the read, or the secret lacks a field."""


@dataclass(frozen=True)
class PreviousKey:
    kid: str
    public_pem: str


@dataclass(frozen=True)
class GatewaySecrets:
    jwt_private_key: str
    jwt_key_id: str
    api_key_pepper: str | None = None
    previous_keys: tuple[PreviousKey, ...] = field(default_factory=tuple)
    version: int | None = None

    @classmethod
    def from_secret(cls, data: dict[str, Any], version: int | None = None) -> GatewaySecrets:
        # The pepper too: derived from the signing key, it would change with each rotation and
        # replicas that re-read at different times would disagree about every API key.
        missing = [
            k for k in ("jwt_private_key", "jwt_key_id", "api_key_pepper") if not data.get(k)
        ]
        if missing:
            raise SecretStoreError(f"the gateway's secret lacks {missing}")
        raw_previous = data.get("jwt_previous_keys") or "[]"
        try:
            listed = json.loads(raw_previous) if isinstance(raw_previous, str) else raw_previous
            previous = tuple(PreviousKey(str(k["kid"]), str(k["public_key"])) for k in listed)
        except (ValueError, KeyError, TypeError) as exc:
            raise SecretStoreError(
                f"jwt_previous_keys is not a list of kid/public_key: {exc}"
            ) from None
        return cls(
            jwt_private_key=str(data["jwt_private_key"]),
            jwt_key_id=str(data["jwt_key_id"]),
            api_key_pepper=str(data["api_key_pepper"]) if data.get("api_key_pepper") else None,
            previous_keys=previous,
            version=version,
        )


class SecretStore:
    """One AppRole login and KV v2 reads (hvac is synchronous: call from a thread)."""

    def __init__(
        self,
        addr: str,
        role_id: str,
        secret_id: str,
        *,
        mount: str = "secret",
        path: str = "altlas/gateway",
        timeout_s: float = 5.0,
    ) -> None:
        self.addr = addr
        self.role_id = role_id
        self.secret_id = secret_id
        self.mount = mount
        self.path = path
        self.timeout_s = timeout_s
        self._client: Any = None

    def _login(self) -> Any:
        import hvac
        import hvac.exceptions

        client = hvac.Client(url=self.addr, timeout=self.timeout_s)
        try:
            client.auth.approle.login(role_id=self.role_id, secret_id=self.secret_id)
        except (hvac.exceptions.VaultError, OSError) as exc:
            raise SecretStoreError(f"AppRole login to {self.addr} failed: {exc}") from None
        return client

    def read(self) -> GatewaySecrets:
        import hvac.exceptions
        import requests

        for attempt in (1, 2):  # a second time with a fresh login if the token expired
            if self._client is None:
                self._client = self._login()
            try:
                answer = self._client.secrets.kv.v2.read_secret_version(
                    path=self.path, mount_point=self.mount, raise_on_deleted_version=True
                )
            except hvac.exceptions.Forbidden as exc:
                self._client = None
                if attempt == 2:
                    raise SecretStoreError(f"reading {self.mount}/{self.path}: {exc}") from None
                continue
            except (hvac.exceptions.VaultError, requests.RequestException) as exc:
                raise SecretStoreError(f"reading {self.mount}/{self.path}: {exc}") from None
            data = answer["data"]
            return GatewaySecrets.from_secret(data["data"], data["metadata"].get("version"))
        raise SecretStoreError("unreachable")  # pragma: no cover
