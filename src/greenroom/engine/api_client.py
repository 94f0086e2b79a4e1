"""The Docker SDK's APIClient for an endpoint (unix, ssh through OpenSSH, TLS), and raw
JSON requests for fields the SDK does not know."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import docker
import docker.errors
import requests.exceptions

from greenroom.engine.address import EngineAddress
from greenroom.engine.frames import frames
from greenroom.engine.ssh_command import ssh_command_for
from greenroom.engine.tls import tls_config
from greenroom.engine.transport import SshAdapter

MIN_API = "1.41"  # what the client speaks until the engine says what it speaks (Engine 20.10)
SSH_BASE_URL = "http+docker://greenroom-ssh"  # not http+docker://ssh: the SDK special-cases that
LOCAL_SOCKET_PLACEHOLDER = "unix:///nonexistent/greenroom-ssh-placeholder.sock"  # never connected


def api_client(endpoint: EngineAddress, timeout: float, environ: Mapping[str, str]) -> docker.APIClient:
    """An APIClient for the endpoint, the API version not yet negotiated."""
    if endpoint.scheme == "ssh":
        # The SDK's own ssh transport needs paramiko and ignores most of ~/.ssh/config:
        # mount greenroom's OpenSSH transport (engine/transport.py) in its place.
        adapter = SshAdapter(endpoint.host, argv=ssh_command_for(endpoint.host, environ), timeout=timeout)
        api = docker.APIClient(base_url=LOCAL_SOCKET_PLACEHOLDER, version=MIN_API, timeout=timeout)  # type: ignore[arg-type]
        api.close()  # drops the unix adapter the constructor mounted; nothing was connected
        api.mount("http+docker://", adapter)
        setattr(api, "_custom_adapter", adapter)  # noqa: B010 (what the SDK names it)
        api.base_url = SSH_BASE_URL
        return api
    if endpoint.tls is not None and endpoint.is_tcp:
        api = docker.APIClient(
            base_url=endpoint.host,
            version=MIN_API,
            timeout=timeout,  # type: ignore[arg-type]  # a float is fine: requests takes one
            tls=tls_config(endpoint.tls),
        )
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace the session's CA (its
        # verify=True-or-None merge): the engine's CA would be ignored whenever they are set.
        api.trust_env = False
        return api
    return docker.APIClient(base_url=endpoint.host, version=MIN_API, timeout=timeout)  # type: ignore[arg-type]


def post_json(api: docker.APIClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST a raw JSON body (for fields the SDK does not know, such as GwPriority)."""
    url = f"{api.base_url}/v{api.api_version}{path}"
    resp = api.post(url, data=json.dumps(body), headers={"Content-Type": "application/json"})
    try:
        resp.raise_for_status()
    except requests.exceptions.HTTPError as exc:
        raise docker.errors.create_api_error_from_http_exception(exc) from exc
    return dict(resp.json()) if resp.content else {}


def read_exec_output(sock: Any, seconds: float) -> bytes:
    """An exec's output (stdout and stderr frames) from its upgraded socket, within `seconds`
    (the SDK would wait on that socket with no deadline at all): a TimeoutError after them,
    which the bound judges."""
    try:
        pieces = [data for _, data in frames(sock, tty=False, deadline=time.monotonic() + seconds)]
    except TimeoutError:
        raise TimeoutError(f"the exec gave no complete answer within {seconds:g} s") from None
    finally:
        response = getattr(sock, "_response", None)  # the SDK keeps it there: closing it ends the exec's
        if response is not None:  # connection as the SDK's own exec_start does
            response.close()
    return b"".join(pieces)
