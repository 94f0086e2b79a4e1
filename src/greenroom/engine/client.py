"""The Docker engine adapter: the one module that talks to the Engine API.

Everything above it sees typed values (engine/model.py) and greenroom errors.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import docker
import docker.errors
import docker.utils

from greenroom.clock import SystemClock, poll_until
from greenroom.engine import protocol
from greenroom.engine.address import TlsMaterial, refuse_plain_tcp, resolve_address
from greenroom.engine.api_client import MIN_API, api_client, post_json, read_exec_output
from greenroom.engine.bound import DEFAULT_CALL_TIMEOUT, CallBound, HostLabel
from greenroom.engine.calls import Calls
from greenroom.engine.files import EngineFiles
from greenroom.engine.images import EngineImages
from greenroom.engine.model import (
    ContainerInfo,
    ContainerSpec,
    ContainerState,
    EngineInfo,
    NetworkInfo,
    create_body,
    parse_container,
    parse_container_summary,
    parse_network,
    parse_state,
    rfc3339,
)
from greenroom.engine.tls import tls_errors, tls_material
from greenroom.errors import (
    EngineError,
    GreenroomError,
    NotFound,
    SubnetOverlap,
)

if TYPE_CHECKING:
    from greenroom.config.engine import EngineConfig


def default_host(environ: Mapping[str, str] | None = None) -> str:
    """DOCKER_HOST, else the current Docker context's endpoint, else the local socket."""
    return resolve_address(None, environ=environ).host


class DockerEngine(EngineImages, EngineFiles):
    """One Docker engine, reached over a unix socket, ssh (the user's OpenSSH client) or TLS."""

    def __init__(
        self,
        host: str | None = None,
        *,
        call_timeout: float = DEFAULT_CALL_TIMEOUT,
        tls: TlsMaterial | None = None,
        insecure_plain_tcp: bool = False,
        environ: Mapping[str, str] | None = None,
        name: str | None = None,
        origin: str = "--host",
    ) -> None:
        """`call_timeout`: the bound on each call (engine/bound.py); `name` and `origin`: the
        fleet host this engine is and the config line of its address, for messages."""
        env = os.environ if environ is None else environ
        self.endpoint = resolve_address(host, tls=tls, environ=env)
        self.host = self.endpoint.host
        self.bound = CallBound(call_timeout, HostLabel(self.host, name, origin))
        self._call = Calls(self.host, self.bound, self.ping)
        self._clock = SystemClock()
        refuse_plain_tcp(self.endpoint, allowed=insecure_plain_tcp, environ=env)
        with self._call("connect"), tls_errors(self.endpoint):
            self._api = api_client(self.endpoint, call_timeout, env)
            try:
                version = self._api.version(api_version=False)
                setattr(self._api, "_version", str(version.get("ApiVersion", MIN_API)))  # noqa: B010
            except BaseException:
                self._api.close()
                raise
        self.info = EngineInfo(
            host=self.host,
            version=str(version.get("Version", "0")),
            api_version=str(version.get("ApiVersion", "1.41")),
        )

    def kernel(self) -> tuple[int, int]:
        """The engine host's kernel version (major, minor); (0, 0) when unknown."""
        with self._call("engine info"):
            text = str(self._api.info().get("KernelVersion", ""))
        parts = text.split(".")
        try:
            return int(parts[0]), int(parts[1].split("-")[0])
        except (IndexError, ValueError):
            return 0, 0

    @classmethod
    def from_config(cls, engine: EngineConfig, host: str | None = None) -> DockerEngine:
        """The engine of a config's `engine:` section (host overrides engine.host)."""
        tls = tls_material(engine.tls, "engine.tls")
        return cls(
            host or engine.host,
            tls=tls,
            insecure_plain_tcp=engine.insecure_plain_tcp,
            call_timeout=engine.call_timeout,
            origin="--engine" if host else "engine.host",
        )

    @property
    def call_timeout(self) -> float:
        return self.bound.seconds

    def stop_talking(self, why: GreenroomError) -> None:
        """Make no more calls to this engine in this command: each fails at once with `why`."""
        self.bound.stop(why)

    def ping(self, seconds: float) -> None:
        """GET /_ping within `seconds` (no bound check: it asks whether the engine answers)."""
        get = getattr(self._api, "_get")  # noqa: B009 (the SDK's request helper, for its timeout)
        resp = get(f"{self._api.base_url}/_ping", timeout=seconds)
        resp.raise_for_status()

    def engine_time(self) -> datetime:
        """The engine's own clock now (GET /info SystemTime): leases are judged by it."""
        with self._call("engine clock"):
            text = str(self._api.info().get("SystemTime", ""))
        found = rfc3339(text)
        if found is None:
            raise EngineError(f"the engine's clock is unreadable ({text!r})", where=self.host)
        return found

    @property
    def is_local(self) -> bool:
        """The engine's socket is on this machine (unix://): /proc and netns are usable.
        False for ssh:// and tcp:// engines, even when they happen to run here."""
        return self.endpoint.is_local

    def close(self) -> None:
        self._api.close()

    # -- observe ---------------------------------------------------------------------

    def container(self, ref: str) -> ContainerInfo:
        with self._call(f"container {ref}"):
            return parse_container(self._api.inspect_container(ref))

    def network(self, ref: str) -> NetworkInfo:
        with self._call(f"network {ref}"):
            return parse_network(self._api.inspect_network(ref))

    def networks(self) -> list[NetworkInfo]:
        """Every network, from one list request (it carries IPAM, flags and labels)."""
        with self._call("list networks"):
            return [parse_network(doc) for doc in self._api.networks()]

    def summaries(self, *, label: list[str]) -> list[ContainerInfo]:
        """Containers (running or not) from one list request, without inspecting each."""
        with self._call("list containers"):
            return [
                parse_container_summary(d) for d in self._api.containers(all=True, filters={"label": label})
            ]

    def containers(
        self, *, running_only: bool = True, label: str | list[str] | None = None, name: str | None = None
    ) -> list[ContainerInfo]:
        filters: dict[str, Any] = {}
        if label:
            filters["label"] = [label] if isinstance(label, str) else label
        if name:
            filters["name"] = [name]
        with self._call("list containers"):
            found = []
            for summary in self._api.containers(all=not running_only, filters=filters):
                try:
                    found.append(parse_container(self._api.inspect_container(summary["Id"])))
                except docker.errors.NotFound:
                    continue  # removed between list and inspect
            return found

    # -- act -------------------------------------------------------------------------

    def connect_network(
        self,
        container: str,
        network: str,
        *,
        aliases: Sequence[str] = (),
        gw_priority: int | None = None,
        ipv4: str | None = None,
    ) -> None:
        """POST /networks/{id}/connect. GwPriority goes in the raw body: the SDK lacks it."""
        endpoint: dict[str, Any] = {}
        if aliases:
            endpoint["Aliases"] = list(aliases)
        if gw_priority is not None and self.info.rules.gw_priority:
            endpoint["GwPriority"] = gw_priority
        if ipv4:
            endpoint["IPAMConfig"] = {"IPv4Address": ipv4}
        body = {"Container": container, "EndpointConfig": endpoint}
        with self._call(f"connect {container} to {network}"):
            post_json(self._api, f"/networks/{quote(network, safe='')}/connect", body)

    def disconnect(self, container: str, network: str, *, force: bool = False) -> None:
        with self._call(f"disconnect {container} from {network}"):
            self._api.disconnect_container_from_network(container, network, force=force)

    def run_helper(
        self, image: str, command: Sequence[str], *, network_mode: str, timeout: float = 30.0
    ) -> str:
        """Run a short-lived container and return its output; always removes it."""
        with self._call(f"helper container from {image}"):
            self.ensure_image(image)
            created = self._api.create_container(
                image=image,
                command=list(command),
                host_config=self._api.create_host_config(network_mode=network_mode),
                labels={"greenroom.helper": "routes"},
            )
            cid = created["Id"]
            try:
                with self._call(f"start helper {cid[:12]}"):  # translated here: a hang is known at once
                    self._api.start(cid)
                # asked in short bounded looks, not one long wait: a frozen engine is named
                # within the bound, a slow helper gets its `timeout`
                code = poll_until(
                    self._clock, lambda: self._exit_code(cid), timeout=timeout, interval=0.05, cap=0.5
                )
                if code is None:
                    raise EngineError(
                        f"helper container {cid[:12]} did not finish within {timeout:g}s", where=self.host
                    )
                output = self._api.logs(cid, stdout=True, stderr=False)
                if code != 0:
                    errors = self._api.logs(cid, stdout=False, stderr=True)
                    raise EngineError(
                        f"helper container exited {code}: {errors.decode(errors='replace').strip()}",
                        where=self.host,
                        hint=f"the helper image {image} needs sh and cat",
                    )
                return bytes(output).decode()
            finally:
                with contextlib.suppress(GreenroomError), self._call(f"remove helper {cid[:12]}"):
                    self._api.remove_container(cid, force=True)

    def _exit_code(self, cid: str) -> int | None:
        """The helper's exit code once it ended (None while it runs)."""
        with self._call(f"helper container {cid[:12]}"):
            state = self._api.inspect_container(cid).get("State") or {}
        running = state.get("Running") or state.get("Status") == "created"
        return None if running else int(state.get("ExitCode", 1))

    def start_helper(self, image: str, command: Sequence[str], *, network_mode: str) -> str:
        """Start a long-lived helper container (removed by the engine when it exits, and by
        `remove` before that); returns its ID. Its output is read with `follow_logs`."""
        with self._call(f"helper container from {image}"):
            self.ensure_image(image)
            created = self._api.create_container(
                image=image,
                command=list(command),
                host_config=self._api.create_host_config(network_mode=network_mode, auto_remove=True),
                labels={"greenroom.helper": "watch"},
            )
            cid = str(created["Id"])
            try:
                with self._call(f"start helper {cid[:12]}"):
                    self._api.start(cid)
            except BaseException:
                with contextlib.suppress(GreenroomError), self._call(f"remove helper {cid[:12]}"):
                    self._api.remove_container(cid, force=True)
                raise
            return cid

    def state(self, ref: str) -> ContainerState:
        """Whether the container runs, how it ended, its HEALTHCHECK status."""
        with self._call(f"container {ref}"):
            return parse_state(self._api.inspect_container(ref))

    # -- containers --------------------------------------------------------------------

    def create_container(self, spec: ContainerSpec) -> str:
        """POST /containers/create with the raw body (GwPriority, static settings)."""
        body = create_body(spec, gw_priority=self.info.rules.gw_priority)
        with self._call(f"create container {spec.name}"):
            path = f"/containers/create?name={quote(spec.name, safe='')}"
            return str(post_json(self._api, path, body)["Id"])

    def start(self, container: str) -> None:
        with self._call(f"start {container}"):
            self._api.start(container)

    def stop(self, container: str, timeout: float) -> None:
        seconds = max(0, int(timeout))
        with self._call(f"stop {container}", long=seconds + self.bound.seconds):
            self._api.stop(container, timeout=seconds)

    def remove(self, container: str) -> None:
        try:
            with self._call(f"remove {container}"):
                self._api.remove_container(container, force=True)
        except NotFound:
            pass

    def exec(self, container: str, command: Sequence[str], *, runs: float = 0.0) -> tuple[int, str]:
        """Run a command in a running container; returns (exit code, stdout+stderr). `runs`:
        how long the command itself may take (the engine has the bound on top)."""
        limit = self.bound.seconds + runs
        with self._call(f"exec in {container}", long=limit):
            created = self._api.exec_create(container, list(command), stdout=True, stderr=True)
            output = read_exec_output(self._api.exec_start(created["Id"], socket=True), limit)
            code = self._api.exec_inspect(created["Id"]).get("ExitCode")
            return (int(code) if code is not None else -1, output.decode(errors="replace"))

    def logs(self, container: str, *, tail: int = 100, timestamps: bool = False) -> str:
        with self._call(f"logs of {container}"):
            out = self._api.logs(container, tail=tail, timestamps=timestamps)
            return out.decode(errors="replace") if isinstance(out, bytes) else ""

    def follow_logs(self, container: str, *, tail: int = 100, patient: bool = False) -> Iterator[str]:
        """The container's output as it comes. Between two pieces of output the engine has the
        bound (helpers print steadily); `patient`: no limit (a person following the logs)."""
        idle = None if patient else self.bound.seconds
        with self._call(f"logs of {container}", long=idle):
            params = {"stdout": 1, "stderr": 1, "follow": 1, "tail": tail, "timestamps": 0}
            url = f"{self._api.base_url}/v{self._api.api_version}/containers/{quote(container, safe='')}/logs"
            res = getattr(self._api, "_get")(url, params=params, stream=True, timeout=idle)  # noqa: B009
            stream = getattr(self._api, "_get_result")(container, True, res)  # noqa: B009
            finished = False
            try:
                for chunk in stream:
                    yield chunk.decode(errors="replace")
                finished = True
            finally:
                # A reader that stops early must not leave the connection (over ssh: an ssh
                # process) checked out until the garbage collector finds it.
                if not finished:
                    res.close()

    # -- networks, volumes, images ------------------------------------------------------

    def create_network(
        self,
        name: str,
        *,
        subnet: str | None = None,
        internal: bool = False,
        labels: dict[str, str] | None = None,
    ) -> NetworkInfo:
        body: dict[str, Any] = {
            "Name": name,
            "Driver": "bridge",
            "Internal": internal,
            "CheckDuplicate": True,
            "Labels": labels or {},
        }
        if subnet:
            body["IPAM"] = {"Driver": "default", "Config": [{"Subnet": subnet}]}
        try:
            with self._call(f"create network {name}"):
                post_json(self._api, "/networks/create", body)
        except EngineError as exc:
            # "Pool overlaps with other one on this address space" (20.10 and 28): the one
            # place that reads the engine's words; callers see the type
            if type(exc) is EngineError and "overlap" in exc.message.lower():
                raise SubnetOverlap(exc.message, where=exc.where, hint="plan another subnet") from exc
            raise
        return self.network(name)

    def remove_network(self, name: str) -> None:
        try:
            with self._call(f"remove network {name}"):
                self._api.remove_network(name)
        except NotFound:
            pass

    def ensure_volume(self, name: str, labels: dict[str, str]) -> None:
        with self._call(f"volume {name}"):
            self._api.create_volume(name=name, labels=labels)


if TYPE_CHECKING:
    _satisfies: type[protocol.Engine] = DockerEngine  # the adapter is an Engine (checked by mypy)
