"""Pure: a certificate chain and its private key, checked before anything reaches a proxy
(the key matches, valid now, the chain in order), and the PEM nginx loads."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from itertools import pairwise

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from greenroom.tls.model import Certificate, TlsProblem


def _names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        found = [n.lower() for n in san.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        found = []
    if not found:  # legacy: the common name
        found = [str(a.value).lower() for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return tuple(found)


def _issuer(cert: x509.Certificate) -> str:
    cn = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cn[0].value) if cn else cert.issuer.rfc4514_string()


def describe(cert: x509.Certificate) -> Certificate:
    return Certificate(
        names=_names(cert),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        issuer=_issuer(cert),
        fingerprint=hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest(),
    )


def load_chain(chain_pem: bytes) -> list[x509.Certificate]:
    try:
        chain = x509.load_pem_x509_certificates(chain_pem)
    except ValueError as exc:
        raise TlsProblem(f"not a PEM certificate: {exc}", "certificate") from exc
    return chain


def check_pair(chain_pem: bytes, key_pem: bytes, now: datetime | None = None) -> tuple[Certificate, bytes]:
    """The leaf's description and the PEM nginx loads (key, then the chain), or TlsProblem:
    a key that does not match, a certificate not valid now, a chain out of order."""
    now = now or datetime.now(UTC)
    chain = load_chain(chain_pem)
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        why = "encrypted keys are not supported" if "password" in str(exc).lower() else str(exc)
        raise TlsProblem(f"not a PEM private key without a passphrase: {why}", "key") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise TlsProblem(f"unsupported key type {type(key).__name__}: use RSA or ECDSA", "key")
    leaf = chain[0]
    mine = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    theirs = leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if mine != theirs:
        raise TlsProblem("the key does not match the certificate (the first one in the file)", "key")
    info = describe(leaf)
    if now < info.not_before:
        raise TlsProblem(f"not valid yet: valid from {info.not_before:%Y-%m-%d %H:%M} UTC", "certificate")
    if now >= info.not_after:
        raise TlsProblem(f"expired on {info.not_after:%Y-%m-%d %H:%M} UTC", "certificate")
    for i, (child, parent) in enumerate(pairwise(chain), start=1):
        if child.issuer != parent.subject:
            raise TlsProblem(
                f"certificate {i + 1} of the chain did not issue certificate {i}: leaf first, then "
                "each issuer in order",
                "certificate",
            )
    key_out = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    chain_out = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
    return info, key_out + chain_out
