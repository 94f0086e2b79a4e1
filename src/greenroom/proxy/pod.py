"""The proxy adapter: the pod (a holder and one nginx instance, model.py) on one
host, with no Docker socket in it.

greenroom talks to it only through the engine: files go in with the archive API, and
the admin API (127.0.0.1 in the pod's namespace, one port per instance) is called from
inside that namespace, or with `curl` by exec on a remote engine (proxy/admin.py).
Routing changes (switch, maintenance, new app) are admin calls, never reloads. The nginx
config changes only with the proxy's settings and pools: write aside, `nginx -t`, swap,
retire, reload, confirm. A reboot or an upgrade starts a new instance beside the old one.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from greenroom import labels
from greenroom.clock import Clock, poll_until
from greenroom.engine.model import ContainerInfo
from greenroom.engine.protocol import Engine
from greenroom.errors import GreenroomError, NotFound, ProxyError
from greenroom.proxy import render
from greenroom.proxy.admin import ProxyClient, Reply
from greenroom.proxy.model import (
    INSTANCE_STOP_TIMEOUT,
    OF_PROXY,
    ROLE_NGINX,
    STARTED,
    Instance,
    ProxySpec,
    Routed,
    confirm_targets,
    current,
    unpublished,
)
from greenroom.proxy.tls_conf import TLS_DIR
from greenroom.tls.model import Material

__all__ = ["PROXY_IMAGE_HINT", "Proxy", "ProxySpec", "Routed", "confirm_targets"]

PROXY_IMAGE_HINT = (
    "proxy.image must name an image on the engine (or one it can pull) with nginx, the njs module, "
    "sh and curl: the official nginx image (Debian variant), or Debian's nginx with libnginx-mod-http-js; "
    "`docker load` it where no registry is reachable (docs/deploy.md: Proxy images)"
)
RETIRE_WINDOW = 1.0  # seconds an old generation answers with "Connection: close" before it goes
RETIRE_TRIES = 3
MIGRATE_REQ = (5, 14)  # kernels from 5.14 move requests queued on a closed reuseport listener
# the TLS folder and its files belong to nginx's worker user (the one compiled in), only
OWN_TLS_DIR = (
    "user=$(nginx -V 2>&1 | sed -n 's/.*--user=\\([^ ]*\\).*/\\1/p'); "
    f'chown -R "${{user:-nobody}}" {TLS_DIR} && chmod 700 {TLS_DIR} && chmod 600 {TLS_DIR}/*.pem*'
)


class Proxy:
    def __init__(self, engine: Engine, spec: ProxySpec, clock: Clock, *, direct: bool = True) -> None:
        self.engine = engine
        self.spec = spec
        self.clock = clock
        self.client = ProxyClient(engine, spec.name, direct=direct)
        self._instances: list[Instance] | None = None

    # -- observe -------------------------------------------------------------------

    def container(self) -> ContainerInfo | None:
        """The holder: the pod's namespace, ports and network attachments."""
        try:
            info = self.engine.container(self.spec.name)
        except NotFound:
            return None
        self.client.seen(info)
        return info

    def instances(self, *, refresh: bool = False) -> list[Instance]:
        if self._instances is None or refresh:
            mine = [f"{labels.ROLE}={ROLE_NGINX}", f"{OF_PROXY}={self.spec.name}"]
            return self.note_instances(self.engine.summaries(label=mine))
        return self._instances

    def note_instances(self, listed: list[ContainerInfo]) -> list[Instance]:
        """This proxy's nginx instances among containers just listed."""
        self._instances = [
            i
            for c in listed
            if c.labels.get(labels.ROLE) == ROLE_NGINX and c.labels.get(OF_PROXY) == self.spec.name
            if (i := Instance.from_labels(c.name, c.running, dict(c.labels))) is not None
        ]
        return self._instances

    def admin_port(self) -> int:
        """The serving instance's admin port (an older proxy's: the first)."""
        now = current(self.instances())
        return now.admin_port if now else render.ADMIN_PORT

    def _admin_error(self, method: str, path: str, reply: Reply) -> ProxyError:
        return ProxyError(
            f"proxy admin {method} /greenroom/{path} failed ({reply.status or 'no answer'}): "
            f"{reply.body.strip()}",
            where=f"{self.engine.host} {self.spec.name}",
            hint="`greenroom proxy status` shows the proxy; `greenroom proxy reboot` rebuilds it",
        )

    def admin(
        self,
        method: str,
        path: str,
        body: str | None = None,
        *,
        port: int | None = None,
        idempotent: bool = True,
    ) -> str:
        """One admin call; `idempotent`: it may be sent again when the engine lost its answer."""
        reply = self.client.fetch(
            method, port or self.admin_port(), [f"/greenroom/{path}"], body=body, idempotent=idempotent
        )[0]
        if reply.status != 200:
            raise self._admin_error(method, path, reply)
        return reply.body

    def observe(self) -> tuple[dict[str, Routed], str, frozenset[str]]:
        """The routing state, the live config generation ("" when unknown) and its
        upstream pools, in one batch. A routing state that cannot be read raises ProxyError."""
        state, generation, pools = self.client.fetch(
            "GET",
            self.admin_port(),
            ["/greenroom/state", "/greenroom/generation", "/greenroom/pools"],
        )
        if state.status != 200:
            raise self._admin_error("GET", "state", state)
        doc = json.loads(state.body or "{}")
        live = generation.body.strip() if generation.status == 200 else ""
        pooled = frozenset(pools.body.split()) if pools.status == 200 else frozenset()
        return {name: Routed.from_json(v) for name, v in doc.items()}, live, pooled

    def pools_live(self) -> frozenset[str]:
        reply = self.client.fetch("GET", self.admin_port(), ["/greenroom/pools"], timeout=5)[0]
        return frozenset(reply.body.split()) if reply.status == 200 else frozenset()

    def generation_live(self, port: int | None = None) -> str:
        try:
            reply = self.client.fetch("GET", port or self.admin_port(), ["/greenroom/generation"], timeout=5)[
                0
            ]
        except GreenroomError:
            return ""
        return reply.body.strip() if reply.status == 200 else ""

    # -- routing writes: to every running instance --------------------------------------

    def _to_all(self, method: str, path: str, body: str | None = None) -> None:
        """A routing write reaches every running instance (two run during a reboot). An
        instance that starts meanwhile loads the state files, which the first write
        updated; one listed only afterwards gets the write too."""
        done: set[str] = set()
        for refresh in (False, True):
            for inst in self.instances(refresh=refresh):
                if inst.running and inst.name not in done:
                    self.admin(method, path, body, port=inst.admin_port)
                    done.add(inst.name)
        if not done:  # an older proxy: nginx in the holder
            self.admin(method, path, body)

    def set_app(self, routed: Routed) -> None:
        self._to_all("POST", f"app/{routed.app}", routed.to_json())

    def record(self, app: str, entry: dict[str, Any]) -> None:
        self.admin("POST", f"history/{app}", json.dumps(entry), idempotent=False)  # appends

    def stats(self, app: str) -> dict[str, Any]:
        """APP's counters while a color is staged: {"COLOR|n": requests, ...} (greenroom.js)."""
        doc = json.loads(self.admin("GET", f"stats/{app}") or "{}")
        return doc if isinstance(doc, dict) else {}

    def history(self, app: str) -> list[dict[str, Any]]:
        text = self.admin("GET", f"history/{app}")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def probe(self, host: str, path: str, tries: int) -> list[tuple[int, str]]:
        """`tries` requests through the proxy's own listener: (status, upstream address)
        each; status 0 when one got no answer."""
        replies = self.client.fetch(
            "GET",
            self.spec.listen,
            [path] * tries,
            headers={"Host": host, render.PROBE_HEADER: "1"},
            timeout=5,
        )
        return [(r.status, r.upstream) for r in replies]

    # -- certificates: files through the archive API, then an admin call (no reload) ----

    def tls_installed(self) -> dict[str, dict[str, Any]]:
        """Per app, what its installed certificate is (names, expiry, issuer; no key)."""
        doc: dict[str, dict[str, Any]] = json.loads(self.admin("GET", "tls") or "{}")
        return doc

    def install_tls(self, material: Material) -> str:
        """The app's key + chain into the state volume (0600, owned by nginx's worker user),
        then every instance loads it: the next handshakes get it. Says what was done."""
        if self.tls_installed().get(material.app) == material.meta():
            return f"certificate {material.cert.fingerprint[:12]} already installed"
        inst = current(self.instances(refresh=True))
        if inst is None:
            raise ProxyError(
                "the proxy has no running nginx",
                where=f"{self.engine.host} {self.spec.name}",
                hint="`greenroom proxy reboot` starts one",
            )
        self.engine.put_files(inst.name, TLS_DIR, {f"{material.app}.pem.new": material.pem}, mode=0o600)
        self._sh(inst.name, OWN_TLS_DIR)
        self._to_all("POST", f"tls/{material.app}", material.meta_json())
        return f"certificate {material.cert.fingerprint[:12]} for {', '.join(material.hosts)} installed"

    def remove_tls(self, app: str) -> None:
        self._to_all("DELETE", f"tls/{app}")

    def put_challenge(self, token: str, key_authorization: str) -> None:
        self._to_all("POST", f"challenge/{token}", key_authorization)

    def drop_challenge(self, token: str) -> None:
        self._to_all("DELETE", f"challenge/{token}")

    # -- act -------------------------------------------------------------------------

    def _wait_instance(self, inst: Instance, generation: str, timeout: float = 20.0) -> None:
        def ready() -> bool | None:
            return self.generation_live(inst.admin_port) == generation or None

        if poll_until(self.clock, ready, timeout=timeout, interval=0.05) is None:
            logs = self.engine.logs(inst.name, tail=20)
            raise ProxyError(
                f"nginx ({inst.name}) did not become ready within {timeout:.0f}s",
                where=f"{self.engine.host} {inst.name}",
                hint=f"its last logs:\n{logs}"
                if logs
                else "check the proxy image has nginx with njs and curl",
            )

    def _holder_sysctls(self) -> dict[str, str]:
        """Second lines of defence for the data path, and request migration on a reboot."""
        out = {"net.ipv4.tcp_tw_reuse": "1", "net.ipv4.ip_local_port_range": "15000 64999"}
        if self.engine.kernel() >= MIGRATE_REQ:
            out["net.ipv4.tcp_migrate_req"] = "1"
        return out

    def create(self, pools: tuple[str, ...] = ()) -> None:
        """Create the holder, then its first nginx instance."""
        self.engine.ensure_volume(self.spec.volume, labels.owned(labels.ROLE_PROXY))
        self.engine.create_container(self.spec.holder_spec(self._holder_sysctls()))
        self.engine.start(self.spec.name)
        self.client.reset()
        for inst in self.instances(refresh=True):  # they joined a namespace now gone
            self.engine.remove(inst.name)
        self._start_instance(1, pools)

    def recreate(self, pools: tuple[str, ...] = ()) -> str:
        """A new holder with the spec's ports, and its nginx: the only way to publish other
        ports (the engine fixes them when a container is created). From the old holder's
        removal until the new nginx answers, its ports refuse new connections: on a fleet
        the host is out of the load balancer meanwhile. First the old nginx retires and
        stops gracefully: its requests finish, and its idle keep-alive connections (a load
        balancer's pool) are closed, not left to die with the namespace. Ports the old holder
        did not publish are proved free beforehand: if one is taken, nothing changes. Says
        what was done."""
        holder = self.container()
        new = unpublished(self.spec.ports, holder.published) if holder is not None else ()
        if new:
            check = self.spec.port_check_spec(new)
            try:
                self.engine.create_container(check)
                self.engine.start(check.name)
            except GreenroomError as exc:
                raise ProxyError(
                    f"cannot publish {', '.join(map(str, new))}: {exc.message}; nothing was changed",
                    where=f"{self.engine.host} {self.spec.name}",
                    hint="free the port on the engine's host, or change proxy.ports",
                ) from exc
            finally:
                self.engine.remove(check.name)
        listed = self.instances(refresh=True)
        for inst in listed:
            self._stop(inst)
        self.engine.remove(self.spec.name)
        self.create(pools)
        ports = ", ".join(map(str, self.spec.ports))
        return f"{self.spec.name} recreated publishing {ports} ({len(listed)} nginx stopped gracefully)"

    def _start_instance(self, slot: int, pools: tuple[str, ...]) -> Instance:
        spec = self.spec.instance_spec(slot, time.time_ns())
        leftover = next((i for i in self.instances(refresh=True) if i.name == spec.name), None)
        if leftover is not None:
            self.engine.remove(leftover.name)  # greenroom's own (listed by its labels), not serving
        self.engine.create_container(spec)
        inst = Instance(spec.name, slot, True, int(spec.labels[STARTED]), spec.image)
        try:
            self.engine.put_files(
                spec.name, render.CONF_DIR, render.files(self.spec.settings, pools, inst.admin_port)
            )
            self.engine.start(spec.name)
            self._wait_instance(inst, self.spec.generation(pools))
        except GreenroomError:
            self.engine.remove(spec.name)  # never became the proxy: the serving one stays
            raise
        self._instances = None
        return inst

    def reboot(self, pools: tuple[str, ...] = ()) -> str:
        """A new nginx instance (this plan's image and config) beside the serving one, on
        the same port; then the old one retires and stops gracefully. Nothing closes the
        port: no request fails. Returns what was done."""
        listed = self.instances(refresh=True)
        old = current(listed)
        for other in listed:  # an interrupted reboot's leftover: let it finish what it serves
            if other != old:
                self._stop(other)
        new = self._start_instance(2 if old is not None and old.slot == 1 else 1, pools)
        if old is None:
            return f"started {new.name}"
        self._stop(old)
        return f"{new.name} took over from {old.name}"

    def _stop(self, inst: Instance) -> None:
        """Retire, stop gracefully (SIGQUIT: requests and streams finish), remove."""
        if inst.running:
            self._retire(inst)  # best effort: it is stopped gracefully either way
            self.engine.stop(inst.name, timeout=INSTANCE_STOP_TIMEOUT)
        self.engine.remove(inst.name)
        self._instances = None

    def _retire(self, inst: Instance) -> str:
        """From now on the instance's responses close their connections: its clients
        reconnect (to the new one) instead of being cut while idle when it stops. Says
        what was done (a few tries: a reply lost under load must not skip it)."""
        why = "its admin did not answer"
        for _ in range(RETIRE_TRIES):
            gen = self.generation_live(inst.admin_port)
            if gen:
                try:
                    self.admin("POST", "retire", gen, port=inst.admin_port)
                except GreenroomError as exc:
                    why = exc.message
                else:
                    self.clock.sleep(RETIRE_WINDOW)
                    return f"{inst.name} retired for {RETIRE_WINDOW:g}s"
            self.clock.sleep(0.05)
        return f"{inst.name} not retired ({why})"

    def apply_config(self, pools: tuple[str, ...] = ()) -> str:
        """Write aside, nginx -t, swap, retire the old workers' keep-alive connections,
        reload, confirm the generation; restore on failure. Says what was done.

        A reload makes the old workers close every idle keep-alive connection at once: a
        client that sent its next request on one just then gets no answer. So first the
        old generation *retires*: each of its responses closes its connection, and for
        RETIRE_WINDOW every client that sends a request reconnects; those connections
        are new, not idle, and are served to the end. Only then the reload."""
        inst = current(self.instances(refresh=True))
        if inst is None:
            raise ProxyError(
                "the proxy has no running nginx",
                where=f"{self.engine.host} {self.spec.name}",
                hint="`greenroom proxy reboot` starts one",
            )
        conf = f"{render.CONF_DIR}/nginx.conf"
        backup = f"{render.CONF_DIR}/last-good"
        want = self.spec.generation(pools)
        self._sh(inst.name, f"mkdir -p {backup} && cp -a {render.CONF_DIR}/*.* {backup}/")
        self.engine.put_files(
            inst.name, render.CONF_DIR, render.files(self.spec.settings, pools, inst.admin_port)
        )
        code, out = self.engine.exec(inst.name, ["nginx", "-t", "-q", "-c", conf])
        if code != 0:
            self._sh(inst.name, f"cp -a {backup}/*.* {render.CONF_DIR}/")
            raise ProxyError(
                f"nginx -t rejected the new config; the last good one is kept:\n{out.strip()}",
                where=f"{self.engine.host} {inst.name}",
            )
        retired = self._retire(inst)
        try:
            self._sh(inst.name, f"nginx -c {conf} -s reload")

            def applied() -> bool | None:
                return self.generation_live(inst.admin_port) == want or None

            if poll_until(self.clock, applied, timeout=10, interval=0.05) is None:
                self._sh(inst.name, f"cp -a {backup}/*.* {render.CONF_DIR}/ && nginx -c {conf} -s reload")
                raise ProxyError(
                    "nginx did not pick up the new config within 10s; restored the last good one",
                    where=f"{self.engine.host} {inst.name}",
                )
        finally:
            with contextlib.suppress(GreenroomError):  # the new generation never retires anyway
                self.admin("DELETE", "retire", port=inst.admin_port)
        return f"generation {want}; {retired}"

    def _sh(self, container: str, script: str) -> str:
        code, out = self.engine.exec(container, ["sh", "-c", script])
        if code != 0:
            raise ProxyError(
                f"`{script}` failed in the proxy: {out.strip()}", where=f"{self.engine.host} {container}"
            )
        return out
