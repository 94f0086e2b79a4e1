"""`greenroom certs status|renew`, and the ACME part of every deploy: certificates of apps
with tls.acme are obtained once (tls/renew.py) and installed on every host's proxy."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from greenroom.cli.options import DEFAULT_FILE, EngineOpt, FileOpt, HostOpt, JsonOpt, read_config, where
from greenroom.cli.output import output
from greenroom.config import Config
from greenroom.deploy.host import DockerHost
from greenroom.errors import CertificateError, GreenroomError
from greenroom.proxy.pod import Proxy

if TYPE_CHECKING:  # the ACME library loads only for commands that use it
    from greenroom.tls.renew import Site

certs_app = typer.Typer(help="HTTPS certificates: status, renew (ACME).", no_args_is_help=True)


def _site(label: str, g: DockerHost) -> Site:
    from greenroom.tls.renew import Site

    assert isinstance(g.proxy, Proxy)
    return Site(label, g.proxy)


@contextlib.contextmanager
def sites(cfg: Config, at: str | None) -> Iterator[list[Site]]:
    """Every host's proxy at once (the fleet's every host, or the one AT names; without
    `hosts:` its engine, AT an address), or the error of the hosts that did not answer."""
    from greenroom.fleet.hosts import docker_host_for, fleet_at, host_names, is_sole, reach

    fleet, only = fleet_at(cfg, at)
    names = host_names(fleet, only)
    chosen = [h for h in fleet.hosts if h.name in names]
    services, unreachable = reach(fleet, chosen, docker_host_for(fleet))
    try:
        if unreachable and is_sole(fleet):
            raise unreachable[0].error  # one engine: its own words
        if unreachable:
            raise GreenroomError(
                f"{len(unreachable)} host(s) unreachable: {', '.join(u.host for u in unreachable)}",
                hint="a certificate is installed on every host: renew when all of them answer",
            )
        yield [
            _site(services[h.name].engine.host if is_sole(fleet) else h.name, services[h.name])
            for h in chosen
        ]
    finally:
        for g in services.values():
            g.engine.close()


def acme_apps(cfg: Config, names: Sequence[str] | None = None) -> list[str]:
    return [
        n
        for n, a in cfg.apps.items()
        if a.tls is not None and a.tls.acme is not None and (not names or n in names)
    ]


def ensure(
    cfg: Config, apps: Sequence[str], all_sites: Sequence[Site], *, force: bool = False, renew: bool = True
) -> None:
    """Obtain (reuse, renew or issue) and install each app's certificate on every host whose
    proxy serves HTTPS; hosts whose proxy does not yet are left for after the deploy.
    Without `renew`, a valid certificate is installed as it is, even if due."""
    from greenroom.tls.renew import install, obtain

    ready = [s for s in all_sites if s.installed() is not None]
    if not ready:
        return
    now = datetime.now(UTC)
    for app in apps:
        material, said = obtain(app, cfg.app(app), ready, now, force=force, renew=renew)
        output.err.print(Text(f"certificate of {app} ({', '.join(material.hosts)}): {said}"))
        for line in install(material, ready):
            output.err.print(Text(f"  {line}"))


def around_deploy(cfg: Config, names: Sequence[str], host: str | None, *, before: bool) -> None:
    """Before a deploy: renew what is within acme.renew_before of expiry (a failure with a valid
    certificate installed is a warning: the deploy goes on); after: issue for proxies the
    deploy just created (not renewing: the CA was asked before, once), and take the
    certificate off apps whose tls was removed."""
    apps = acme_apps(cfg, names)
    plain = [n for n in names if cfg.app(n).tls is None] if cfg.proxy.https() and not before else []
    if not apps and not plain:
        return
    with sites(cfg, host) as found:
        for s in found:
            for app in sorted(set(plain) & set(s.installed() or {})):
                s.proxy.remove_tls(app)
                output.err.print(Text(f"{s.label}: {app} has no tls any more: its certificate removed"))
        try:
            ensure(cfg, apps, found, renew=before)
        except CertificateError as exc:
            if not before:
                raise
            output.err.print(Text(f"warning: {exc}", style="yellow"))


@certs_app.command("status")
def status(
    file: FileOpt = DEFAULT_FILE, host: HostOpt = None, engine: EngineOpt = None, as_json: JsonOpt = False
) -> None:
    """Per host: each app's installed certificate (names, issuer, expiry); a warning under 14 days."""
    from greenroom.tls.renew import status_rows

    cfg = read_config(file, lenient=True)
    with sites(cfg, where(cfg, host, engine)) as found:
        rows = status_rows(found, datetime.now(UTC))
    if as_json:
        output.json(rows)
        return
    for r in rows:
        if r.get("app") is None:
            output.out.print(Text(f"{r['host']}: {r['error']}", style="yellow"))
            continue
        names = ", ".join(r["names"]) if isinstance(r["names"], list) else ""
        output.out.print(
            Text(
                f"{r['host']}  {r['app']}: {names}, {r['source']}, issuer {r['issuer']}, expires "
                f"{str(r['not_after'])[:10]} ({r['days_left']} days)"
            )
        )
        if r.get("warning"):
            output.err.print(Text(f"warning: {r['host']} {r['app']}: {r['warning']}", style="yellow"))


@certs_app.command("renew")
def renew(
    name: Annotated[str | None, typer.Argument(help="app name (default: every app with tls.acme)")] = None,
    force: Annotated[bool, typer.Option("--force", help="issue anew even if not due")] = False,
    file: FileOpt = DEFAULT_FILE,
    host: HostOpt = None,
    engine: EngineOpt = None,
) -> None:
    """Renew ACME certificates due (tls.acme.renew_before, 30 days before expiry; all with
    --force) and install them on every host. Idempotent: safe from a timer. A failure keeps
    the installed one serving."""
    cfg = read_config(file)
    host = where(cfg, host, engine)
    apps = acme_apps(cfg, [name] if name else None)
    if name and not apps:
        raise GreenroomError(f"{name} has no tls.acme", where=f"apps.{name}.tls")
    with sites(cfg, host) as found:
        missing = [s.label for s in found if s.installed() is None]
        if missing:
            raise CertificateError(
                f"the proxy on {', '.join(missing)} does not serve HTTPS yet",
                hint="deploy first (it creates the proxy with HTTPS and issues the certificate)",
            )
        ensure(cfg, apps, found, force=force)
    days = sorted({t.acme.renew_days() for a in apps if (t := cfg.app(a).tls) and t.acme})
    due = " or ".join(f"{d:g}" for d in days)
    output.err.print(Text(f"done (renewal is due {due} days before expiry)"))
