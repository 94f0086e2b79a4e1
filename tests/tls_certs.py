"""Test certificates made on the spot: a root, an intermediate, leaves it issues (any
names, any validity), written as PEM files the way a user keeps them (key 0600)."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

Key = ec.EllipticCurvePrivateKey


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str,
    key: Key,
    issuer: tuple[str, Key] | None,
    *,
    ca: bool,
    names: tuple[str, ...] = (),
    start: datetime | None = None,
    days: float = 90,
) -> x509.Certificate:
    start = start or datetime.now(UTC) - timedelta(hours=1)
    issuer_name, signer = issuer or (subject, key)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names:
        b = b.add_extension(x509.SubjectAlternativeName([_general(n) for n in names]), critical=False)
    return b.sign(signer, hashes.SHA256())


def _general(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: Key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def new_key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass
class CertAuthority:
    """A root and an intermediate under it; leaves are issued by the intermediate."""

    root_key: Key
    root: x509.Certificate
    mid_key: Key
    mid: x509.Certificate

    @classmethod
    def make(cls, label: str = "greenroom test") -> CertAuthority:
        rk, mk = new_key(), new_key()
        root = _cert(f"{label} root", rk, None, ca=True, days=3650)
        mid = _cert(f"{label} intermediate", mk, (f"{label} root", rk), ca=True, days=3650)
        return cls(rk, root, mk, mid)

    def leaf(
        self, *names: str, start: datetime | None = None, days: float = 90, key: Key | None = None
    ) -> tuple[bytes, bytes]:
        """(certificate + chain PEM, key PEM)."""
        key = key or new_key()
        cert = _cert(
            names[0],
            key,
            (self.mid.subject.rfc4514_string()[3:], self.mid_key),
            ca=False,
            names=names,
            start=start,
            days=days,
        )
        return pem(cert) + pem(self.mid), key_pem(key)

    def write_root(self, path: Path) -> Path:
        path.write_bytes(pem(self.root))
        return path


def write_pair(folder: Path, stem: str, chain: bytes, key: bytes, mode: int = 0o600) -> tuple[Path, Path]:
    crt, k = folder / f"{stem}.crt", folder / f"{stem}.key"
    crt.write_bytes(chain)
    k.write_bytes(key)
    os.chmod(k, mode)
    return crt, k
