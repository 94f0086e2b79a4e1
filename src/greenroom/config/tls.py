"""greenroom.yml's `apps.<name>.tls`: HTTPS for the app's hosts, from certificate files or ACME.

Certificate files are read and checked when the config loads (key matches, valid now, key
file not readable by others); that the names cover the app's hosts is the app's check.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    model_validator,
)

from greenroom.config.fields import Duration, Kind, Model, base_dir, problem, section, within
from greenroom.tls.model import Certificate, TlsProblem, key_mode_problem

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
_DIRECTORIES = {"letsencrypt": LETS_ENCRYPT, "staging": LETS_ENCRYPT_STAGING}
MAX_FILE = 1 << 20
RENEW_BEFORE = 30 * 86400  # seconds before expiry a deploy or `certs renew` renews


def _directory(value: Any) -> Any:
    if isinstance(value, str) and value in _DIRECTORIES:
        return _DIRECTORIES[value]
    if isinstance(value, str) and not value.startswith("https://"):
        raise ValueError("an https:// URL, or letsencrypt or staging")
    return value


def _email(value: str) -> str:
    local, at, domain = value.partition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in value):
        raise ValueError("an email address, e.g. ops@example.com")
    return value


def _base64url(value: SecretStr) -> SecretStr:
    text = value.get_secret_value()
    if not text or not re.fullmatch(r"[A-Za-z0-9_-]+={0,2}", text):
        raise ValueError("the HMAC key as the CA gave it: base64url (letters, digits, - and _)")
    return value


def read_file(path: Path, what: str, limit: int = MAX_FILE) -> bytes:
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise ValueError(f"cannot read the {what} file {path}: {exc.strerror or exc}") from exc
    if len(data) > limit:
        raise ValueError(f"the {what} file {path} is larger than {limit} bytes")
    return data


class Eab(Model):
    """External account binding, for CAs that need one (ZeroSSL, Google, ...)."""

    kid: str = Field(min_length=1, description="The key identifier the CA gave you.")
    hmac_key: Annotated[SecretStr, AfterValidator(_base64url)] = Field(
        description="The base64url HMAC key the CA gave you; never printed."
    )


class AcmeConfig(Model):
    """Certificates issued and renewed by an ACME CA (HTTP-01, answered by the proxy on port 80)."""

    email: Annotated[str, AfterValidator(_email)] = Field(
        description="Contact address for the CA's account (expiry notices)."
    )
    directory: Annotated[str, BeforeValidator(_directory), Kind("URL")] = Field(
        default=LETS_ENCRYPT,
        description="The CA's ACME directory URL: letsencrypt (the default, "
        f"{LETS_ENCRYPT}), staging ({LETS_ENCRYPT_STAGING}), or any https:// URL.",
    )
    ca_bundle: str | None = Field(
        default=None,
        description="PEM file of the CA certificates to trust for the directory's HTTPS, for a private "
        "CA; relative to the config file's folder. null: the system's.",
    )
    eab: Annotated[Eab | None, BeforeValidator(lambda v: v)] = Field(
        default=None, description="External account binding (kid, hmac_key) when the CA requires it."
    )
    renew_before: Annotated[Duration, within(3600, 10 * 365 * 86400)] = Field(
        default=RENEW_BEFORE,
        description="A deploy or `certs renew` renews the certificate once it expires within this "
        "(720h: 30 days, for Let's Encrypt's 90-day certificates; shorten it for short-lived ones), "
        "1h to 87600h.",
    )

    def renew_days(self) -> float:
        return self.renew_before / 86400

    def bundle_path(self, info_dir: Path) -> Path | None:
        return (info_dir / self.ca_bundle) if self.ca_bundle else None


class TlsConfig(Model):
    """HTTPS for the app's hosts at the proxy: certificate files, or acme. The proxy must
    publish proxy.tls_listen (443 by default, e.g. "443:443" in proxy.ports)."""

    certificate: str | None = Field(
        default=None,
        description="PEM file with the certificate, then its chain (each issuer after the one it "
        "issued); relative to the config file's folder. Its names must cover every host of the app; "
        "a wildcard (*.example.com) covers one label and may serve several apps.",
    )
    key: str | None = Field(
        default=None,
        description="PEM file with the certificate's private key (RSA or ECDSA, no passphrase), "
        "mode 0600 or stricter; never printed, sent to the proxies only through the engine's "
        "archive API.",
    )
    acme: Annotated[AcmeConfig | None, BeforeValidator(lambda v: v)] = Field(
        default=None,
        description="Issue and renew the certificate with ACME instead of files (not for wildcard "
        "hosts: HTTP-01 cannot issue them).",
    )
    hsts: Annotated[Duration, within(0, 2 * 365 * 86400)] = Field(
        default=0,
        description="Send Strict-Transport-Security with this max-age (e.g. 8760h, a year) on HTTPS "
        "responses, at most 2 years. 0: no header.",
    )
    redirect: bool = Field(
        default=True,
        description="Answer plain HTTP requests for the app's hosts with a 308 to https:// (path and "
        "query kept), except /.well-known/acme-challenge/.",
    )

    _cert: Certificate | None = PrivateAttr(default=None)
    _pem: bytes = PrivateAttr(default=b"")
    _base: Path = PrivateAttr(default=Path("."))

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> Self:
        files = self.certificate is not None or self.key is not None
        if files and self.acme is not None:
            raise problem("either certificate and key, or acme; not both", "acme")
        if not files and self.acme is None:
            raise problem("needs certificate and key, or acme", "certificate")
        self._base = base_dir(info)
        if not files:
            return self
        if self.certificate is None:
            raise problem("key needs its certificate", "certificate")
        if self.key is None:
            raise problem("certificate needs its key", "key")
        key_path = self._base / self.key
        chain = _read(self._base / self.certificate, "certificate")
        key = _read(key_path, "key")
        why = key_mode_problem(os.stat(key_path).st_mode)
        if why:
            raise problem(f"{why} ({key_path})", "key")
        from greenroom.tls.files import check_pair  # cryptography: only for configs with files

        try:
            self._cert, self._pem = check_pair(chain, key)
        except TlsProblem as exc:
            raise problem(str(exc), exc.field) from None
        return self

    @property
    def base(self) -> Path:
        return self._base

    def files_certificate(self) -> tuple[Certificate, bytes] | None:
        """The checked certificate and the PEM nginx loads, for files; None for acme."""
        return (self._cert, self._pem) if self._cert is not None else None

    def hsts_seconds(self) -> int:
        return int(self.hsts)


def _read(path: Path, what: str) -> bytes:
    try:
        return read_file(path, what)
    except ValueError as exc:
        raise problem(str(exc), what) from None


TlsSection = Annotated[TlsConfig | None, BeforeValidator(lambda v: v if v is None else section(v))]
