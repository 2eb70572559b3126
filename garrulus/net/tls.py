"""TLS: server contexts (TLS 1.2 or newer) and a self-signed certificate made on first start."""

from __future__ import annotations

import datetime as dt
import logging
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from garrulus.stream.sasl import tls_server_end_point

log = logging.getLogger("garrulus.tls")


@dataclass(frozen=True)
class TlsConfig:
    context: ssl.SSLContext
    cert_der: bytes
    cb_data: bytes  # RFC 5929 tls-server-end-point data for SCRAM-PLUS


def make_self_signed(cert_path: Path, key_path: Path, hosts: Sequence[str]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    log.warning(
        "made a self-signed certificate for %s at %s; clients will ask to trust it",
        ", ".join(hosts),
        cert_path,
    )


def load_tls(cert_path: Path, key_path: Path, hosts: Sequence[str], generate: bool) -> TlsConfig:
    if generate and not (cert_path.exists() and key_path.exists()):
        make_self_signed(cert_path, key_path, hosts)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert_path), str(key_path))
    # Client certificates are not used for c2s authentication here.
    context.verify_mode = ssl.CERT_NONE
    pem = cert_path.read_text()
    der = ssl.PEM_cert_to_DER_cert(pem[pem.index("-----BEGIN CERTIFICATE-----") :])
    return TlsConfig(context, der, tls_server_end_point(der))
