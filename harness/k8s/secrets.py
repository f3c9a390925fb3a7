"""The inputs of the base's `altlas-secrets` generator, written where they are missing.

Nothing secret is committed: each machine (a developer's, CI's, the kind target) generates its
own. Passwords are hex, so they go into a database URL unescaped; the JWT key is the RSA key the
gateway insists on.
"""

from __future__ import annotations

import argparse
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from harness.infra.tls import make_ca, sign_server, write_private

DEFAULT_DIR = Path("deploy/kubernetes/base/secrets")
PASSWORDS = (
    "postgres-password",
    "gateway-db-password",
    "runner-db-password",
    "archive-db-password",
)
JWT_KEY = "jwt-private-key"
# One NATS password per user of deploy/kubernetes/base/files/nats-accounts.conf.
NATS_USERS = ("gateway", "segmentation", "runner", "archive", "admin", "sys")
# The NATS server's certificate and its CA: the Service's names, each pod's route name, and
# loopback (the harness reaches NATS through a port-forward).
NATS_TLS = ("nats-ca.crt", "nats-tls.crt", "nats-tls.key")
NATS_HOSTS = [
    "nats",
    "nats.altlas",
    "nats.altlas.svc",
    "nats.altlas.svc.cluster.local",
    "*.nats-headless",
    "*.nats-headless.altlas",
    "*.nats-headless.altlas.svc",
    "*.nats-headless.altlas.svc.cluster.local",
    "localhost",
    "127.0.0.1",
]


def nats_password_file(user: str) -> str:
    return f"nats-{user}-password"


def _rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def ensure_secrets(folder: Path = DEFAULT_DIR) -> list[str]:
    """Write every missing secret file (mode 0600); returns the names written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in (*PASSWORDS, *(nats_password_file(u) for u in NATS_USERS), JWT_KEY):
        path = folder / name
        if path.exists() and path.stat().st_size > 0:
            continue
        value = _rsa_pem() if name == JWT_KEY else secrets.token_hex(24)
        path.touch(mode=0o600)
        path.write_text(value)
        written.append(name)
    if not all((folder / name).exists() for name in NATS_TLS):
        ca, ca_key = make_ca("ALT_LAS NATS CA")
        cert, key = sign_server(ca, ca_key, NATS_HOSTS)
        for name, data in zip(NATS_TLS, (ca, cert, key), strict=True):
            write_private(folder / name, data)
        written += list(NATS_TLS)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    written = ensure_secrets(args.folder)
    print(f"{args.folder}: wrote {', '.join(written)}" if written else f"{args.folder}: complete")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
