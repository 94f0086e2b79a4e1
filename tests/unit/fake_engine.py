"""An in-memory Docker engine for the executor's unit tests (fake_proxy.py and fake_clock.py
beside it): it satisfies the real adapter's protocol (engine/protocol.py).

The engine keeps containers and networks, gives addresses, answers a helper container's
`cat /proc/net/...` with route and socket tables made from the attachments (the default
route on the first network that has a gateway, as Docker's internal networks never take
it), and logs every change in `calls`, the proxy's routing writes included, so a test can
read the order of what was done. `fail(...)` makes a call raise."""

from __future__ import annotations

import ipaddress
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from greenroom.engine.host_access import SEPARATOR
from greenroom.engine.model import (
    Attachment,
    ContainerInfo,
    ContainerSpec,
    ContainerState,
    EngineInfo,
    Health,
    NetworkInfo,
)
from greenroom.engine.net_watch import MARKER
from greenroom.errors import Conflict, EngineError, GreenroomError, NotFound, SubnetOverlap

ROUTE_HEADER = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT"
TCP_HEADER = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
)


def _hex(address: IPv4Address) -> str:
    return f"{int.from_bytes(address.packed, 'little'):08X}"


@dataclass
class Box:
    """A container as the fake engine keeps it."""

    id: str
    name: str
    image: str
    labels: dict[str, str]
    network_mode: str
    attachments: list[Attachment] = field(default_factory=list)
    running: bool = False
    created: str = ""
    started: str = ""

    def info(self) -> ContainerInfo:
        return ContainerInfo(
            self.id,
            self.name,
            self.running,
            4242 if self.running else 0,
            self.network_mode,
            tuple(self.attachments),
            (),
            dict(self.labels),
            self.created,
            self.started,
        )


class FakeEngine:
    host = "fake://engine"

    def __init__(self) -> None:
        self.info = EngineInfo(self.host, "28.5.2", "1.51")
        self.boxes: dict[str, Box] = {}  # by id
        self.nets: dict[str, NetworkInfo] = {}  # by name
        self.calls: list[str] = []
        self.failures: list[tuple[str, str, BaseException]] = []  # (method, name part, error)
        self.health: dict[str, str] = {}  # image -> Docker health status (default healthy)
        self.helper_lines: list[str] = []  # what a probe helper prints
        self.open_connections: dict[str, int] = {}  # "ip:port" -> sockets the proxy has open
        self.socket_table_error: EngineError | None = None  # reading the proxy's sockets fails
        self.hold: tuple[str, threading.Event, threading.Event] | None = None  # see state()
        self.watchers: set[str] = set()  # running table-watch helpers
        self._serial = 0
        self.now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)  # the engine's own clock (engine_time)
        self.call_timeout = 15.0
        self.stopped: GreenroomError | None = None  # stop_talking: every later call raises it

    @property
    def is_local(self) -> bool:
        return False

    # -- failures and lookups ----------------------------------------------------------

    def fail(self, method: str, exc: BaseException, name: str = "") -> None:
        """The next call of `method` whose arguments mention `name` raises `exc`."""
        self.failures.append((method, name, exc))

    def stop_talking(self, why: GreenroomError) -> None:
        self.stopped = self.stopped or why

    def engine_time(self) -> datetime:
        self._check("engine_time")
        return self.now

    def _check(self, method: str, *args: object) -> None:
        if self.stopped is not None:
            raise self.stopped
        text = " ".join(str(a) for a in args)
        for i, (m, name, exc) in enumerate(self.failures):
            if m == method and name in text:
                del self.failures[i]
                raise exc

    def _box(self, ref: str) -> Box:
        box = self.boxes.get(ref) or next((b for b in self.boxes.values() if b.name == ref), None)
        if box is None:
            raise NotFound(f"container {ref}: not found", where=self.host)
        return box

    def _net(self, ref: str) -> NetworkInfo:
        net = self.nets.get(ref) or next((n for n in self.nets.values() if n.id == ref), None)
        if net is None:
            raise NotFound(f"network {ref}: not found", where=self.host)
        return net

    def names(self, **wanted: str) -> set[str]:
        """Names of the containers whose labels have these values."""
        return {b.name for b in self.boxes.values() if all(b.labels.get(k) == v for k, v in wanted.items())}

    def running(self) -> set[str]:
        return {b.name for b in self.boxes.values() if b.running}

    # -- observe -------------------------------------------------------------------------

    def close(self) -> None:
        pass

    def kernel(self) -> tuple[int, int]:
        return (6, 1)

    def container(self, ref: str) -> ContainerInfo:
        self._check("container", ref)
        return self._box(ref).info()

    def state(self, ref: str) -> ContainerState:
        self._check("state", ref)
        box = self._box(ref)
        if self.hold is not None and self.hold[0] in box.name:
            _name, entered, release = self.hold  # a health gate that hangs until released
            entered.set()
            release.wait(10)
        status = self.health.get(box.image, "healthy")
        return ContainerState(
            box.running, None if box.running else 137, "", Health(status, ("probe said " + status,))
        )

    def network(self, ref: str) -> NetworkInfo:
        return self._net(ref)

    def networks(self) -> list[NetworkInfo]:
        return list(self.nets.values())

    def _matching(self, label: str | list[str] | None) -> list[Box]:
        wanted = [label] if isinstance(label, str) else (label or [])
        pairs = [w.split("=", 1) for w in wanted]
        return [b for b in self.boxes.values() if all(b.labels.get(k) == v for k, v in pairs)]

    def summaries(self, *, label: list[str]) -> list[ContainerInfo]:
        return [b.info() for b in self._matching(label)]

    def containers(
        self, *, running_only: bool = True, label: str | list[str] | None = None, name: str | None = None
    ) -> list[ContainerInfo]:
        return [
            b.info()
            for b in self._matching(label)
            if (b.running or not running_only) and (name is None or name in b.name)
        ]

    def logs(self, container: str, *, tail: int = 100, timestamps: bool = False) -> str:
        return f"last words of {container}\n"

    def follow_logs(self, container: str, *, tail: int = 100, patient: bool = False) -> Iterator[str]:
        if container in self.watchers:  # a table watch: the proxy's table, again and again
            while container in self.watchers:
                yield self._sockets() + MARKER + "\n"
            return
        for line in self.helper_lines:
            yield line + "\n"

    def start_helper(self, image: str, command: Sequence[str], *, network_mode: str) -> str:
        self._check("start_helper", network_mode)
        self._box(network_mode.removeprefix("container:"))
        self._serial += 1
        name = f"watch-{self._serial}"
        self.watchers.add(name)
        self.calls.append(f"start_helper {name} {network_mode}")
        return name

    # -- containers ----------------------------------------------------------------------

    def _address(self, net: NetworkInfo, wanted: str | None) -> IPv4Interface:
        subnet = net.subnets[0]
        assert isinstance(subnet, IPv4Network)
        taken = {
            a.ipv4.ip
            for b in self.boxes.values()
            if b.running
            for a in b.attachments
            if a.network == net.name and a.ipv4 is not None
        }
        if wanted is not None:
            if IPv4Address(wanted) in taken:
                raise EngineError(f"Address already in use: {wanted}", where=self.host)
            return IPv4Interface(f"{wanted}/{subnet.prefixlen}")
        hosts = list(subnet.hosts())[1:]
        free = next(h for h in hosts if h not in taken)
        return IPv4Interface(f"{free}/{subnet.prefixlen}")

    def _attach(self, box: Box, network: str, ipv4: str | None, priority: int) -> None:
        net = self._net(network)
        gateway = "" if net.internal else str(next(net.subnets[0].hosts()))
        att = Attachment(net.name, net.id, self._address(net, ipv4), None, gateway, "", priority)
        box.attachments.append(att)

    def create_container(self, spec: ContainerSpec) -> str:
        self._check("create_container", spec.name)
        if any(b.name == spec.name for b in self.boxes.values()):
            raise Conflict(f"create container {spec.name}: name in use", where=self.host)
        self._serial += 1
        cid = f"{self._serial:04d}" + "c" * 60
        box = Box(cid, spec.name, spec.image, dict(spec.labels), spec.network, created=self.now.isoformat())
        if spec.network in self.nets:
            self._attach(box, spec.network, None, spec.gw_priority or 0)
        self.boxes[cid] = box
        self.calls.append(f"create {spec.name}")
        return cid

    def start(self, container: str) -> None:
        self._check("start", container)
        box = self._box(container)
        box.running = box.labels.get("greenroom.role") != "lock"  # a lock's `true` exits at once
        box.started = self.now.isoformat()
        self.calls.append(f"start {box.name}")

    def stop(self, container: str, timeout: float) -> None:
        self._check("stop", container)
        box = self._box(container)
        box.running = False
        self.calls.append(f"stop {box.name}")

    def remove(self, container: str) -> None:
        if container in self.watchers:
            self.watchers.discard(container)
            return
        self._check("remove", container)
        try:
            box = self._box(container)
        except NotFound:
            return
        del self.boxes[box.id]
        self.calls.append(f"remove {box.name}")

    def exec(self, container: str, command: Sequence[str], *, runs: float = 0.0) -> tuple[int, str]:
        return 0, ""

    def put_files(
        self, container: str, directory: str, files: dict[str, bytes], *, mode: int = 0o644
    ) -> None:
        pass

    def get_file(self, container: str, path: str) -> bytes | None:
        return None

    def run_helper(
        self, image: str, command: Sequence[str], *, network_mode: str, timeout: float = 30.0
    ) -> str:
        script = " ".join(command)
        self._check("run_helper", network_mode, script)
        if network_mode == "host":
            return ROUTE_HEADER + "\n"
        box = self._box(network_mode.removeprefix("container:"))
        parts = []
        for name in re.findall(r"/proc/net/(\w+)", script):
            if name == "route":
                parts.append(self._routes(box))
            elif name == "tcp":
                parts.append(self._sockets())
            else:
                parts.append("")
        return "".join(p + SEPARATOR + "\n" for p in parts)

    def _routes(self, box: Box) -> str:
        lines = [ROUTE_HEADER]
        for i, att in enumerate(box.attachments):
            if att.ipv4 is not None:
                net = att.ipv4.network
                lines.append(
                    f"eth{i}\t{_hex(net.network_address)}\t00000000\t0001\t0\t0\t0\t{_hex(net.netmask)}\t0\t0\t0"
                )
        holder = next(((i, a) for i, a in enumerate(box.attachments) if a.gateway4), None)
        if holder is not None:
            i, att = holder
            gw = IPv4Address(att.gateway4)
            lines.append(f"eth{i}\t00000000\t{_hex(gw)}\t0003\t0\t0\t0\t00000000\t0\t0\t0")
        return "\n".join(lines) + "\n"

    def _sockets(self) -> str:
        if self.socket_table_error is not None:
            raise self.socket_table_error
        lines = [TCP_HEADER]
        n = 0
        for target, count in list(self.open_connections.items()):  # a watch reads it meanwhile
            host, _, port = target.partition(":")
            for _ in range(count):
                rem = f"{_hex(IPv4Address(host))}:{int(port):04X}"
                lines.append(f"{n:4d}: 0100000A:9C40 {rem} 01 00000000:00000000 00:00000000 00000000 0 0 1")
                n += 1
        return "\n".join(lines) + "\n"

    # -- networks, images ------------------------------------------------------------------

    def connect_network(
        self,
        container: str,
        network: str,
        *,
        aliases: Sequence[str] = (),
        gw_priority: int | None = None,
        ipv4: str | None = None,
    ) -> None:
        self._check("connect", container, network)
        box = self._box(container)
        self._attach(box, network, ipv4, gw_priority or 0)
        self.calls.append(f"connect {box.name} {self._net(network).name}")

    def disconnect(self, container: str, network: str, *, force: bool = False) -> None:
        self._check("disconnect", container, network)
        box = self._box(container)
        name = self._net(network).name
        if not any(a.network == name for a in box.attachments):
            raise EngineError(f"container {box.name} is not connected to {name}", where=self.host)
        box.attachments = [a for a in box.attachments if a.network != name]
        self.calls.append(f"disconnect {box.name} {name}")

    def create_network(
        self,
        name: str,
        *,
        subnet: str | None = None,
        internal: bool = False,
        labels: dict[str, str] | None = None,
    ) -> NetworkInfo:
        self._check("create_network", name, subnet)
        if name in self.nets:
            raise Conflict(f"network {name} exists", where=self.host)
        net = ipaddress.ip_network(subnet or "172.30.0.0/24")
        if any(net.overlaps(s) for n in self.nets.values() for s in n.subnets):
            raise SubnetOverlap("Pool overlaps with other one on this address space", where=self.host)
        info = NetworkInfo(f"net-{name}", name, "bridge", internal, False, (net,), dict(labels or {}))
        self.nets[name] = info
        self.calls.append(f"create_network {name}")
        return info

    def remove_network(self, name: str) -> None:
        self.nets.pop(name, None)

    def ensure_volume(self, name: str, labels: dict[str, str]) -> None:
        pass

    def ensure_image(self, image: str, *, hint: str = "") -> None:
        pass

    def image_id(self, ref: str) -> str | None:
        return f"{ref}@sha256:{'0' * 64}"

    def pull(self, ref: str, progress: Callable[[str], None] | None = None) -> None:
        pass
