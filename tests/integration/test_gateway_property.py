"""The gateway model against the real engines: random networks, random joins and leaves.

After every connect and disconnect the container's real routes (read from the kernel)
must show the default route where the model says. GREENROOM_PROPERTY_CASES sets the
number of cases per engine (the default test command runs a bounded number;
`scripts/soak-gateway` runs thousands).
"""

from __future__ import annotations

import os
import string
from dataclasses import dataclass

import docker.errors
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greenroom.engine.client import DockerEngine
from greenroom.engine.host_access import HostAccess
from greenroom.gateway.doctor import actual_gateway
from greenroom.gateway.rules import Endpoint, Gateway, Sandbox
from tests.bed import BedEngine, scratch, uid

CASES = int(os.environ.get("GREENROOM_PROPERTY_CASES", "15"))
NAME_CHARS = string.ascii_letters + string.digits + "_-."


@dataclass(frozen=True)
class NetSpec:
    stem: str
    internal: bool
    kind: str  # "v4" | "dual" | "v6only"
    priority: int


def net_specs(bed: BedEngine) -> st.SearchStrategy[list[NetSpec]]:
    kinds = ["v4", "dual", "v6only"] if bed.rules.version >= (28,) else ["v4", "dual"]
    prio = st.integers(-3, 3) if bed.gw_priority else st.just(0)
    stem = st.text(NAME_CHARS, min_size=1, max_size=6).filter(lambda s: s[0].isalnum())
    spec = st.builds(NetSpec, stem=stem, internal=st.booleans(), kind=st.sampled_from(kinds), priority=prio)
    return st.lists(spec, min_size=2, max_size=4, unique_by=lambda s: s.stem.lower())


def observed(engine: DockerEngine, cid: str) -> Gateway:
    c = engine.container(cid)
    table = HostAccess(engine).routes(c, via="proc")  # the test runs beside the engine
    return actual_gateway(c, table)


def check_property(bed: BedEngine, specs: list[NetSpec], data: st.DataObject) -> None:
    tag = uid()
    names = [f"{s.stem}{tag}{i}" for i, s in enumerate(specs)]
    order = data.draw(st.permutations(range(len(specs))), label="join order")
    leave = data.draw(st.lists(st.sampled_from(order), unique=True, max_size=len(specs)), label="leave order")
    endpoints = {}
    engine = bed.engine()
    with scratch(bed) as box:
        for i, (spec, name) in enumerate(zip(specs, names, strict=True)):
            v6 = f"fd77:{tag[:4]}:{i}::/64" if spec.kind != "v4" else None
            box.network(name, internal=spec.internal, ipv6_subnet=v6, ipv4=spec.kind != "v6only")
            endpoints[name] = Endpoint(
                name,
                internal=spec.internal,
                gw4=spec.kind != "v6only",
                gw6=spec.kind != "v4",
                priority=spec.priority,
            )
        model = Sandbox(bed.rules)
        first = names[order[0]]
        cid = box.run(f"prop{tag}", first, gw_priority=specs[order[0]].priority if bed.gw_priority else None)
        model = model.join(endpoints[first])
        steps = [f"run on {first}"]
        for idx in order[1:]:
            name = names[idx]
            box.connect(cid, name, specs[idx].priority if bed.gw_priority else None)
            model = model.join(endpoints[name])
            steps.append(f"connect {name}")
            assert observed(engine, cid) == model.gateway(), (steps, model.networks)
        for idx in leave:
            name = names[idx]
            try:
                box.disconnect(cid, name)
            except docker.errors.APIError as exc:  # pragma: no cover - shows the engine's reason
                raise AssertionError(f"disconnect {name}: {exc}") from exc
            model = model.leave(name)
            steps.append(f"disconnect {name}")
            assert observed(engine, cid) == model.gateway(), (steps, model.networks)
    engine.close()


def test_model_predicts_real_gateway(bed: BedEngine) -> None:
    @settings(max_examples=CASES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(specs=net_specs(bed), data=st.data())
    def run(specs: list[NetSpec], data: st.DataObject) -> None:
        check_property(bed, specs, data)

    run()
