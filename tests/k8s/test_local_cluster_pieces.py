"""The local cluster's certificates, kubeconfigs and locally made images, checked offline.

The cluster itself runs in `scenarios/k8s_local` (`make k8s-local-test`); these are the parts a
broken cluster start would only report as "x509: certificate signed by unknown authority" or an
image import error.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import ipaddress
import json
import tarfile
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.k8s import ociimage, pki


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_certificates_chain_to_the_ca_with_names_and_usages(tmp_path: Path) -> None:
    ca = pki.CertificateAuthority(tmp_path, "ca", "test-ca")
    sans = ("DNS:kubernetes.default.svc", "IP:10.96.0.1", "IP:127.0.0.1")
    crt, key = ca.issue(pki.Identity("apiserver", "kube-apiserver", sans=sans, server=True))
    client, _ = ca.issue(pki.Identity("kubelet", "system:node:n1", "system:nodes"))
    server = _cert(crt)
    server.verify_directly_issued_by(ca.cert)  # raises if the CA did not sign it
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["kubernetes.default.svc"]
    assert names.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("10.96.0.1"),
        ipaddress.ip_address("127.0.0.1"),
    ]
    usage = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH], "a serving cert must be serverAuth"
    kubelet = _cert(client)
    assert kubelet.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
        "system:nodes"
    ), "the node's group is its certificate's O"
    assert list(kubelet.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    assert key.stat().st_mode & 0o777 == 0o600, "private keys must not be world-readable"


def test_a_second_start_keeps_the_ca_and_the_certificates(tmp_path: Path) -> None:
    first = pki.CertificateAuthority(tmp_path, "ca", "test-ca")
    crt, _ = first.issue(pki.Identity("admin", "kubernetes-admin", "system:masters"))
    before = crt.read_bytes()
    again = pki.CertificateAuthority(tmp_path, "ca", "test-ca")
    assert again.cert == first.cert, "expected the CA on disk to be reused, not replaced"
    again.issue(pki.Identity("admin", "kubernetes-admin", "system:masters"))
    assert crt.read_bytes() == before, "expected an issued certificate to be kept"


def test_kubeconfig_embeds_the_credentials(tmp_path: Path) -> None:
    ca = pki.CertificateAuthority(tmp_path, "ca", "test-ca")
    crt, key = ca.issue(pki.Identity("admin", "kubernetes-admin", "system:masters"))
    path = pki.write_kubeconfig(
        tmp_path / "admin.kubeconfig", "https://127.0.0.1:6443", ca.cert_path, crt, key,
        cluster="c", user="u",
    )  # fmt: skip
    config = yaml.safe_load(path.read_text())
    assert config["current-context"] == "c"
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert config["users"][0]["user"]["client-certificate-data"], "expected the cert inline"
    assert path.stat().st_mode & 0o777 == 0o600, "a kubeconfig with a key must be private"


def test_bad_san_is_refused(tmp_path: Path) -> None:
    ca = pki.CertificateAuthority(tmp_path, "ca", "test-ca")
    with pytest.raises(ValueError, match="DNS:<name> or IP:<address>"):
        ca.issue(pki.Identity("x", "x", sans=("URI:spiffe://x",)))


def test_oci_archive_is_a_valid_single_layer_image(tmp_path: Path) -> None:
    binary = tmp_path / "tool"
    binary.write_bytes(b"\x7fELF not really")
    out = ociimage.binary_image(tmp_path / "img.tar", "altlas.local/tool:1", binary, args=["-x"])
    with tarfile.open(out) as tar:
        blobs = {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }
    assert json.loads(blobs["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    for name, data in blobs.items():
        if name.startswith("blobs/sha256/"):
            assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1], f"{name} digest"
    [entry] = json.loads(blobs["index.json"])["manifests"]
    assert entry["annotations"]["io.containerd.image.name"] == "altlas.local/tool:1"
    manifest = json.loads(blobs["blobs/sha256/" + entry["digest"].split(":")[1]])
    config = json.loads(blobs["blobs/sha256/" + manifest["config"]["digest"].split(":")[1]])
    assert config["config"]["Entrypoint"] == ["/tool", "-x"]
    layer = gzip.decompress(blobs["blobs/sha256/" + manifest["layers"][0]["digest"].split(":")[1]])
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer).hexdigest()]
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        member = tar.getmember("tool")
        assert member.mode == 0o755 and member.uid == 0 and member.mtime == 0
        assert {"etc/passwd", "etc/group"} <= set(tar.getnames())


def test_image_archives_are_reproducible(tmp_path: Path) -> None:
    binary = tmp_path / "tool"
    binary.write_bytes(b"same bytes")
    a = ociimage.binary_image(tmp_path / "a.tar", "altlas.local/tool:1", binary)
    b = ociimage.binary_image(tmp_path / "b.tar", "altlas.local/tool:1", binary)

    def digests(path: Path) -> list[str]:
        with tarfile.open(path) as tar:
            return sorted(n for n in tar.getnames() if n.startswith("blobs/"))

    assert digests(a) == digests(b), "the same input must give the same image digests"
