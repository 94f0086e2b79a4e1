"""What the rest of greenroom needs of a Docker engine, as a protocol: the real adapter
(engine/client.py) and the unit tests' fake (tests/unit/fake_engine.py) both satisfy it.
It imports no engine SDK: code typed against it stays importable without `docker`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Protocol

from greenroom.engine.model import ContainerInfo, ContainerSpec, ContainerState, EngineInfo, NetworkInfo
from greenroom.errors import GreenroomError


class Engine(Protocol):
    """One Docker engine. Every method raises greenroom's errors (errors.py), never the
    SDK's: NotFound, Conflict (a name taken), SubnetOverlap, EngineUnreachable, EngineError."""

    host: str
    info: EngineInfo

    @property
    def is_local(self) -> bool: ...

    def close(self) -> None: ...

    @property
    def call_timeout(self) -> float:
        """The bound on each call (engine/bound.py); a lock's lease is renewed this often."""
        ...

    def stop_talking(self, why: GreenroomError) -> None:
        """No more calls in this command: each fails at once with `why` (a lost lock lease)."""
        ...

    def engine_time(self) -> datetime:
        """The engine's own clock now."""
        ...

    def kernel(self) -> tuple[int, int]: ...

    # -- observe
    def container(self, ref: str) -> ContainerInfo: ...

    def state(self, ref: str) -> ContainerState: ...

    def network(self, ref: str) -> NetworkInfo: ...

    def networks(self) -> list[NetworkInfo]: ...

    def summaries(self, *, label: list[str]) -> list[ContainerInfo]: ...

    def containers(
        self, *, running_only: bool = True, label: str | list[str] | None = None, name: str | None = None
    ) -> list[ContainerInfo]: ...

    def logs(self, container: str, *, tail: int = 100, timestamps: bool = False) -> str: ...

    def follow_logs(self, container: str, *, tail: int = 100, patient: bool = False) -> Iterator[str]: ...

    # -- containers
    def create_container(self, spec: ContainerSpec) -> str: ...

    def start(self, container: str) -> None: ...

    def stop(self, container: str, timeout: float) -> None: ...

    def remove(self, container: str) -> None: ...

    def exec(self, container: str, command: Sequence[str], *, runs: float = 0.0) -> tuple[int, str]: ...

    def put_files(
        self, container: str, directory: str, files: dict[str, bytes], *, mode: int = 0o644
    ) -> None: ...

    def get_file(self, container: str, path: str) -> bytes | None: ...

    def run_helper(
        self, image: str, command: Sequence[str], *, network_mode: str, timeout: float = 30.0
    ) -> str: ...

    def start_helper(self, image: str, command: Sequence[str], *, network_mode: str) -> str: ...

    # -- networks
    def connect_network(
        self,
        container: str,
        network: str,
        *,
        aliases: Sequence[str] = (),
        gw_priority: int | None = None,
        ipv4: str | None = None,
    ) -> None: ...

    def disconnect(self, container: str, network: str, *, force: bool = False) -> None: ...

    def create_network(
        self,
        name: str,
        *,
        subnet: str | None = None,
        internal: bool = False,
        labels: dict[str, str] | None = None,
    ) -> NetworkInfo: ...

    def remove_network(self, name: str) -> None: ...

    def ensure_volume(self, name: str, labels: dict[str, str]) -> None: ...

    # -- images
    def ensure_image(self, image: str, *, hint: str = "") -> None: ...

    def image_id(self, ref: str) -> str | None: ...

    def pull(self, ref: str, progress: Callable[[str], None] | None = None) -> None: ...
