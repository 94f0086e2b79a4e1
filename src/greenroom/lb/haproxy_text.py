"""HAProxy's runtime API as text, pure: the commands greenroom sends and parsers of the replies.

Replies recorded from Debian's HAProxy 2.6 are in tests/fixtures/haproxy; the parsers read
them by the header line's field names, so columns added by later versions do not matter.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from enum import IntFlag
from typing import Literal

State = Literal["ready", "drain", "maint"]

# HAProxy's names: letters, digits, - _ . : (cfgparse.c invalid_char); no spaces or ;
_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,100}")


def parse_tcp_address(address: str) -> tuple[str, int]:
    """HOST:PORT of a TCP stats socket, an IPv6 host in brackets."""
    host, sep, port = address.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or " " in host:
        raise ValueError(f"{address!r} is not HOST:PORT (an IPv6 host in brackets)")
    return host, int(port)


def valid_name(name: str) -> bool:
    return bool(_NAME.fullmatch(name))


def _checked(backend: str, server: str | None = None) -> None:
    for what, name in (("backend", backend), ("server", server)):
        if name is not None and not valid_name(name):
            raise ValueError(f"invalid HAProxy {what} name {name!r}: letters, digits, - _ . and : only")


def set_state(backend: str, server: str, state: State) -> str:
    _checked(backend, server)
    return f"set server {backend}/{server} state {state}"


def show_stat(backend: str) -> str:
    """The servers' lines (type 4, every server id) of one backend's statistics."""
    _checked(backend)
    return f"show stat {backend} 4 -1"


def show_servers_state(backend: str) -> str:
    _checked(backend)
    return f"show servers state {backend}"


SHOW_BACKEND = "show backend"


class Admin(IntFlag):
    """srv_admin_state of `show servers state` (HAProxy's enum srv_admin)."""

    FMAINT = 0x01  # maint forced by the runtime API
    IMAINT = 0x02  # maint inherited from a tracked server
    CMAINT = 0x04  # disabled in the configuration
    FDRAIN = 0x08  # drain forced by the runtime API
    IDRAIN = 0x10  # drain inherited from a tracked server
    RMAINT = 0x20  # maint because its address does not resolve
    HMAINT = 0x40  # maint because its hostname was changed by the API


MAINT = Admin.FMAINT | Admin.IMAINT | Admin.CMAINT | Admin.RMAINT | Admin.HMAINT
DRAIN = Admin.FDRAIN | Admin.IDRAIN
_OP_STATES = {0: "stopped", 1: "starting", 2: "running", 3: "stopping"}


@dataclass(frozen=True)
class ServerState:
    """One server of `show servers state`."""

    backend: str
    server: str
    address: str
    port: int | None
    operational: str  # stopped, starting, running, stopping
    admin: Admin

    @property
    def draining(self) -> bool:
        return bool(self.admin & DRAIN)

    @property
    def maintenance(self) -> bool:
        return bool(self.admin & MAINT)

    @property
    def admin_state(self) -> State:
        return "maint" if self.maintenance else "drain" if self.draining else "ready"


@dataclass(frozen=True)
class ServerStat:
    """One server's line of `show stat`: its sessions now, and its status."""

    backend: str
    server: str
    sessions: int  # scur: streams on this server now
    queued: int  # qcur: requests waiting for a slot on it
    status: str  # UP, DOWN, DRAIN, MAINT, no check, UP 1/3 ...
    weight: int

    @property
    def idle(self) -> bool:
        return self.sessions == 0 and self.queued == 0


class ReplyError(ValueError):
    """HAProxy answered with an error (its own words are the message)."""


def reply_error(reply: str) -> str | None:
    """HAProxy's error message in a reply, or None when the reply is not an error.

    `set` commands answer nothing on success; the `show` commands answer a header
    (`# ...`) or, for `show servers state`, a version line and then a header."""
    text = reply.strip()
    if not text:
        return None
    first = text.splitlines()[0].strip()
    if first.startswith("#") or first == "1":
        return None
    return text


def parse_servers_state(reply: str) -> list[ServerState]:
    error = reply_error(reply)
    if error is not None:
        raise ReplyError(error)
    lines = [line for line in reply.splitlines() if line.strip()]
    header = next((line for line in lines if line.startswith("#")), None)
    if header is None:
        raise ReplyError("no header in the reply to `show servers state`")
    names = header.lstrip("#").split()
    out: list[ServerState] = []
    for line in lines[lines.index(header) + 1 :]:
        row = dict(zip(names, line.split(), strict=False))
        try:
            port = row.get("srv_port", "-")
            out.append(
                ServerState(
                    backend=row["be_name"],
                    server=row["srv_name"],
                    address=row["srv_addr"],
                    port=int(port) if port.isdigit() else None,
                    operational=_OP_STATES.get(int(row["srv_op_state"]), row["srv_op_state"]),
                    admin=Admin(int(row["srv_admin_state"])),
                )
            )
        except (KeyError, ValueError) as exc:
            raise ReplyError(f"unexpected line in `show servers state`: {line!r}") from exc
    return out


def _int(value: str) -> int:
    return int(value) if value.strip().isdigit() else 0


def parse_stat(reply: str) -> list[ServerStat]:
    """The server lines of `show stat` (CSV whose header starts with `# `)."""
    text = reply.lstrip()
    if not text.startswith("#"):
        raise ReplyError(reply.strip() or "an empty reply to `show stat`")
    rows = csv.reader(text[1:].lstrip().splitlines())
    names = next(rows)
    out: list[ServerStat] = []
    for values in rows:
        if not values:
            continue
        row = dict(zip(names, values, strict=False))
        if row.get("svname") in ("FRONTEND", "BACKEND") or row.get("type", "2") != "2":
            continue
        try:
            out.append(
                ServerStat(
                    backend=row["pxname"],
                    server=row["svname"],
                    sessions=_int(row["scur"]),
                    queued=_int(row.get("qcur", "")),
                    status=row.get("status", ""),
                    weight=_int(row.get("weight", "")),
                )
            )
        except KeyError as exc:
            raise ReplyError(f"`show stat` has no {exc} column") from exc
    return out


def parse_backends(reply: str) -> list[str]:
    return [line.strip() for line in reply.splitlines() if line.strip() and not line.startswith("#")]
