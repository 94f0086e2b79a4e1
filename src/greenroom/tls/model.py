"""Pure: what greenroom keeps of a certificate (`Certificate`: names, validity, issuer,
fingerprint; no key) and what a proxy installs (`Material`). The key travels only inside
`Material.pem` (key + chain, the one file nginx loads per handshake), which never prints: it
is excluded from repr and comparisons. No cryptography here (files.py parses)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime


class TlsProblem(ValueError):
    """A certificate or key that cannot serve; `field` is certificate or key."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Certificate:
    names: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    issuer: str
    fingerprint: str  # sha256 of the leaf, hex

    def days_left(self, now: datetime) -> float:
        return (self.not_after - now).total_seconds() / 86400


@dataclass(frozen=True)
class Material:
    """What the proxy installs for one app: its hosts, options and certificate."""

    app: str
    hosts: tuple[str, ...]
    hsts: int  # Strict-Transport-Security max-age in seconds; 0: no header
    cert: Certificate
    source: str  # "files" or "acme"
    redirect: bool  # plain HTTP for the hosts answers 308 to https://
    pem: bytes = field(repr=False, compare=False)  # private key + chain

    def meta(self) -> dict[str, object]:
        """What the proxy stores beside the key file and answers on GET: no key."""
        c = self.cert
        return {
            "hosts": list(self.hosts),
            "hsts": self.hsts,
            "fingerprint": c.fingerprint,
            "names": list(c.names),
            "not_after": c.not_after.isoformat(),
            "issuer": c.issuer,
            "source": self.source,
            "redirect": self.redirect,
        }

    def meta_json(self) -> str:
        return json.dumps(self.meta(), sort_keys=True)


def covers(name: str, host: str) -> bool:
    """Whether a certificate name covers a host: exactly, or a `*.` name one label deep."""
    if name == host:
        return True
    if name.startswith("*.") and not host.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == name[2:]
    return False


def uncovered(names: Iterable[str], hosts: Iterable[str]) -> list[str]:
    names = [n.lower() for n in names]
    return [h for h in hosts if not any(covers(n, h) for n in names)]


def key_mode_problem(mode: int) -> str | None:
    """A key file readable or writable by group or others is refused, as ssh refuses one."""
    if mode & 0o077:
        return f"the key file's permissions are {mode & 0o777:04o}: readable by others; chmod 600 it"
    return None
