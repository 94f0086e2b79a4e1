"""The test bed as the tests see it: engines, images, an outside host, scratch resources."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors

from greenroom.engine.api_client import post_json
from greenroom.engine.client import DockerEngine
from greenroom.gateway.rules import EngineRules

DESCRIPTION = Path(os.environ.get("GREENROOM_TESTBED_FILE", "/run/greenroom-testbed.json"))
TEST_LABEL = "greenroom.test"


def load_description() -> dict[str, Any]:
    if not DESCRIPTION.exists():
        raise RuntimeError(
            f"the test bed is not up ({DESCRIPTION} is missing): run `scripts/testbed up` as root"
        )
    data: dict[str, Any] = json.loads(DESCRIPTION.read_text())
    return data


@dataclass
class BedEngine:
    name: str
    host: str
    address: str
    netns: str
    version: str
    api_version: str
    base_image: str
    busybox_image: str
    ext_address: str
    ext_netns: str
    # the official nginx image's layout built from Debian's packages ("" on an older bed:
    # `scripts/testbed images` builds it)
    proxy_official_image: str = ""

    @property
    def rules(self) -> EngineRules:
        return EngineRules.of(self.version, self.api_version)

    @property
    def gw_priority(self) -> bool:
        return self.rules.gw_priority

    def engine(self) -> DockerEngine:
        return DockerEngine(self.host)

    def docker(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.host, version="auto", timeout=120)

    def in_netns(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["nsenter", f"--net={self.netns}", *cmd], capture_output=True, text=True, check=check
        )


def bed_engine(e: dict[str, Any], desc: dict[str, Any]) -> BedEngine:
    """One engine host of the description (an entry of "engines", or "remote")."""
    return BedEngine(
        name=e["name"],
        host=e["host"],
        address=e["address"],
        netns=e["netns"],
        version=e["version"],
        api_version=e["api_version"],
        base_image=desc["images"]["base"],
        busybox_image=desc["images"]["busybox"],
        ext_address=desc["ext"]["address"],
        ext_netns=desc["ext"]["netns"],
        proxy_official_image=desc["images"].get("proxy_official", ""),
    )


def bed_engines() -> list[BedEngine]:
    desc = load_description()
    return [bed_engine(e, desc) for e in desc["engines"]]


def ssh_alias(folder: Path, alias: str, ssh: dict[str, Any]) -> Path:
    """An ssh_config naming the remote host e3 `alias` (its "ssh" description: address,
    port, user, key, known hosts), for GREENROOM_SSH_CONFIG: OpenSSH reads the passwd
    home's ~/.ssh/config, not $HOME's."""
    path = folder / "ssh_config"
    path.write_text(
        f"Host {alias}\n"
        f"  HostName {ssh['host']}\n"
        f"  Port {ssh['port']}\n"
        f"  User {ssh['user']}\n"
        f"  IdentityFile {ssh['key']}\n"
        "  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {ssh['known_hosts']}\n"
        "  GlobalKnownHostsFile /dev/null\n"
    )
    return path


def uid() -> str:
    return secrets.token_hex(3)


@dataclass
class Scratch:
    """Networks and containers a test creates; all removed at the end, even on failure."""

    bed: BedEngine
    client: docker.DockerClient
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)

    def network(
        self,
        name: str,
        *,
        internal: bool = False,
        ipv6_subnet: str | None = None,
        ipv4: bool = True,
        subnet: str | None = None,
    ) -> str:
        body: dict[str, Any] = {
            "Name": name,
            "Driver": "bridge",
            "Internal": internal,
            "CheckDuplicate": True,
            "Labels": {TEST_LABEL: "1"},
        }
        configs = []
        if subnet:
            configs.append({"Subnet": subnet})
        if ipv6_subnet:
            body["EnableIPv6"] = True
            configs.append({"Subnet": ipv6_subnet})
        if not ipv4:
            body["EnableIPv4"] = False
        if configs:
            body["IPAM"] = {"Driver": "default", "Config": configs}
        post_json(self.client.api, "/networks/create", body)
        self.networks.append(name)
        return name

    def run(
        self,
        name: str,
        network: str,
        *,
        image: str | None = None,
        command: list[str] | None = None,
        gw_priority: int | None = None,
        ports: dict[int, int] | None = None,
        cap_add: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> str:
        api = self.client.api
        endpoint: dict[str, Any] = {}
        if gw_priority is not None:
            endpoint["GwPriority"] = gw_priority
        host_config = api.create_host_config(
            network_mode=network,
            port_bindings={k: ("0.0.0.0", v) for k, v in (ports or {}).items()},
            cap_add=cap_add,
        )
        created = api.create_container(
            image=image or self.bed.busybox_image,
            command=command or ["sleep", "3600"],
            name=name,
            host_config=host_config,
            networking_config={"EndpointsConfig": {network: endpoint}},
            labels={TEST_LABEL: "1"},
            ports=list(ports or {}),
            environment=env,
            stop_signal="SIGKILL",
        )
        self.containers.append(created["Id"])
        api.start(created["Id"])
        return str(created["Id"])

    def connect(self, container: str, network: str, gw_priority: int | None = None) -> None:
        endpoint: dict[str, Any] = {}
        if gw_priority is not None:
            endpoint["GwPriority"] = gw_priority
        post_json(
            self.client.api,
            f"/networks/{network}/connect",
            {"Container": container, "EndpointConfig": endpoint},
        )

    def disconnect(self, container: str, network: str) -> None:
        self.client.api.disconnect_container_from_network(container, network)

    def exec(self, container: str, *cmd: str) -> str:
        res = self.client.containers.get(container).exec_run(list(cmd))
        output = res.output
        assert isinstance(output, bytes)
        assert res.exit_code == 0, output
        return output.decode()

    def cleanup(self) -> None:
        for cid in reversed(self.containers):
            with contextlib.suppress(docker.errors.NotFound):
                self.client.api.remove_container(cid, force=True)
        for net in reversed(self.networks):
            with contextlib.suppress(docker.errors.NotFound):
                self.client.api.remove_network(net)
        self.containers.clear()
        self.networks.clear()


@contextlib.contextmanager
def scratch(bed: BedEngine) -> Iterator[Scratch]:
    client = bed.docker()
    s = Scratch(bed, client)
    try:
        yield s
    finally:
        s.cleanup()
        client.close()


def greenroom(
    *args: str, host: str, check: bool = False, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "DOCKER_HOST": host, "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "greenroom", *args],
        capture_output=True,
        text=True,
        env=full_env,
        check=check,
        timeout=120,
    )
