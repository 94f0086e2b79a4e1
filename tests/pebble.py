"""Debian's pebble (an RFC 8555 ACME test CA) and pebble-challtestsrv (its DNS) in the test
bed's external namespace, for one test: the DNS answers every name with the engine host's
address (or what `resolve` sets), and pebble validates HTTP-01 on `http_port` there.
Started and stopped by the test (pebble's CA is new on every start)."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.bed import BedEngine
from tests.tls_certs import CertAuthority, write_pair

WFE_PORT, MGMT_PORT, DNS_PORT, DNS_MGMT_PORT = 24000, 25000, 28053, 28055


@dataclass
class Pebble:
    address: str
    wfe_root: Path  # trust for the directory's own HTTPS (acme.ca_bundle)
    procs: list[subprocess.Popen[bytes]]

    @property
    def directory(self) -> str:
        return f"https://{self.address}:{WFE_PORT}/dir"

    def issuing_root(self) -> str:
        """Pebble's root of the certificates it issues (new on every start)."""
        got = requests.get(
            f"https://{self.address}:{MGMT_PORT}/roots/0", verify=str(self.wfe_root), timeout=10
        )
        got.raise_for_status()
        return got.text

    def resolve(self, name: str, address: str) -> None:
        url = f"http://{self.address}:{DNS_MGMT_PORT}/add-a"
        requests.post(
            url, data=json.dumps({"host": name, "addresses": [address]}), timeout=10
        ).raise_for_status()

    def unresolvable(self, name: str) -> None:
        """The name's DNS answers SERVFAIL."""
        url = f"http://{self.address}:{DNS_MGMT_PORT}/set-servfail"
        requests.post(url, data=json.dumps({"host": name}), timeout=10).raise_for_status()

    def stop_ca(self) -> None:
        """The CA down (its DNS stays)."""
        proc = self.procs[-1]
        proc.terminate()
        proc.wait(timeout=10)


@contextlib.contextmanager
def pebble(
    bed: BedEngine,
    folder: Path,
    http_port: int,
    resolve_to: str | None = None,
    eab: tuple[str, str] | None = None,
) -> Iterator[Pebble]:
    """`resolve_to`: the address every name resolves to (default: the engine host's).
    `eab`: (kid, base64url HMAC key): new accounts need that external account binding."""
    if not shutil.which("pebble"):
        pytest.skip("Debian's pebble is not installed: run scripts/testbed up (its install step)")
    ca = CertAuthority.make("pebble wfe")
    crt, key = write_pair(folder, "wfe", *ca.leaf(bed.ext_address))
    root = ca.write_root(folder / "wfe-root.pem")
    conf = folder / "pebble.json"
    conf.write_text(
        json.dumps(
            {
                "pebble": {
                    "listenAddress": f"{bed.ext_address}:{WFE_PORT}",
                    "managementListenAddress": f"{bed.ext_address}:{MGMT_PORT}",
                    "certificate": str(crt),
                    "privateKey": str(key),
                    "httpPort": http_port,
                    "tlsPort": 5001,
                    "ocspResponderURL": "",
                    "externalAccountBindingRequired": eab is not None,
                    "externalAccountMACKeys": dict([eab]) if eab else {},
                }
            }
        )
    )
    ns = ["nsenter", f"--net={bed.ext_netns}"]
    dns = [
        *ns,
        "pebble-challtestsrv",
        "-dns01",
        f"{bed.ext_address}:{DNS_PORT}",
        "-http01",
        "",
        "-https01",
        "",
        "-tlsalpn01",
        "",
        "-management",
        f"{bed.ext_address}:{DNS_MGMT_PORT}",
        "-defaultIPv4",
        resolve_to or bed.address,
        "-defaultIPv6",
        "",
    ]
    ca_cmd = [*ns, "pebble", "-config", str(conf), "-dnsserver", f"{bed.ext_address}:{DNS_PORT}"]
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "PEBBLE_VA_NOSLEEP": "1",
        "PEBBLE_WFE_NONCEREJECT": "0",
        "PEBBLE_AUTHZREUSE": "0",
    }
    log = (folder / "pebble.log").open("wb")
    procs = [subprocess.Popen(dns, stdout=log, stderr=log, env=env)]
    procs.append(subprocess.Popen(ca_cmd, stdout=log, stderr=log, env=env))
    p = Pebble(bed.ext_address, root, procs)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(p.directory, verify=str(root), timeout=2).raise_for_status()
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise AssertionError((folder / "pebble.log").read_text()) from None
                time.sleep(0.1)
        yield p
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)
        log.close()
