"""A certificate authority of the harness's own and the server certificates it signs.

The local stack's NATS serves TLS on client and route connections with a certificate from this
CA; clients trust the CA's file, nothing else (`harness/stack/local.py`, `harness.k8s.secrets`).
Keys are EC P-256; the files are written 0600 under the state directory and never committed.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 825  # the longest a server certificate may live for most TLS clients
NO_USAGE = dict.fromkeys(
    (
        "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
        "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only",
    ),
    False,
)  # fmt: skip


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # the CA certificate clients trust
    cert: Path  # the server's certificate (also its client certificate on routes)
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ALT_LAS verification harness"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_ca(common_name: str = "ALT_LAS harness CA") -> tuple[bytes, bytes]:
    """A new CA: (certificate PEM, key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                **{**NO_USAGE, "digital_signature": True, "key_cert_sign": True, "crl_sign": True}
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


def sign_server(ca_pem: bytes, ca_key_pem: bytes, hosts: list[str]) -> tuple[bytes, bytes]:
    """A certificate for `hosts` (DNS names or IP addresses) signed by the CA, usable by a
    server and, on cluster routes, as the client side too: (certificate PEM, key PEM)."""
    if not hosts:
        raise ValueError("a server certificate needs at least one host name")
    ca = x509.load_pem_x509_certificate(ca_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key is not an EC key")
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


def ensure_server_tls(folder: Path, hosts: list[str]) -> TlsFiles:
    """The CA and a server certificate for `hosts` in `folder`: made once, then reused (the
    CA's key stays there too, so a later certificate chains to the same CA)."""
    files = TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server-key.pem")
    ca_key = folder / "ca-key.pem"
    if not (files.ca.exists() and ca_key.exists()):
        ca_pem, key_pem = make_ca()
        write_private(files.ca, ca_pem)
        write_private(ca_key, key_pem)
        files.cert.unlink(missing_ok=True)
    if not files.cert.exists() or not files.key.exists():
        cert, key = sign_server(files.ca.read_bytes(), ca_key.read_bytes(), hosts)
        write_private(files.key, key)
        write_private(files.cert, cert)
    return files
