"""The typed steps a plan is made of. Each says what it will do in one line (`plan`,
`deploy --dry-run`); the executor performs exactly these, in order."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from greenroom.engine.model import ContainerSpec
from greenroom.gateway.decision import AttachDecision
from greenroom.proxy.model import Routed
from greenroom.tls.model import Material


def decided(*decisions: AttachDecision) -> str:
    """The gateway decision of one or more containers joining a network, said once when
    they are alike (a release's replicas), else per container."""
    said = {d.describe() for d in decisions}
    if len(said) == 1:
        return said.pop()
    return "; ".join(f"{d.container}: {d.describe()}" for d in decisions)


@dataclass(frozen=True)
class ProbeSpec:
    kind: str  # http | tcp | docker
    port: int
    path: str = "/"
    status: int = 200
    timeout: float = 2.0
    interval: float = 1.0
    passes: int = 3
    deadline: float = 60.0
    steady: float = 0.0  # running: how long each container must keep running with no restart


@dataclass(frozen=True)
class EnsureNetwork:
    name: str
    subnet: str
    internal: bool
    labels: dict[str, str] = field(default_factory=dict, compare=False)

    def describe(self) -> str:
        kind = "internal " if self.internal else ""
        return f"create {kind}network {self.name} ({self.subnet})"


class ProxyAction(Enum):
    CREATE = "create"  # none runs: create and start it
    REBUILD = "rebuild"  # a new nginx beside the running one (new image, proxy reboot); or create
    RECONFIGURE = "reconfigure"  # apply a new nginx config to the running one
    RECREATE = "recreate"  # a new holder, to publish other ports: they refuse connections meanwhile


@dataclass(frozen=True)
class EnsureProxy:
    action: ProxyAction
    reason: str
    pools: tuple[str, ...] = ()  # upstream pools the config declares (app address:port)
    seen: tuple[str, ...] = ()  # the live config's pools when planned

    def describe(self) -> str:
        said = {
            ProxyAction.REBUILD: "start a new nginx beside the proxy's, then retire the old one "
            "(no port closes)",
            ProxyAction.CREATE: "create and start the proxy",
            ProxyAction.RECONFIGURE: "apply the proxy's new nginx config (retire the old workers' "
            "connections, reload)",
            ProxyAction.RECREATE: "recreate the proxy's holder with proxy.ports (its ports refuse new "
            "connections for a moment; the routing state stays in its volume)",
        }[self.action]
        return f"{said} ({self.reason})"


@dataclass(frozen=True)
class ProxyJoin:
    network: str
    address: str
    gateway: AttachDecision

    def describe(self) -> str:
        return (
            f"attach the proxy to {self.network} as {self.address} with {decided(self.gateway)} "
            "(verified; its ports stay with its gateway)"
        )


@dataclass(frozen=True)
class InstallCertificate:
    material: Material  # its key material never prints (Material.pem is repr=False)

    def describe(self) -> str:
        m = self.material
        return (
            f"install the TLS certificate for {', '.join(m.hosts)} in the proxy, no reload "
            f"({m.source}: {', '.join(m.cert.names)}, issuer {m.cert.issuer}, expires "
            f"{m.cert.not_after:%Y-%m-%d}; skipped if installed)"
        )


@dataclass(frozen=True)
class RemoveRelease:
    app: str
    deploy: str
    containers: tuple[str, ...]
    reason: str

    def describe(self) -> str:
        return f"remove {self.deploy} ({', '.join(self.containers)}): {self.reason}"


@dataclass(frozen=True)
class PullImage:
    image: str

    def describe(self) -> str:
        return f"make sure image {self.image} is on the engine (pull if missing)"


@dataclass(frozen=True)
class CreateRelease:
    app: str
    deploy: str
    color: str
    specs: tuple[ContainerSpec, ...]

    def describe(self) -> str:
        names = ", ".join(s.name for s in self.specs)
        return f"start {self.color} ({names}) from {self.specs[0].image} on {self.specs[0].network} only"


@dataclass(frozen=True)
class RunRelease:
    """The app's release command in a one-off container of the new image (spec), joined to
    the extra networks before it starts (so its gateway never moves), before any switch."""

    app: str
    deploy: str
    spec: ContainerSpec
    networks: tuple[str, ...]
    timeout: float
    rerun: bool = False  # --rerun-release: run it even if it already ran for this image

    def describe(self) -> str:
        words = " ".join(self.spec.command or ())
        once = (
            "again (--rerun-release)"
            if self.rerun
            else "once per image (skipped when it already ran for this image)"
        )
        return (
            f"release: run `{words}` in a one-off container of {self.spec.image}, {once}, "
            f"within {self.timeout:g}s; it fails: nothing switches"
        )


@dataclass(frozen=True)
class AttachNetworks:
    app: str
    deploy: str
    containers: tuple[str, ...]
    networks: tuple[str, ...]
    gateway: tuple[AttachDecision, ...]  # for each container, each network in order

    def describe(self) -> str:
        each = "; ".join(f"{n} with {decided(*self.decisions(n))}" for n in self.networks)
        return f"attach the extra networks: {each} (verified)"

    def decisions(self, network: str) -> tuple[AttachDecision, ...]:
        return tuple(d for d in self.gateway if d.network == network)


@dataclass(frozen=True)
class StartRelease:
    app: str
    deploy: str
    containers: tuple[str, ...]

    def describe(self) -> str:
        return f"start retained {self.deploy} ({', '.join(self.containers)}) on its back network only"


@dataclass(frozen=True)
class HealthGate:
    app: str
    deploy: str
    containers: tuple[str, ...]
    network: str
    probe: ProbeSpec

    def describe(self) -> str:
        p = self.probe
        what = {
            "http": f"GET {p.path} -> {p.status}",
            "tcp": f"TCP :{p.port}",
            "docker": "Docker HEALTHCHECK healthy",
            "running": f"each container keeps running for {p.steady:g}s with no restart",
        }[p.kind]
        if p.kind == "running":
            return f"health gate: {what}, within {p.deadline:g}s"
        return (
            f"health gate: {what}, {p.passes} passes in a row, every {p.interval:g}s, within {p.deadline:g}s"
        )


@dataclass(frozen=True)
class AttachFront:
    app: str
    deploy: str
    containers: tuple[str, ...]
    network: str
    addresses: tuple[str, ...]
    gateway: tuple[AttachDecision, ...]  # one per container

    def describe(self) -> str:
        pairs = ", ".join(f"{c}={a}" for c, a in zip(self.containers, self.addresses, strict=True))
        return f"attach {self.network} ({pairs}) with {decided(*self.gateway)} (verified)"


@dataclass(frozen=True)
class Switch:
    routed: Routed
    previous: Routed | None

    def describe(self) -> str:
        r = self.routed
        if r.maintenance:
            return f"put {r.app} in maintenance (503 page)"
        if self.previous is not None and self.previous.maintenance and r.deploy == self.previous.deploy:
            return f"take {r.app} out of maintenance"
        if r.is_record:
            return f"record {r.deploy} ({r.version}) as {r.app}'s live release (a worker: no route)"
        return f"switch {r.app} to {r.color} {r.version} ({' '.join(r.targets)}), atomically, no reload"


@dataclass(frozen=True)
class Route:
    """A routing change short of a switch: stage a color, change a canary's weight, stop
    routing to a staged color. `undo`: a failure later in the plan routes back to `previous`."""

    routed: Routed
    previous: Routed | None
    what: str
    undo: bool = True

    def describe(self) -> str:
        return f"{self.what}, atomically, no reload"


@dataclass(frozen=True)
class Confirm:
    app: str
    host: str
    path: str
    status: int | None
    targets: tuple[str, ...]

    def describe(self) -> str:
        return f"confirm through the proxy that only the new version answers (Host: {self.host})"


@dataclass(frozen=True)
class Drain:
    app: str
    containers: tuple[str, ...]
    port: int
    network: str
    timeout: float

    def describe(self) -> str:
        return (
            f"drain {', '.join(self.containers)}: wait for its connections from the proxy to end "
            f"(at most {self.timeout:g}s)"
        )


@dataclass(frozen=True)
class StopRelease:
    app: str
    deploy: str
    containers: tuple[str, ...]
    timeout: float
    front: str
    reason: str
    restart_on_failure: bool = False  # a singleton's old version, stopped before the new one starts

    def describe(self) -> str:
        return (
            f"stop {self.deploy} ({', '.join(self.containers)}) gracefully ({self.timeout:g}s): {self.reason}"
        )


Step = (
    EnsureNetwork
    | EnsureProxy
    | ProxyJoin
    | InstallCertificate
    | RemoveRelease
    | PullImage
    | RunRelease
    | CreateRelease
    | AttachNetworks
    | StartRelease
    | HealthGate
    | AttachFront
    | Switch
    | Route
    | Confirm
    | Drain
    | StopRelease
)


@dataclass(frozen=True)
class Plan:
    app: str
    action: str
    deploy: str | None
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = ()

    @property
    def switches(self) -> bool:
        return any(isinstance(s, Switch) for s in self.steps)
