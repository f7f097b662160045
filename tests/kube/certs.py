"""The certificates and keys a test control plane needs, made fresh for each one (EC P-256).

One CA signs everything: the API server's serving certificate, the client certificates of the
admin identity (the fixture, the controller manager, the scheduler, kwok, the simulated
kubelet) and of the API server towards the kubelet, and the simulated kubelet's serving
certificate. A separate key pair signs service account tokens.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK = ipaddress.ip_address("127.0.0.1")
# The in-cluster names of the API server, as a kubeadm cluster's certificate carries them.
API_NAMES = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc")
SERVICE_IP = ipaddress.ip_address("10.96.0.1")  # first address of --service-cluster-ip-range


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Certs:
    ca: Pair
    apiserver: Pair  # serving
    admin: Pair  # client, group system:masters
    kubelet_client: Pair  # the API server's client certificate towards kubelets
    kubelet: Pair  # the simulated kubelet's serving certificate
    service_account: Pair  # token signing key (cert: the public key, PEM)


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(parts)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _issue(
    folder: Path,
    stem: str,
    subject: x509.Name,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    server: bool = False,
    client: bool = False,
    dns: tuple[str, ...] = (),
    ips: tuple[ipaddress.IPv4Address, ...] = (),
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, Pair]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is None:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] if server else []
    usages += [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    if dns or ips:
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        names += [x509.IPAddress(ip) for ip in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    pair = Pair(folder / f"{stem}.crt", folder / f"{stem}.key")
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(pair.key, key)
    return cert, key, pair


def make_certs(folder: Path) -> Certs:
    folder.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key, ca = _issue(folder, "ca", _name("trainyard-test-ca"), None)
    issuer = (ca_cert, ca_key)
    *_, apiserver = _issue(
        folder,
        "apiserver",
        _name("kube-apiserver"),
        issuer,
        server=True,
        dns=API_NAMES,
        ips=(LOOPBACK, SERVICE_IP),
    )
    *_, admin = _issue(
        folder, "admin", _name("trainyard-admin", "system:masters"), issuer, client=True
    )
    *_, kubelet_client = _issue(
        folder,
        "apiserver-kubelet-client",
        _name("kube-apiserver-kubelet-client"),
        issuer,
        client=True,
    )
    *_, kubelet = _issue(
        folder, "kubelet", _name("simulated-kubelet"), issuer, server=True, ips=(LOOPBACK,)
    )
    signing = ec.generate_private_key(ec.SECP256R1())
    service_account = Pair(folder / "sa.pub", folder / "sa.key")
    _write_key(service_account.key, signing)
    service_account.cert.write_bytes(
        signing.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return Certs(ca, apiserver, admin, kubelet_client, kubelet, service_account)
