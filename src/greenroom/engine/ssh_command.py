"""How greenroom runs ssh for an ssh:// engine, and what its failures mean, in words.

`ssh [-F CONFIG] -o BatchMode=yes ... [-l USER] [-p PORT] -- HOST docker system dial-stdio`,
as the Docker CLI builds it; the user's own ssh resolves keys, agent and ~/.ssh/config.
Pure: builds argument lists and reads ssh's stderr text (engine/transport.py runs them).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from greenroom.errors import ConfigError, EngineUnreachable

SSH_CONFIG_ENV = "GREENROOM_SSH_CONFIG"  # a file passed to ssh as -F (tests, CI)
SSH_COMMAND_ENV = "GREENROOM_SSH"  # the ssh program (default: ssh on PATH)
REMOTE_COMMAND = ("docker", "system", "dial-stdio")
CONNECT_TIMEOUT = 30  # seconds, as the Docker CLI sets it (-o ConnectTimeout=30)


@dataclass(frozen=True)
class SshTarget:
    """An ssh://[USER@]HOST[:PORT] engine address."""

    host: str
    user: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, url: str) -> SshTarget:
        parts = urlsplit(url)
        if parts.scheme != "ssh":
            raise ConfigError(f"{url!r} is not an ssh:// engine address")
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"{url!r}: the port is not a number from 1 to 65535") from None
        host = parts.hostname
        if not host:
            raise ConfigError(f"{url!r} names no host", hint="write ssh://[user@]host[:port]")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ConfigError(
                f"{url!r}: an ssh:// engine address takes no path or query",
                hint="write ssh://[user@]host[:port]; the remote engine is the one `docker` finds there",
            )
        if parts.password is not None:
            raise ConfigError(
                f"{url!r}: passwords in ssh:// addresses are not supported",
                hint="use a key (ssh-agent or IdentityFile in ~/.ssh/config)",
            )
        if host.startswith("-") or (parts.username or "").startswith("-"):
            raise ConfigError(f"{url!r}: a host or user may not start with '-'")
        if port == 0:
            raise ConfigError(f"{url!r}: the port is not a number from 1 to 65535")
        return cls(host=host, user=unquote(parts.username) if parts.username else None, port=port)

    @property
    def display(self) -> str:
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ssh://{user}{host}{port}"

    def command(
        self,
        *,
        ssh: str = "ssh",
        config_file: str | None = None,
        remote: Sequence[str] = REMOTE_COMMAND,
    ) -> list[str]:
        """The command line that connects to the engine, as the Docker CLI builds it."""
        argv = shlex.split(ssh) or ["ssh"]
        if config_file:
            argv += ["-F", config_file]
        argv += [
            "-o",
            "BatchMode=yes",  # never prompt (passwords, passphrases, unknown host keys)
            "-o",
            f"ConnectTimeout={CONNECT_TIMEOUT}",
            "-o",
            "ControlMaster=no",  # never start a lingering master; an existing one is still used
            "-T",  # no terminal: a byte stream
            "-x",  # no X11 forwarding
        ]
        if self.user:
            argv += ["-l", self.user]
        if self.port:
            argv += ["-p", str(self.port)]
        argv += ["--", self.host, *remote]
        return argv


def ssh_command_for(url: str, environ: Mapping[str, str] | None = None) -> list[str]:
    env = os.environ if environ is None else environ
    return SshTarget.parse(url).command(
        ssh=env.get(SSH_COMMAND_ENV) or "ssh", config_file=env.get(SSH_CONFIG_ENV) or None
    )


# -- what went wrong, in words --------------------------------------------------------------

HOST_KEY_UNKNOWN = re.compile(
    r"No \S+ host key is known for|Host key verification failed|"
    r"REMOTE HOST IDENTIFICATION HAS CHANGED|host key for .* has changed",
    re.IGNORECASE,
)


def explain_ssh_failure(
    target: SshTarget, returncode: int | None, stderr: str, resolved: tuple[str, int | None] | None = None
) -> EngineUnreachable:
    """A greenroom error for an ssh process that ended (or never answered), from its stderr;
    `resolved` is the host name and port ssh's config turned the target into (ssh -G)."""
    where = target.display
    text = stderr.strip()
    last = text.splitlines()[-1].strip() if text else ""
    port = f"-p {target.port} " if target.port else ""
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in text or ("has changed" in text and "host key" in text):
        return EngineUnreachable(
            f"the SSH host key of {target.host} has changed since it was recorded in known_hosts; "
            "ssh refused the connection",
            where=where,
            hint="if the host was really reinstalled, remove the old key with "
            f"`ssh-keygen -R {target.host}` and add the new one after checking its fingerprint",
        )
    if HOST_KEY_UNKNOWN.search(text):
        # ssh-keyscan reads no ssh_config: name the address and port ssh really dialled
        host, real_port = resolved or (target.host, target.port)
        scan = f"-p {real_port} {host}" if real_port and real_port != 22 else host
        return EngineUnreachable(
            f"the SSH host key of {target.host} is not in known_hosts; ssh refused the connection "
            "(greenroom never accepts an unknown host key)",
            where=where,
            hint=f"check the key's fingerprint, then add it to your known_hosts file: `ssh-keyscan {scan} "
            f">> ~/.ssh/known_hosts` (or connect once with `ssh {port}{target.host}` and answer yes)",
        )
    if "Permission denied" in text:
        return EngineUnreachable(
            f"SSH login to {target.host} was refused ({last})",
            where=where,
            hint="greenroom uses your own ssh (agent, keys, ~/.ssh/config) and never prompts: "
            f"`ssh {port}{target.host} docker version` must work without a password",
        )
    if returncode == 127 or "command not found" in text or "not found" in last:
        return EngineUnreachable(
            f"`docker system dial-stdio` could not run on {target.host} ({last or 'exit 127'})",
            where=where,
            hint="the remote host needs the docker CLI on the PATH of non-interactive ssh sessions",
        )
    if returncode == 255 or not text:
        detail = last or f"ssh exited {returncode}"
        return EngineUnreachable(
            f"cannot connect to {target.host} over SSH ({detail})",
            where=where,
            hint=f"try `ssh {port}{target.host} docker system dial-stdio` by hand",
        )
    return EngineUnreachable(
        f"the Docker engine on {target.host} did not answer through `docker system dial-stdio` ({last})",
        where=where,
        hint=f"try `ssh {port}{target.host} docker version`; is dockerd running there?",
    )


def resolve_with_ssh_g(argv: Sequence[str]) -> tuple[str, int | None] | None:
    """(hostname, port) as ssh's configuration resolves the target of `argv` (`ssh -G`)."""
    if "--" not in argv:
        return None
    cut = list(argv).index("--")
    try:
        out = subprocess.run(
            [*argv[:cut], "-G", "--", argv[cut + 1]], capture_output=True, text=True, timeout=5, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError, IndexError):
        return None
    values = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    try:
        return values["hostname"], int(values.get("port", "22"))
    except (KeyError, ValueError):
        return None
