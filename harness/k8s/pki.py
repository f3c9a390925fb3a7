"""Certificates and kubeconfigs of the local Kubernetes cluster (`harness.k8s.localcluster`).

One CA signs every serving and client certificate; a second key pair signs service-account
tokens, and a front-proxy CA lets the apiserver call aggregated APIs (metrics-server). Keys are
RSA 2048, certificates valid ten years: the cluster lives under `.harness/` and `harness down`
removes it. Made with `cryptography`, which the gateway already depends on.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 3650


@dataclass(frozen=True)
class Identity:
    """A certificate to issue: file stem, CN, O (the Kubernetes group), SANs, usage."""

    name: str
    cn: str
    org: str | None = None
    sans: tuple[str, ...] = ()  # "DNS:x" or "IP:1.2.3.4"
    server: bool = False


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)] if org else []
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _san(entry: str) -> x509.GeneralName:
    kind, _, value = entry.partition(":")
    if kind == "IP":
        return x509.IPAddress(ipaddress.ip_address(value))
    if kind == "DNS":
        return x509.DNSName(value)
    raise ValueError(f"a SAN is DNS:<name> or IP:<address>, not {entry!r}")


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        key_encipherment=True,
        key_cert_sign=ca,
        crl_sign=ca,
        content_commitment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )


class CertificateAuthority:
    def __init__(self, directory: Path, stem: str, cn: str) -> None:
        self.directory = directory
        self.cert_path = directory / f"{stem}.crt"
        self.key_path = directory / f"{stem}.key"
        if self.cert_path.exists() and self.key_path.exists():
            key = serialization.load_pem_private_key(self.key_path.read_bytes(), None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise TypeError(f"{self.key_path} is not an RSA private key")
            self.key = key
            self.cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
            return
        directory.mkdir(parents=True, exist_ok=True)
        self.key = _key()
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(_name(cn))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        _write_key(self.key_path, self.key)
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, who: Identity) -> tuple[Path, Path]:
        """Write `<name>.crt` and `<name>.key` (kept if already there); return both paths."""
        crt, key_path = self.directory / f"{who.name}.crt", self.directory / f"{who.name}.key"
        if crt.exists() and key_path.exists():
            return crt, key_path
        key = _key()
        now = dt.datetime.now(dt.UTC)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if who.server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(who.cn, who.org))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if who.sans:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([_san(s) for s in who.sans]), critical=False
            )
        cert = builder.sign(self.key, hashes.SHA256())
        _write_key(key_path, key)
        crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return crt, key_path


def service_account_keys(directory: Path) -> tuple[Path, Path]:
    """The key pair that signs service-account tokens: (private, public)."""
    private, public = directory / "sa.key", directory / "sa.pub"
    if not (private.exists() and public.exists()):
        key = _key()
        _write_key(private, key)
        public.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return private, public


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(
    path: Path, server: str, ca: Path, cert: Path, key: Path, *, cluster: str, user: str
) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": cluster, "cluster": {"server": server, "certificate-authority-data": _b64(ca)}}
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate-data": _b64(cert), "client-key-data": _b64(key)},
            }
        ],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}],
        "current-context": cluster,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path
