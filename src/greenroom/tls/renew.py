"""ACME certificates over every host: issue once, install on every host's proxy.

State lives on the engine hosts, so any operator with the config can renew: the account
(key and URI) in each proxy's state volume (/var/lib/greenroom/acme/account.json, 0600,
root only), the certificate as installed (tls/<app>.pem and .json). Both go in and out
through the engine's archive API only, so this works over ssh and TLS engines alike.

HTTP-01 on a fleet: the load balancer may send the CA to any host, so the token is pushed
to every host's proxy and each is checked to answer it before the CA is asked to validate.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from greenroom.config.app import AppConfig
from greenroom.errors import CertificateError, GreenroomError
from greenroom.proxy.model import current
from greenroom.proxy.pod import Proxy
from greenroom.proxy.tls_conf import CHALLENGE_PREFIX, TLS_DIR
from greenroom.tls.acme_client import Account, AcmeSession
from greenroom.tls.files import check_pair
from greenroom.tls.model import Certificate, Material, TlsProblem

ACME_DIR = "/var/lib/greenroom/acme"
WARN_DAYS = 14  # `certs status` warns this close to expiry


@dataclass(frozen=True)
class Site:
    """One host's proxy (label: the host's name, or its engine address)."""

    label: str
    proxy: Proxy

    def instance(self) -> str | None:
        inst = current(self.proxy.instances(refresh=True))
        return inst.name if inst else None

    def installed(self) -> dict[str, dict[str, object]] | None:
        """What the proxy serves per app; None when it has no HTTPS (yet) or does not answer."""
        try:
            return self.proxy.tls_installed()
        except GreenroomError:
            return None


def split_pem(pem: bytes) -> tuple[bytes, bytes]:
    """(chain, key) of an installed key + chain file."""
    i = pem.find(b"-----BEGIN CERTIFICATE-----")
    return pem[i:], pem[:i]


def _current(sites: Sequence[Site], app: str, cfg: AppConfig, now: datetime) -> Material | None:
    """The newest valid ACME certificate for the app's hosts installed on any host."""
    found: list[tuple[str, Site]] = []
    for s in sites:
        meta = (s.installed() or {}).get(app)
        if meta and meta.get("source") == "acme" and list(cfg.hosts) == meta.get("hosts"):
            found.append((str(meta.get("not_after")), s))
    for _, s in sorted(found, key=lambda f: f[0], reverse=True):
        inst = s.instance()
        pem = s.proxy.engine.get_file(inst, f"{TLS_DIR}/{app}.pem") if inst else None
        if pem:
            try:
                cert, joined = check_pair(*split_pem(pem), now=now)
            except TlsProblem:
                continue
            return _material(app, cfg, cert, joined)
    return None


def _material(app: str, cfg: AppConfig, cert: Certificate, pem: bytes) -> Material:
    assert cfg.tls is not None
    return Material(app, cfg.hosts, cfg.tls.hsts_seconds(), cert, "acme", cfg.tls.redirect, pem)


def _account(sites: Sequence[Site], session: AcmeSession, email: str) -> Account:
    for s in sites:
        inst = s.instance()
        data = s.proxy.engine.get_file(inst, f"{ACME_DIR}/account.json") if inst else None
        if data:
            account = Account.from_json(data)
            if account.directory == session.directory_url:
                return account
    account = session.register(email)
    for s in sites:
        inst = s.instance()
        if inst:
            s.proxy.engine.put_files(inst, ACME_DIR, {"account.json": account.to_json()}, mode=0o600)
            s.proxy.engine.exec(inst, ["chmod", "700", ACME_DIR])
    return account


def _publisher(sites: Sequence[Site], host: str) -> tuple[Callable[[str, str], None], Callable[[str], None]]:
    def publish(token: str, key_authorization: str) -> None:
        for s in sites:
            s.proxy.put_challenge(token, key_authorization)
        for s in sites:  # each proxy answers it on its own listener before the CA asks
            reply = s.proxy.client.fetch(
                "GET", s.proxy.spec.listen, [CHALLENGE_PREFIX + token], headers={"Host": host}, timeout=5
            )[0]
            if reply.status != 200 or reply.body.strip() != key_authorization:
                raise CertificateError(
                    f"the proxy does not answer the ACME challenge ({reply.status or 'no answer'})",
                    where=f"{s.label} {s.proxy.spec.name}",
                    hint="deploy first so the proxy runs greenroom's current config, then renew",
                )

    def withdraw(token: str) -> None:
        for s in sites:
            with contextlib.suppress(GreenroomError):
                s.proxy.drop_challenge(token)

    return publish, withdraw


def obtain(
    app: str, cfg: AppConfig, sites: Sequence[Site], now: datetime, *, force: bool = False, renew: bool = True
) -> tuple[Material, str]:
    """The app's certificate: the installed one while it has more than acme.renew_before
    left (any time left, without `renew`) and not `force`, else a new one from the CA.
    Says which."""
    tls = cfg.tls
    assert tls is not None and tls.acme is not None
    have = _current(sites, app, cfg, now)
    due = tls.acme.renew_days() if renew else 0
    if have is not None and not force and have.cert.days_left(now) > due:
        return have, f"valid until {have.cert.not_after:%Y-%m-%d}"
    acme = tls.acme
    session = AcmeSession(
        acme.directory,
        str(tls.base / acme.ca_bundle) if acme.ca_bundle else None,
        acme.eab.kid if acme.eab else None,
        acme.eab.hmac_key.get_secret_value() if acme.eab else None,
    )
    account = _account(sites, session, acme.email)
    publish, withdraw = _publisher(sites, cfg.hosts[0])
    key, chain = session.issue(account, cfg.hosts, publish, withdraw)
    try:
        cert, pem = check_pair(chain, key)  # now, after the order: it starts when issued
    except TlsProblem as exc:
        raise CertificateError(f"the CA's certificate is unusable: {exc}", where=acme.directory) from exc
    return _material(app, cfg, cert, pem), "renewed" if have is not None else "issued"


def install(material: Material, sites: Sequence[Site]) -> list[str]:
    """On every host: `label: what was done`."""
    return [f"{s.label}: {s.proxy.install_tls(material)}" for s in sites]


def status_rows(sites: Sequence[Site], now: datetime) -> list[dict[str, object]]:
    """Per host and app: names, issuer, expiry, days left, a warning under WARN_DAYS."""
    rows: list[dict[str, object]] = []
    for s in sites:
        installed = s.installed()
        if installed is None:
            rows.append({"host": s.label, "app": None, "error": "the proxy has no HTTPS or does not answer"})
            continue
        for app, meta in sorted(installed.items()):
            after = datetime.fromisoformat(str(meta.get("not_after")))
            days = (after - now).total_seconds() / 86400
            rows.append(
                {
                    "host": s.label,
                    "app": app,
                    "names": meta.get("names"),
                    "issuer": meta.get("issuer"),
                    "source": meta.get("source"),
                    "not_after": after.isoformat(),
                    "days_left": round(days, 1),
                    "fingerprint": str(meta.get("fingerprint"))[:16],
                    "warning": "expires in under 14 days" if days < WARN_DAYS else None,
                }
            )
    return rows


def dumps(rows: list[dict[str, object]]) -> str:
    return json.dumps(rows, indent=2)
