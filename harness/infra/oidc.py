"""A real OpenID provider on loopback: oidc-provider 9.13.2 (npm, OpenID Certified) under Node.

`make setup` installs it into .tools/oidc (from tools/oidc/package-lock.json). The local stack
starts it with its own RSA signing keys and one service account (client-credentials client) per
role; the gateway finds it by discovery and verifies its JWT access tokens (RFC 9068) against
its JWKS. The keys and clients live in `<root>/provider.json` (private: mode 0600), which
`rotate_keys` rewrites with a new signing key first and the old ones still published; a restart
of the component (`harness restart oidc`) then serves them — the gateway must follow without a
restart of its own.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

import httpx

from harness.infra._process import REPO_ROOT, ManagedProcess, ProcessRecord, free_port

INSTALL_DIR = REPO_ROOT / ".tools" / "oidc"
# The resource server the tokens are for (oidc-provider wants an absolute URI).
AUDIENCE = "urn:altlas:api"
# Scope per role; the gateway maps them back (ALTLAS_OIDC_ROLE_SCOPES).
ROLE_SCOPES = {"admin": "altlas.admin", "user": "altlas.user", "viewer": "altlas.viewer"}
ACCESS_TOKEN_TTL_S = 600


def provider_script() -> Path | None:
    """The installed provider's entry point, or None when `make setup` did not install it."""
    script = INSTALL_DIR / "provider.mjs"
    installed = (INSTALL_DIR / "node_modules" / "oidc-provider" / "package.json").exists()
    return script if installed and shutil.which("node") else None


def _rsa_jwk(kid: str) -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key))
    return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}


def _write_private(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def rotate_keys(config_path: Path, *, keep: int = 1) -> str:
    """Put a new signing key first in the provider's config, keeping the `keep` newest old keys
    published (the overlap: tokens they signed still verify). Returns the new key's id; takes
    effect when the provider restarts."""
    doc = json.loads(config_path.read_text())
    kid = f"idp-{secrets.token_hex(4)}"
    doc["jwks"]["keys"] = [_rsa_jwk(kid), *doc["jwks"]["keys"][:keep]]
    _write_private(config_path, doc)
    return kid


class OidcProvider:
    """oidc-provider on a free loopback port: issuer `http://127.0.0.1:<port>`."""

    def __init__(self, script: Path, root: Path, log_path: Path) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.config = root / "provider.json"
        self.clients = {
            role: {
                "client_id": f"altlas-{role}-service",
                "client_secret": secrets.token_urlsafe(32),
                "scope": scope,
            }
            for role, scope in ROLE_SCOPES.items()
        }
        self.process = ManagedProcess(
            "oidc",
            ["node", str(script), str(self.config)],
            log_path=log_path,
            env={"NODE_ENV": "production"},
            cwd=root,
        )

    async def start(self, timeout_s: float = 30.0) -> None:
        _write_private(
            self.config,
            {
                "issuer": self.issuer,
                "host": "127.0.0.1",
                "port": self.port,
                "audience": AUDIENCE,
                "access_token_ttl_s": ACCESS_TOKEN_TTL_S,
                "scopes": list(ROLE_SCOPES.values()),
                "jwks": {"keys": [_rsa_jwk(f"idp-{secrets.token_hex(4)}")]},
                "clients": list(self.clients.values()),
            },
        )
        self.process.start()

        async def _ready() -> bool:
            return await discoverable(self.issuer)

        await self.process.wait_ready(_ready, timeout_s, f"the OpenID provider at {self.issuer}")

    def credentials(self) -> dict[str, dict[str, str]]:
        """Per role, what a service account needs for the client-credentials grant."""
        return {
            f"oidc-{role}": {**c, "issuer": self.issuer, "audience": AUDIENCE}
            for role, c in self.clients.items()
        }

    async def stop(self) -> None:
        await self.process.stop()

    def record(self) -> ProcessRecord:
        return self.process.record(url=self.issuer, config=str(self.config))


async def discoverable(issuer: str) -> bool:
    """True when the issuer serves its discovery document, naming itself."""
    try:
        async with httpx.AsyncClient(timeout=3) as client:
            resp = await client.get(f"{issuer}/.well-known/openid-configuration")
    except httpx.HTTPError:
        return False
    return resp.status_code == 200 and resp.json().get("issuer") == issuer


async def client_credentials_token(
    cred: dict[str, str], scope: str | None = None
) -> httpx.Response:
    """The token endpoint's answer to a client-credentials request by the service account
    `cred` (an `oidc-<role>` entry of the stack's credentials)."""
    async with httpx.AsyncClient(timeout=10) as client:
        meta = (await client.get(f"{cred['issuer']}/.well-known/openid-configuration")).json()
        return await client.post(
            meta["token_endpoint"],
            data={"grant_type": "client_credentials", "scope": scope or cred["scope"]},
            auth=(cred["client_id"], cred["client_secret"]),
        )
