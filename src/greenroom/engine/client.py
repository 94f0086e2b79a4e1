"""The Docker engine adapter: the one module that talks to the Engine API.

Everything above it sees typed values (engine/model.py) and greenroom errors.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tarfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import docker
import docker.errors
import requests.exceptions

from greenroom.engine import protocol
from greenroom.engine.address import EngineAddress, TlsMaterial, refuse_plain_tcp, resolve_address
from greenroom.engine.model import (
    ContainerInfo,
    ContainerSpec,
    ContainerState,
    EngineInfo,
    NetworkInfo,
    parse_container,
    parse_container_summary,
    parse_network,
    parse_state,
)
from greenroom.engine.ssh_command import ssh_command_for
from greenroom.engine.tls import tls_config, tls_errors, tls_material
from greenroom.engine.transport import SshAdapter
from greenroom.errors import (
    Conflict,
    EngineError,
    EngineUnreachable,
    NotFound,
    SubnetOverlap,
)

if TYPE_CHECKING:
    from greenroom.config.engine import EngineConfig

MIN_API = "1.41"  # what the client speaks until the engine says what it speaks (Engine 20.10)
SSH_BASE_URL = "http+docker://greenroom-ssh"  # not http+docker://ssh: the SDK special-cases that
LOCAL_SOCKET_PLACEHOLDER = "unix:///nonexistent/greenroom-ssh-placeholder.sock"  # never connected


def _api_client(endpoint: EngineAddress, timeout: int, environ: Mapping[str, str]) -> docker.APIClient:
    """An APIClient for the endpoint, the API version not yet negotiated."""
    if endpoint.scheme == "ssh":
        # The SDK's own ssh transport needs paramiko and ignores most of ~/.ssh/config:
        # mount greenroom's OpenSSH transport (engine/transport.py) in its place.
        adapter = SshAdapter(endpoint.host, argv=ssh_command_for(endpoint.host, environ), timeout=timeout)
        api = docker.APIClient(base_url=LOCAL_SOCKET_PLACEHOLDER, version=MIN_API, timeout=timeout)
        api.close()  # drops the unix adapter the constructor mounted; nothing was connected
        api.mount("http+docker://", adapter)
        setattr(api, "_custom_adapter", adapter)  # noqa: B010 (what the SDK names it)
        api.base_url = SSH_BASE_URL
        return api
    if endpoint.tls is not None and endpoint.is_tcp:
        api = docker.APIClient(
            base_url=endpoint.host, version=MIN_API, timeout=timeout, tls=tls_config(endpoint.tls)
        )
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace the session's CA (its
        # verify=True-or-None merge): the engine's CA would be ignored whenever they are set.
        api.trust_env = False
        return api
    return docker.APIClient(base_url=endpoint.host, version=MIN_API, timeout=timeout)


def post_json(api: docker.APIClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST a raw JSON body (for fields the SDK does not know, such as GwPriority)."""
    url = f"{api.base_url}/v{api.api_version}{path}"
    resp = api.post(url, data=json.dumps(body), headers={"Content-Type": "application/json"})
    try:
        resp.raise_for_status()
    except requests.exceptions.HTTPError as exc:
        raise docker.errors.create_api_error_from_http_exception(exc) from exc
    return dict(resp.json()) if resp.content else {}


def default_host(environ: Mapping[str, str] | None = None) -> str:
    """DOCKER_HOST, else the current Docker context's endpoint, else the local socket."""
    return resolve_address(None, environ=environ).host


@contextmanager
def _translated(host: str, what: str) -> Iterator[None]:
    try:
        yield
    except docker.errors.NotFound as exc:
        raise NotFound(
            f"{what}: not found ({exc.explanation})",
            where=host,
            hint="check the name with `docker ps -a` / `docker network ls` on that engine",
        ) from exc
    except docker.errors.APIError as exc:
        if exc.status_code == 409:
            raise Conflict(f"{what}: {exc.explanation}", where=host) from exc
        raise EngineError(f"{what}: the engine refused: {exc.explanation}", where=host) from exc
    except (requests.exceptions.RequestException, docker.errors.DockerException) as exc:
        raise EngineUnreachable(
            f"{what}: cannot reach the Docker engine ({exc})",
            where=host,
            hint="is dockerd running? set DOCKER_HOST or pass --host (unix://, ssh://, tcp://)",
        ) from exc


class DockerEngine:
    """One Docker engine, reached over a unix socket, ssh (the user's OpenSSH client) or TLS."""

    def __init__(
        self,
        host: str | None = None,
        *,
        timeout: int = 60,
        tls: TlsMaterial | None = None,
        insecure_plain_tcp: bool = False,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self.endpoint = resolve_address(host, tls=tls, environ=env)
        self.host = self.endpoint.host
        refuse_plain_tcp(self.endpoint, allowed=insecure_plain_tcp, environ=env)
        with _translated(self.host, "connect"), tls_errors(self.endpoint):
            self._api = _api_client(self.endpoint, timeout, env)
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
        with _translated(self.host, "engine info"):
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
        return cls(host or engine.host, tls=tls, insecure_plain_tcp=engine.insecure_plain_tcp)

    @property
    def is_local(self) -> bool:
        """The engine's socket is on this machine (unix://): /proc and netns are usable.
        False for ssh:// and tcp:// engines, even when they happen to run here."""
        return self.endpoint.is_local

    def close(self) -> None:
        self._api.close()

    # -- observe ---------------------------------------------------------------------

    def container(self, ref: str) -> ContainerInfo:
        with _translated(self.host, f"container {ref}"):
            return parse_container(self._api.inspect_container(ref))

    def network(self, ref: str) -> NetworkInfo:
        with _translated(self.host, f"network {ref}"):
            return parse_network(self._api.inspect_network(ref))

    def networks(self) -> list[NetworkInfo]:
        """Every network, from one list request (it carries IPAM, flags and labels)."""
        with _translated(self.host, "list networks"):
            return [parse_network(doc) for doc in self._api.networks()]

    def summaries(self, *, label: list[str]) -> list[ContainerInfo]:
        """Containers (running or not) from one list request, without inspecting each."""
        with _translated(self.host, "list containers"):
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
        with _translated(self.host, "list containers"):
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
        with _translated(self.host, f"connect {container} to {network}"):
            post_json(self._api, f"/networks/{quote(network, safe='')}/connect", body)

    def disconnect(self, container: str, network: str, *, force: bool = False) -> None:
        with _translated(self.host, f"disconnect {container} from {network}"):
            self._api.disconnect_container_from_network(container, network, force=force)

    def ensure_image(self, image: str, *, hint: str = "") -> None:
        """The image on the engine, pulled if missing; `hint` says what to do when it can't be."""
        with _translated(self.host, f"image {image}"):
            try:
                self._api.inspect_image(image)  # type: ignore[no-untyped-call]
                return
            except docker.errors.ImageNotFound:
                pass
            try:
                self._api.pull(image)
            except docker.errors.APIError as exc:
                raise NotFound(
                    f"image {image} is not on the engine and could not be pulled ({exc.explanation})",
                    where=self.host,
                    hint=hint
                    or "load an image that has sh and cat onto the engine and name it with "
                    "--helper-image or GREENROOM_HELPER_IMAGE",
                ) from exc

    def run_helper(
        self, image: str, command: Sequence[str], *, network_mode: str, timeout: float = 30.0
    ) -> str:
        """Run a short-lived container and return its output; always removes it."""
        with _translated(self.host, f"helper container from {image}"):
            self.ensure_image(image)
            created = self._api.create_container(
                image=image,
                command=list(command),
                host_config=self._api.create_host_config(network_mode=network_mode),
                labels={"greenroom.helper": "routes"},
            )
            cid = created["Id"]
            try:
                self._api.start(cid)
                result = self._api.wait(cid, timeout=int(timeout))
                output = self._api.logs(cid, stdout=True, stderr=False)
                if result.get("StatusCode", 1) != 0:
                    errors = self._api.logs(cid, stdout=False, stderr=True)
                    raise EngineError(
                        f"helper container exited {result.get('StatusCode')}: "
                        f"{errors.decode(errors='replace').strip()}",
                        where=self.host,
                        hint=f"the helper image {image} needs sh and cat",
                    )
                return bytes(output).decode()
            finally:
                self._api.remove_container(cid, force=True)

    def start_helper(self, image: str, command: Sequence[str], *, network_mode: str) -> str:
        """Start a long-lived helper container (removed by the engine when it exits, and by
        `remove` before that); returns its ID. Its output is read with `follow_logs`."""
        with _translated(self.host, f"helper container from {image}"):
            self.ensure_image(image)
            created = self._api.create_container(
                image=image,
                command=list(command),
                host_config=self._api.create_host_config(network_mode=network_mode, auto_remove=True),
                labels={"greenroom.helper": "watch"},
            )
            cid = str(created["Id"])
            try:
                self._api.start(cid)
            except BaseException:
                with contextlib.suppress(docker.errors.DockerException):
                    self._api.remove_container(cid, force=True)
                raise
            return cid

    def state(self, ref: str) -> ContainerState:
        """Whether the container runs, how it ended, its HEALTHCHECK status."""
        with _translated(self.host, f"container {ref}"):
            return parse_state(self._api.inspect_container(ref))

    # -- containers --------------------------------------------------------------------

    def create_container(self, spec: ContainerSpec) -> str:
        """POST /containers/create with the raw body (GwPriority, static settings)."""
        endpoint: dict[str, Any] = {}
        if spec.aliases:
            endpoint["Aliases"] = list(spec.aliases)
        if spec.gw_priority is not None and self.info.rules.gw_priority:
            endpoint["GwPriority"] = spec.gw_priority
        host_config: dict[str, Any] = {
            "NetworkMode": spec.network,
            "RestartPolicy": {"Name": spec.restart},
            "Binds": list(spec.volumes),
            "PortBindings": {
                f"{p.container_port}/tcp": [{"HostIp": p.bind_ip, "HostPort": str(p.host_port)}]
                for p in spec.ports
            },
        }
        if spec.sysctls:
            host_config["Sysctls"] = dict(spec.sysctls)
        if spec.memory:
            host_config["Memory"] = spec.memory
        if spec.nano_cpus:
            host_config["NanoCpus"] = spec.nano_cpus
        body: dict[str, Any] = {
            "Image": spec.image,
            "Env": [f"{k}={v}" for k, v in spec.env.items()],
            "Labels": dict(spec.labels),
            "ExposedPorts": {f"{p.container_port}/tcp": {} for p in spec.ports},
            "HostConfig": host_config,
        }
        if not spec.network.startswith("container:"):  # joining another's namespace: no endpoint
            body["NetworkingConfig"] = {"EndpointsConfig": {spec.network: endpoint}}
        if spec.command is not None:
            body["Cmd"] = list(spec.command)
        if spec.stop_timeout is not None:
            body["StopTimeout"] = spec.stop_timeout
        if spec.stop_signal:
            body["StopSignal"] = spec.stop_signal
        if spec.tty or spec.stdin_open:
            body.update(Tty=spec.tty, OpenStdin=spec.stdin_open, StdinOnce=spec.stdin_open)
        with _translated(self.host, f"create container {spec.name}"):
            path = f"/containers/create?name={quote(spec.name, safe='')}"
            return str(post_json(self._api, path, body)["Id"])

    def start(self, container: str) -> None:
        with _translated(self.host, f"start {container}"):
            self._api.start(container)

    def stop(self, container: str, timeout: float) -> None:
        with _translated(self.host, f"stop {container}"):
            self._api.stop(container, timeout=max(0, int(timeout)))

    def remove(self, container: str) -> None:
        try:
            with _translated(self.host, f"remove {container}"):
                self._api.remove_container(container, force=True)
        except NotFound:
            pass

    def exec(self, container: str, command: Sequence[str]) -> tuple[int, str]:
        """Run a command in a running container; returns (exit code, stdout+stderr)."""
        with _translated(self.host, f"exec in {container}"):
            created = self._api.exec_create(container, list(command), stdout=True, stderr=True)
            output = self._api.exec_start(created["Id"])
            code = self._api.exec_inspect(created["Id"]).get("ExitCode")
            text = output.decode(errors="replace") if isinstance(output, bytes) else ""
            return (int(code) if code is not None else -1, text)

    def logs(self, container: str, *, tail: int = 100, timestamps: bool = False) -> str:
        with _translated(self.host, f"logs of {container}"):
            out = self._api.logs(container, tail=tail, timestamps=timestamps)
            return out.decode(errors="replace") if isinstance(out, bytes) else ""

    def follow_logs(self, container: str, *, tail: int = 100) -> Iterator[str]:
        with _translated(self.host, f"logs of {container}"):
            stream = self._api.logs(container, tail=tail, stream=True, follow=True)
            finished = False
            try:
                for chunk in stream:
                    yield chunk.decode(errors="replace")
                finished = True
            finally:
                # A reader that stops early must not leave the connection (over ssh: an ssh
                # process) checked out until the garbage collector finds it.
                response = getattr(stream, "_response", None)
                if response is not None and not finished:
                    response.close()

    def put_files(
        self, container: str, directory: str, files: dict[str, bytes], *, mode: int = 0o644
    ) -> None:
        """Copy files (with `mode`) into a container (created or running) through the
        engine; the directory is created when missing."""
        buf = io.BytesIO()
        base = directory.strip("/")
        now = int(time.time())
        with tarfile.open(fileobj=buf, mode="w") as tar:
            parts = base.split("/")
            for i in range(1, len(parts) + 1):
                info = tarfile.TarInfo("/".join(parts[:i]))
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                info.mtime = now
                tar.addfile(info)
            for name, data in files.items():
                info = tarfile.TarInfo(f"{base}/{name}")
                info.size = len(data)
                info.mode = mode
                info.mtime = now
                tar.addfile(info, io.BytesIO(data))
        with _translated(self.host, f"copy files into {container}:{directory}"):
            if not self._api.put_archive(container, "/", buf.getvalue()):
                raise EngineError(f"copy files into {container}:{directory} failed", where=self.host)

    def get_file(self, container: str, path: str) -> bytes | None:
        """One file out of a container through the engine's archive API; None if missing."""
        try:
            with _translated(self.host, f"read {container}:{path}"):
                stream, _ = self._api.get_archive(container, path)
                data = b"".join(stream)
        except NotFound:
            return None
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = tar.next()
            f = tar.extractfile(member) if member is not None else None
            return f.read() if f is not None else None

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
            with _translated(self.host, f"create network {name}"):
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
            with _translated(self.host, f"remove network {name}"):
                self._api.remove_network(name)
        except NotFound:
            pass

    def ensure_volume(self, name: str, labels: dict[str, str]) -> None:
        with _translated(self.host, f"volume {name}"):
            self._api.create_volume(name=name, labels=labels)

    def image_id(self, ref: str) -> str | None:
        try:
            with _translated(self.host, f"image {ref}"):
                doc = self._api.inspect_image(ref)  # type: ignore[no-untyped-call]
        except NotFound:
            return None
        digests = doc.get("RepoDigests") or []
        return str(digests[0] if digests else doc["Id"])

    def image_inspect(self, ref: str) -> dict[str, Any] | None:
        """The engine's inspect document of an image, None when it is not on the engine."""
        try:
            with _translated(self.host, f"image {ref}"):
                return dict(self._api.inspect_image(ref))  # type: ignore[no-untyped-call]
        except NotFound:
            return None

    def pull(self, ref: str, progress: Callable[[str], None] | None = None) -> None:
        with _translated(self.host, f"pull {ref}"):
            for event in self._api.pull(ref, stream=True, decode=True):
                if "error" in event:
                    raise NotFound(
                        f"pull {ref}: {event['error']}",
                        where=self.host,
                        hint="check the image name, or load the image onto the engine",
                    )
                if progress and event.get("status"):
                    progress(f"{event.get('id', '')} {event['status']} {event.get('progress', '')}".strip())


if TYPE_CHECKING:
    _satisfies: type[protocol.Engine] = DockerEngine  # the adapter is an Engine (checked by mypy)
