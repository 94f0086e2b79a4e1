"""The Docker engine adapter: the one module that talks to the Engine API.

Everything above it sees typed values (engine/model.py) and greenroom errors.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import docker
import docker.errors
import requests.exceptions

from greenroom.engine.model import (
    ContainerInfo,
    EngineInfo,
    NetworkInfo,
    parse_container,
    parse_network,
)
from greenroom.errors import EngineError, EngineUnreachable, NotFound


def post_json(api: docker.APIClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST a raw JSON body (for fields the SDK does not know, such as GwPriority)."""
    url = f"{api.base_url}/v{api.api_version}{path}"
    resp = api.post(url, data=json.dumps(body), headers={"Content-Type": "application/json"})
    try:
        resp.raise_for_status()
    except requests.exceptions.HTTPError as exc:
        raise docker.errors.create_api_error_from_http_exception(exc) from exc
    return dict(resp.json()) if resp.content else {}


def default_host() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


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
        raise EngineError(f"{what}: the engine refused: {exc.explanation}", where=host) from exc
    except (requests.exceptions.RequestException, docker.errors.DockerException) as exc:
        raise EngineUnreachable(
            f"{what}: cannot reach the Docker engine ({exc})",
            where=host,
            hint="is dockerd running? set DOCKER_HOST or pass --host (unix://, ssh://, tcp://)",
        ) from exc


class Engine:
    """One Docker engine, reached over unix, ssh or TLS."""

    def __init__(self, host: str | None = None, *, timeout: int = 60) -> None:
        self.host = host or default_host()
        with _translated(self.host, "connect"):
            self._client = docker.DockerClient(base_url=self.host, version="auto", timeout=timeout)
            self._api = self._client.api
            version = self._client.version()
        self.info = EngineInfo(
            host=self.host,
            version=str(version.get("Version", "0")),
            api_version=str(version.get("ApiVersion", "1.41")),
        )

    @property
    def is_local(self) -> bool:
        return self.host.startswith("unix://") or self.host.startswith("/")

    def close(self) -> None:
        self._client.close()

    # -- observe ---------------------------------------------------------------------

    def container(self, ref: str) -> ContainerInfo:
        with _translated(self.host, f"container {ref}"):
            return parse_container(self._api.inspect_container(ref))

    def network(self, ref: str) -> NetworkInfo:
        with _translated(self.host, f"network {ref}"):
            return parse_network(self._api.inspect_network(ref))

    def networks(self) -> list[NetworkInfo]:
        with _translated(self.host, "list networks"):
            found = []
            for summary in self._api.networks():
                try:
                    found.append(parse_network(self._api.inspect_network(summary["Id"])))
                except docker.errors.NotFound:
                    continue  # removed between list and inspect
            return found

    def containers(self, *, running_only: bool = True, label: str | None = None) -> list[ContainerInfo]:
        filters: dict[str, Any] = {"label": [label]} if label else {}
        with _translated(self.host, "list containers"):
            found = []
            for summary in self._api.containers(all=not running_only, filters=filters):
                try:
                    found.append(parse_container(self._api.inspect_container(summary["Id"])))
                except docker.errors.NotFound:
                    continue  # removed between list and inspect
            return found

    # -- act -------------------------------------------------------------------------

    def connect(
        self,
        container: str,
        network: str,
        *,
        aliases: Sequence[str] = (),
        gw_priority: int | None = None,
    ) -> None:
        """POST /networks/{id}/connect. GwPriority goes in the raw body: the SDK lacks it."""
        endpoint: dict[str, Any] = {}
        if aliases:
            endpoint["Aliases"] = list(aliases)
        if gw_priority is not None:
            endpoint["GwPriority"] = gw_priority
        body = {"Container": container, "EndpointConfig": endpoint}
        with _translated(self.host, f"connect {container} to {network}"):
            post_json(self._api, f"/networks/{quote(network, safe='')}/connect", body)

    def disconnect(self, container: str, network: str, *, force: bool = False) -> None:
        with _translated(self.host, f"disconnect {container} from {network}"):
            self._api.disconnect_container_from_network(container, network, force=force)

    def _ensure_image(self, image: str) -> None:
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
                hint="load an image that has sh and cat onto the engine and name it with "
                     "--helper-image or GREENROOM_HELPER_IMAGE",
            ) from exc

    def run_helper(self, image: str, command: Sequence[str], *, network_mode: str,
                   timeout: float = 30.0) -> str:
        """Run a short-lived container and return its output; always removes it."""
        with _translated(self.host, f"helper container from {image}"):
            self._ensure_image(image)
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

    def raw_inspect(self, ref: str) -> dict[str, Any]:
        with _translated(self.host, f"container {ref}"):
            return dict(self._api.inspect_container(ref))


