"""`greenroom config check` on hostile files: exit 0 or 2 with the field path, never a traceback,
within 2 s and bounded memory, whatever the file (issue 8, section 4).

The CLI runs in-process through greenroom.cli.app.run, the same code path as the console
script (run() prints a GreenroomError and returns its exit code; anything else escapes).
"""

from __future__ import annotations

import io
import json
import os
import resource
import string
import subprocess
import sys
import time
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any, NamedTuple
from unittest.mock import patch

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greenroom import labels
from greenroom.cli.app import run
from greenroom.config import load_config, rules
from greenroom.config import yaml_loader as yaml_loader_module
from greenroom.deploy.plan import server_names
from greenroom.errors import ConfigError
from greenroom.proxy.render import ADMIN_PORT

ROOT = Path(__file__).resolve().parents[2]
APP = "apps:\n  web:\n    image: web:1\n    port: 8000\n"
CASES = int(os.environ.get("GREENROOM_PROPERTY_CASES", "40"))
SECONDS = 2.0  # of CPU time: what a hostile file may cost (wall time on a busy machine is no measure)


class Result(NamedTuple):
    code: int
    output: str
    seconds: float


def invoke(*args: str) -> Result:
    """`greenroom ARGS` in-process: exit code, stdout + stderr, time; a traceback is code -1."""
    out, err = io.StringIO(), io.StringIO()
    start = time.process_time()
    with patch.object(sys, "argv", ["greenroom", *args]), redirect_stdout(out), redirect_stderr(err):
        try:
            code = run()
        except BaseException:
            code = -1
            err.write(traceback.format_exc())
    return Result(code, out.getvalue() + err.getvalue(), time.process_time() - start)


def check(path: Path | str, *extra: str) -> Result:
    return invoke("config", "check", "-f", str(path), *extra)


def app(extra: str) -> str:
    """APP with `extra` (lines indented for the app's mapping) appended."""
    return APP + extra


def proxy(extra: str) -> str:
    """A proxy section with `extra` (lines indented for it), then APP."""
    return "proxy:\n" + extra + APP


def nested(opening: str, depth: int) -> str:
    return APP + "    labels: {a: " + opening * depth + "}\n"


def merge_bomb() -> str:
    """~500 bytes whose merge keys expand to 2**24 pairs (44 s and 1.7 GB before the fix)."""
    lines = ["a: &a {k: 1}"] + [
        f"{b}: &{b} {{<<: [*{a}, *{a}]}}"
        for a, b in zip("abcdefghijklmnopqrstuvwx", "bcdefghijklmnopqrstuvwxy", strict=True)
    ]
    return "\n".join(lines) + "\n" + APP


def alias_bomb() -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    return "\n".join(lines) + "\n" + APP


def hosts(count: int, pattern: str = "h{i}.example.com") -> str:
    return app("    hosts:\n" + "".join(f"      - {pattern.format(i=i)}\n" for i in range(count)))


class Case(NamedTuple):
    name: str
    content: str | bytes
    code: int
    expected: str  # in the output: the field path and the gist of the message


CASES_TABLE = [
    # --- bytes and encodings (a traceback before) --------------------------------------------
    Case(
        "nul-in-command",
        app("    command: [a\x00b]\n"),
        2,
        "apps.web.command.0: control character U+0000 (NUL)",
    ),
    Case(
        "esc-in-image",
        APP.replace("web:1", "web\x1b[31m:1"),
        2,
        "apps.web.image: control character U+001B (ESC)",
    ),
    Case(
        "del-in-label",
        app("    labels: {a: x\x7f}\n"),
        2,
        "apps.web.labels.a: control character U+007F (DEL)",
    ),
    Case(
        "c1-control",
        app("    environment: {A: x\x9by}\n"),
        2,
        "apps.web.environment.A: control character U+009B",
    ),
    Case("nul-in-comment", APP + "# \x00\n", 2, "(top level): control character U+0000 (NUL) at line 5"),
    Case("nul-only", b"\x00\x00\x00", 2, "control character U+0000 (NUL) at line 1, column 1"),
    Case("invalid-utf8", APP.encode() + b"    command: [\xff\xfe]\n", 2, "not UTF-8 text (byte 60, line 5)"),
    Case("utf16", APP.encode("utf-16"), 2, "not UTF-8 text"),
    Case("latin1", app("    labels: {a: caf\xe9}\n").encode("latin-1"), 2, "not UTF-8 text"),
    Case("utf8-bom", "\ufeff" + APP, 0, "image: web:1"),
    Case("empty", "", 2, "the file is empty"),
    Case("whitespace-only", " \n \n", 2, "the file is empty"),
    # --- nesting, digits, interpolation (RecursionError or ValueError before) ----------------
    Case(
        "3000-brackets", "apps: " + "[" * 3000 + "\n", 2, "apps.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
    ),
    Case("3000-braces", nested("{a: ", 3000), 2, "apps.web.labels.a.a.a.a.a.a.a.a"),
    Case(
        "block-nesting",
        APP + "    labels:\n" + "".join(" " * (6 + 2 * i) + f"k{i}:\n" for i in range(100)),
        2,
        "nested more than 64 levels deep",
    ),
    Case("deep-dashes", APP + "    command:\n      " + "- " * 200 + "x\n", 2, "apps.web.command.0.0.0.0.0.0"),
    Case(
        "interpolation-2000-deep",
        app("    environment: {X: '" + "${A:-" * 2000 + "x" + "}" * 2000 + "'}\n"),
        2,
        "apps.web.environment.X: ${...} nested more than 8 deep",
    ),
    Case(
        "interpolation-unterminated",
        app("    environment: {X: '" + "${" * 100_000 + "'}\n"),
        2,
        "apps.web.environment.X: ",
    ),
    Case("lone-dollars", app("    labels: {a: '" + "$" * 100_001 + "'}\n"), 2, "apps.web.labels.a: a lone $"),
    Case(
        "5000-digit-port",
        APP.replace("8000", "9" * 5000),
        2,
        "apps.web.port: Unable to parse input string as an integer",
    ),
    Case("5000-digit-env", app(f"    environment: {{N: {'7' * 5000}}}\n"), 0, "7777777"),
    Case("explicit-int-too-long", APP.replace("8000", "!!int " + "9" * 40), 2, "apps.web.port: '999"),
    Case(
        "explicit-int-hex",
        APP.replace("8000", "!!int 0x1f"),
        2,
        "apps.web.port: '0x1f' is not a decimal integer",
    ),
    Case(
        "explicit-float-bad",
        app("    resources: {cpus: !!float abc}\n"),
        2,
        "apps.web.resources.cpus: 'abc' is not a number",
    ),
    Case(
        "explicit-bool-bad",
        app("    labels: {a: !!bool maybe}\n"),
        2,
        "apps.web.labels.a: 'maybe' is not true or false",
    ),
    # --- tags -------------------------------------------------------------------------------
    Case(
        "timestamp-tag",
        app("    labels: {a: !!timestamp x}\n"),
        2,
        "apps.web.labels.a: the tag !!timestamp is not supported",
    ),
    Case(
        "binary-tag",
        app("    labels: {a: !!binary aGVsbG8=}\n"),
        2,
        "apps.web.labels.a: the tag !!binary is not supported",
    ),
    Case(
        "python-tag",
        app("    command: !!python/object/apply:os.system [id]\n"),
        2,
        "apps.web.command: the tag !!python/object/apply:os.system",
    ),
    Case(
        "local-tag",
        app("    labels: {a: !secret x}\n"),
        2,
        "apps.web.labels.a: the tag !secret is not supported",
    ),
    Case(
        "set-tag", app("    networks: !!set {a, b}\n"), 2, "apps.web.networks: the tag !!set is not supported"
    ),
    # --- special floats ---------------------------------------------------------------------
    Case("cpus-nan", app("    resources: {cpus: .nan}\n"), 2, "apps.web.resources.cpus:"),
    Case("cpus-huge-exponent", app("    resources: {cpus: 1e999}\n"), 2, "apps.web.resources.cpus:"),
    Case("drain-inf", app("    drain_timeout: .inf\n"), 2, "apps.web.drain_timeout: invalid duration"),
    Case("stop-minus-inf", app("    stop_timeout: -.inf\n"), 2, "apps.web.stop_timeout: invalid duration"),
    Case(
        "memory-float",
        app("    resources: {memory: 1.5e300}\n"),
        2,
        "apps.web.resources.memory: a size is a string",
    ),
    # --- rich markup and emoji in what is printed (MarkupError before) ------------------------
    Case(
        "markup-app-name",
        "apps:\n  '[/]':\n    image: web:1\n    port: 8000\n",
        2,
        "apps.[/]: invalid app name '[/]'",
    ),
    Case("markup-host", app("    hosts: ['[/]']\n"), 2, "apps.web.hosts.0: invalid host name '[/]'"),
    Case(
        "markup-bold-host",
        app("    hosts: ['[bold red]x']\n"),
        2,
        "apps.web.hosts.0: invalid host name '[bold red]x'",
    ),
    Case(
        "markup-image-error",
        APP.replace("web:1", "'[/] x'"),
        2,
        "apps.web.image: image reference '[/] x' must not",
    ),
    Case("markup-image-valid", APP.replace("web:1", "'[red]web[/red]:1'"), 0, "[red]web[/red]:1"),
    Case(
        "markup-env-name",
        app("    environment: {'[/]': x}\n"),
        2,
        "apps.web.environment.[/]: invalid variable name '[/]'",
    ),
    Case("markup-unknown-key", "'[bold]x[/]': 1\n" + APP, 2, "[bold]x[/]: unknown key"),
    Case("emoji-code", app("    hosts: [':smile:']\n"), 2, "apps.web.hosts.0: invalid host name ':smile:'"),
    # --- budgets: aliases, merge keys, sizes (hangs before) ------------------------------------
    Case("merge-bomb", merge_bomb(), 2, "more than 100000 values after expanding aliases and merge keys"),
    Case("alias-bomb", alias_bomb(), 2, "more than 100000 values after expanding aliases and merge keys"),
    Case("self-merge", "x: &a {<<: *a}\n" + APP, 2, "x: a YAML alias refers to itself"),
    Case("self-alias", "apps: &a\n  web: *a\n", 2, "apps.web: a YAML alias refers to itself"),
    Case(
        "merge-of-a-scalar",
        app("    labels: {<<: 1}\n"),
        2,
        "invalid YAML: apps.web.labels: while constructing a mapping",
    ),
    Case(
        "merge-chain",
        "a0: &a0 {k: 1}\n" + "".join(f"a{i}: &a{i} {{<<: *a{i - 1}}}\n" for i in range(1, 100)) + APP,
        2,
        "nested more than 64 levels deep, aliases and merge keys included",
    ),
    Case("merge-as-value", app("    labels: {a: <<}\n"), 0, '"a":"<<"'),
    Case(
        "25000-hosts",
        hosts(25_000, "h{i}.io"),
        2,
        "apps.web.hosts.19989: more than 20000 YAML values in the file",
    ),
    Case("60000-hosts-too-big", hosts(60_000), 2, "cannot read the config file: larger than 1 MiB"),
    Case("2-MiB-comment", APP + "#" + "x" * (2 * 1024 * 1024) + "\n", 2, "larger than 1 MiB"),
    Case("1-MiB-scalar", app("    labels: {a: '" + "''" * 500_000 + "'}\n"), 0, "labels:"),
    Case("15000-distinct-hosts", hosts(15_000, "h{i}.io"), 0, "h14999.io"),
    Case("15000-bad-hosts", hosts(15_000, "H{i}"), 2, "... and 14950 more"),
    Case(
        "repeated-host",
        hosts(2) + "      - h1.example.com\n",
        2,
        "apps.web.hosts.2: host h1.example.com is listed twice",
    ),
    Case(
        "5000-same-ports",
        "proxy:\n  ports: [" + ", ".join(["'80:80'"] * 5000) + "]\n" + APP,
        2,
        "proxy.ports.1: host port 80 is published twice",
    ),
    Case("9000-duplicate-keys", APP + "    port: 1\n" * 9000, 2, "9000 problems:"),
    Case(
        "1-MB-command-string",
        app('    command: "' + "a" * 1_000_000 + '"\n'),
        2,
        "apps.web.command: is longer than 64 KiB; write it as a list of words",
    ),
    Case("64-KiB-command-string", app('    command: "' + "a b " * 16_000 + '"\n'), 0, "command:"),
    Case(
        "9000-secrets-and-an-error",
        app(
            "    secrets:\n"
            + "".join(f"      S{i}: {'s' * 70}{i}\n" for i in range(9000))
            + "    hosts: [A]\n"
        ),
        2,
        "apps.web.hosts.0: host name 'A' must be lowercase",
    ),
    Case(
        "1-MB-secret-and-an-error",
        app("    secrets: {S: " + "s" * 1_000_000 + "}\n    hosts: [A]\n"),
        2,
        "apps.web.hosts.0: host name 'A' must be lowercase",
    ),
    Case(
        "verbatim-secret-masked",
        APP.replace("web:1", "'v 1.10'") + "    secrets: {S: 1.10}\n",
        2,
        "apps.web.image: image reference 'v ******' must not contain whitespace",
    ),
    # --- YAML syntax ------------------------------------------------------------------------
    Case("syntax-error", "apps:\n  web: [\n", 2, "invalid YAML:"),
    Case("two-documents", APP + "---\n" + APP, 2, "invalid YAML:"),
    Case("tab-indent", "apps:\n\tweb: {}\n", 2, "invalid YAML:"),
    Case("non-string-key", "apps: {[a]: 1}\n", 2, "apps: keys must be plain strings"),
    Case("long-key", "apps:\n  " + "k" * 5000 + ": 1\n", 2, "(line 2)"),
    # --- values accepted before and broken later ----------------------------------------------
    Case(
        "listen-admin-port",
        proxy(f"  ports: ['{ADMIN_PORT}:{ADMIN_PORT}']\n  listen: {ADMIN_PORT}\n"),
        2,
        f"proxy.listen: {ADMIN_PORT} is one of the proxy's own admin ports",
    ),
    Case(
        "network-host",
        proxy("  network: host\n"),
        2,
        "proxy.network: 'host' is one of Docker's predefined networks",
    ),
    Case(
        "network-bridge",
        proxy("  network: bridge\n"),
        2,
        "proxy.network: 'bridge' is one of Docker's predefined",
    ),
    Case(
        "network-none", proxy("  network: none\n"), 2, "proxy.network: 'none' is one of Docker's predefined"
    ),
    Case(
        "network-default",
        proxy("  network: default\n"),
        2,
        "proxy.network: 'default' is one of Docker's predefined",
    ),
    Case(
        "network-greenroom-front",
        proxy("  network: gr-web-front\n"),
        2,
        "proxy.network: 'gr-web-front' is shaped like one of greenroom's own networks",
    ),
    Case(
        "app-network-host",
        app("    networks: [host]\n"),
        2,
        "apps.web.networks.0: 'host' is one of Docker's predefined",
    ),
    Case(
        "app-network-none",
        app("    networks: [shared, none]\n"),
        2,
        "apps.web.networks.1: 'none' is one of Docker's predefined",
    ),
    Case(
        "app-network-bridge",
        app("    networks: [bridge]\n"),
        2,
        "apps.web.networks.0: 'bridge' is one of Docker's predefined",
    ),
    Case(
        "app-network-back",
        app("    networks: [gr-api-back]\n"),
        2,
        "apps.web.networks.0: 'gr-api-back' is shaped like one of greenroom's",
    ),
    Case("proxy-name-1-char", proxy("  name: p\n"), 2, "proxy.name: invalid container name 'p': 2-63"),
    Case(
        "proxy-name-lock",
        proxy("  name: greenroom-lock-web\n"),
        2,
        "proxy.name: 'greenroom-lock-web' is shaped like one of greenroom's own containers",
    ),
    Case(
        "proxy-name-probe",
        proxy("  name: greenroom-probe-web\n"),
        2,
        "proxy.name: 'greenroom-probe-web' is shaped like",
    ),
    Case(
        "proxy-name-app-container",
        proxy("  name: web-blue-2401011200001a2b-0\n"),
        2,
        "proxy.name: 'web-blue-2401011200001a2b-0' is shaped like",
    ),
    Case("proxy-name-2-chars", proxy("  name: px\n"), 0, "name: px"),
    Case(
        "memory-99999999t",
        app("    resources: {memory: 99999999t}\n"),
        2,
        "apps.web.resources.memory: must be at most 1t",
    ),
    Case(
        "memory-20-digits",
        app("    resources: {memory: 99999999999999999999}\n"),
        2,
        "apps.web.resources.memory: must be at most 1t",
    ),
    Case("memory-1t", app("    resources: {memory: 1t}\n"), 0, "memory: 1099511627776"),
    Case(
        "pool-loopback",
        proxy("  subnet_pool: 127.0.0.0/16\n"),
        2,
        "proxy.subnet_pool: 127.0.0.0/16 overlaps the loopback range",
    ),
    Case(
        "pool-multicast",
        proxy("  subnet_pool: 224.0.0.0/8\n"),
        2,
        "proxy.subnet_pool: 224.0.0.0/8 overlaps the multicast range",
    ),
    Case(
        "pool-link-local",
        proxy("  subnet_pool: 169.254.0.0/16\n"),
        2,
        "proxy.subnet_pool: 169.254.0.0/16 overlaps the link-local range",
    ),
    Case(
        "pool-reserved",
        proxy("  subnet_pool: 240.0.0.0/8\n"),
        2,
        "proxy.subnet_pool: 240.0.0.0/8 overlaps the reserved range",
    ),
    Case(
        "pool-this-network",
        proxy("  subnet_pool: 0.0.0.0/8\n"),
        2,
        "proxy.subnet_pool: 0.0.0.0/8 overlaps the 'this network' range",
    ),
    Case(
        "pool-cgnat",
        proxy("  subnet_pool: 100.64.0.0/16\n"),
        2,
        "proxy.subnet_pool: 100.64.0.0/16 overlaps the carrier-grade NAT range",
    ),
    Case("pool-private", proxy("  subnet_pool: 172.30.0.0/16\n"), 0, "subnet_pool: 172.30.0.0/16"),
    Case(
        "host-internal-other-app",
        "apps:\n  api:\n    image: api:1\n    port: 80\n    hosts: [web.greenroom.internal]\n",
        2,
        "apps.api.hosts.0: host name 'web.greenroom.internal' is reserved",
    ),
    Case(
        "host-internal-bare",
        app("    hosts: [a.example.com, greenroom.internal]\n"),
        2,
        "apps.web.hosts.1: host name 'greenroom.internal' is reserved",
    ),
    Case(
        "host-internal-wildcard",
        app("    hosts: ['*.greenroom.internal']\n"),
        2,
        "apps.web.hosts.0: host name '*.greenroom.internal' is reserved",
    ),
    Case("wildcard-tld", app("    hosts: ['*.com']\n"), 2, "apps.web.hosts.0: wildcard '*.com' is too wide"),
    Case("wildcard-two-labels", app("    hosts: ['*.example.com']\n"), 0, "'*.example.com'"),
    # --- scalars handed to containers stay as written ---------------------------------------
    Case(
        "float-env",
        app("    environment: {V: 1.10, W: 007.50, X: +5, Y: 1e3, Z: 1_000}\n"),
        0,
        '"V":"1.10","W":"007.50","X":"+5","Y":"1e3","Z":"1_000"',
    ),
    Case("float-label", app("    labels: {version: 1.10}\n"), 0, '"version":"1.10"'),
    Case("float-command", app("    command: [run, 1.10, -0.50]\n"), 0, '"command":["run","1.10","-0.50"]'),
    Case("float-env-list", app("    environment: [V=1.10]\n"), 0, '"V":"1.10"'),
]


def _materialize(folder: Path, case: Case) -> Path:
    path = folder / "greenroom.yml"
    if isinstance(case.content, bytes):
        path.write_bytes(case.content)
    else:
        path.write_text(case.content, encoding="utf-8")
    return path


def _compact_json(output: str) -> str:
    """--json output without whitespace between tokens, for one-line expectations."""
    return json.dumps(json.loads(output), separators=(",", ":"))


def assert_clean(result: Result, code: int | None = None) -> None:
    assert "Traceback" not in result.output, result.output
    assert result.code in (0, 2), result.output
    if code is not None:
        assert result.code == code, result.output
    assert result.seconds < SECONDS, f"took {result.seconds:.2f} s of CPU"


def test_the_table_has_at_least_60_files() -> None:
    assert len(CASES_TABLE) >= 60
    assert len({c.name for c in CASES_TABLE}) == len(CASES_TABLE)


@pytest.mark.parametrize("case", CASES_TABLE, ids=[c.name for c in CASES_TABLE])
def test_hostile_files(tmp_path: Path, case: Case) -> None:
    path = _materialize(tmp_path, case)
    as_json = case.code == 0 and case.expected.startswith('"')
    result = check(path, *(["--json"] if as_json else []))
    assert_clean(result, case.code)
    output = _compact_json(result.output) if as_json else result.output
    assert case.expected in output, result.output[-2000:]
    if case.code == 2:
        assert f"error: {path}: " in result.output


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/dev/zero", "error: /dev/zero: cannot read the config file: larger than 1 MiB"),
        ("/", "error: /: cannot read the config file: Is a directory"),
        (
            "/nonexistent/[/]greenroom.yml",
            "error: /nonexistent/[/]greenroom.yml: cannot read the config file",
        ),
    ],
)
def test_special_files(target: str, expected: str) -> None:
    result = check(target)
    assert_clean(result, 2)
    assert expected in result.output


def test_a_named_pipe_without_a_writer_reads_as_empty(tmp_path: Path) -> None:
    fifo = tmp_path / "greenroom.yml"
    os.mkfifo(fifo)
    result = check(fifo)
    assert_clean(result, 2)
    assert f"error: {fifo}: the file is empty" in result.output


def test_markup_in_the_file_name_is_printed_as_is(tmp_path: Path) -> None:
    path = tmp_path / "x[bold red]y.yml"
    path.write_text(APP + "    port: 1\n")
    result = check(path)
    assert_clean(result, 2)
    assert f"error: {path}: apps.web.port: duplicate key" in result.output


def test_env_files_are_capped_too(tmp_path: Path) -> None:
    path = tmp_path / "greenroom.yml"
    path.write_text(app("    env_file: /dev/zero\n"))
    result = check(path)
    assert_clean(result, 2)
    assert "apps.web.env_file.0: cannot read env file /dev/zero: larger than 1 MiB" in result.output
    (tmp_path / ".env").write_text("A=" + "x" * (1024 * 1024) + "\n")
    path.write_text(APP)
    result = check(path)
    assert_clean(result, 2)
    assert f"error: {tmp_path / '.env'}: cannot read env file: larger than 1 MiB" in result.output


BIG = "x" * 900_000  # a value as long as an env file allows


@pytest.mark.parametrize(
    ("env", "content", "expected"),
    [
        (
            f"A={BIG}\n",
            app("    labels: {a: '" + "${A}" * 100 + "'}\n"),
            "apps.web.labels.a: interpolation makes more than",
        ),
        (
            f"A={BIG}\n",
            app("    labels:\n" + "".join(f"      a{i}: '${{A}}{i}'\n" for i in range(1000))),
            "apps.web.labels.a9: interpolation makes more than 8388608 characters",
        ),
        (
            "",
            app("    env_file: [/dev/zero, /dev//zero, /dev/./zero, //dev/zero, /dev/../dev/zero]\n"),
            "apps.web.env_file.4: cannot read env file /dev/../dev/zero: the env files come to more than",
        ),
        (f"A={BIG}\n", app("    env_file: [" + ", ".join([".env"] * 5000) + "]\n"), "image: web:1"),
        (
            f"A={BIG}\n",
            app("    env_file: [" + ", ".join(f"'{'../@DIR@/' * i}.env'" for i in range(1, 6)) + "]\n"),
            "/.env: the env files come to more than 2 MiB in all",
        ),
    ],
    ids=[
        "one-string",
        "many-strings",
        "dev-zero-spellings",
        "same-env-file-5000-times",
        "env-file-spellings",
    ],
)
def test_interpolation_and_env_files_are_bounded(
    tmp_path: Path, env: str, content: str, expected: str
) -> None:
    if env:
        (tmp_path / ".env").write_text(env)
    path = tmp_path / "greenroom.yml"
    path.write_text(content.replace("@DIR@", tmp_path.name))
    result = check(path)
    assert_clean(result)
    assert expected in result.output, result.output[-3000:]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("merge-bomb.yml", merge_bomb(), "more than 100000 values"),
        ("x[bold red]y.yml", APP + "    port: 1\n", "x[bold red]y.yml: apps.web.port: duplicate key"),
        ("/dev/zero", "", "larger than 1 MiB"),
    ],
    ids=["merge-bomb", "markup-path", "dev-zero"],
)
def test_the_real_command_in_a_process(tmp_path: Path, name: str, content: str, expected: str) -> None:
    path = Path(name) if name.startswith("/") else tmp_path / name
    if content:
        path.write_text(content)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    before = _children_cpu()
    done = subprocess.run(
        [sys.executable, "-m", "greenroom", "config", "check", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )
    seconds = _children_cpu() - before
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert expected in done.stderr
    assert seconds < 2 * SECONDS  # a fresh interpreter's imports included


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


# --- the rules agree with the names and ports greenroom really uses ----------------------


def test_rules_follow_greenrooms_own_names(tmp_path: Path) -> None:
    path = tmp_path / "greenroom.yml"
    path.write_text("apps:\n  web:\n    image: x\n    port: 80\n")
    app = load_config(path, environ={}).apps["web"]
    assert server_names("web", app)[-1] == "web" + rules.INTERNAL_HOST_SUFFIX
    deploy_id = "2401011200001a2b"  # deploy/host.py: %y%m%d%H%M%S + 4 hex digits
    for name in (labels.lock_name("web"), labels.container_name("web", "green", deploy_id, 3)):
        with pytest.raises(ValueError, match="shaped like one of greenroom's own containers"):
            rules.container_name(name)
    for name in (labels.back_network("web"), labels.front_network("web")):
        with pytest.raises(ValueError, match="greenroom's own networks"):
            rules.network_name(name)
    with pytest.raises(ValueError, match="admin port"):
        rules.listen_port(ADMIN_PORT)
    assert rules.container_name("greenroom-proxy") == "greenroom-proxy"
    assert rules.network_name("greenroom-proxy") == "greenroom-proxy"


def test_the_pure_python_parser_keeps_the_same_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(yaml_loader_module, "_CParser", None)
    path = tmp_path / "greenroom.yml"
    path.write_text(app("    environment: {V: 1.10}\n"))
    assert load_config(path, environ={}).apps["web"].environment == {"V": "1.10"}
    path.write_text("apps: " + "[" * 3000 + "\n")
    with pytest.raises(ConfigError, match="nested more than 64 levels deep"):
        load_config(path, environ={})


# --- properties: random bytes and random YAML trees ----------------------------------------

_PROPERTY = settings(
    max_examples=CASES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_KEYS = [
    "version",
    "engine",
    "proxy",
    "apps",
    "web",
    "image",
    "port",
    "hosts",
    "command",
    "environment",
    "labels",
    "networks",
    "resources",
    "memory",
    "cpus",
    "healthcheck",
    "listen",
    "ports",
    "name",
    "network",
    "subnet_pool",
    "<<",
    "secrets",
    "env_file",
    "volumes",
    "replicas",
    "x",
]
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(
        ["80:80", "8099", "web:1", "*.com", "127.0.0.0/8", "${A:-x}", "$", "[/]", "1.10", "host"]
    )
)
_trees = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=10) | _scalars, children, max_size=5)
    ),
    max_leaves=30,
)
_YAML_ALPHABET = string.printable + "\x00\x1b\x85\ufeff\u2028é[]{}&*!|>'\"%@`"


def _in_a_config(tree: Any, where: str) -> dict[str, Any]:
    """A config whose `where` (a dotted path) is the random tree."""
    data: dict[str, Any] = {"apps": {"web": {"image": "web:1", "port": 8000}}}
    *parents, last = where.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = tree
    return data


def _run_text(folder: Path, content: str | bytes) -> None:
    path = folder / "greenroom.yml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    assert_clean(check(path))


@_PROPERTY
@given(content=st.binary(max_size=3000))
def test_random_bytes(tmp_path: Path, content: bytes) -> None:
    _run_text(tmp_path, content)


@_PROPERTY
@given(
    content=st.text(alphabet=_YAML_ALPHABET, max_size=500),
    prefix=st.sampled_from(["", APP, "apps:\n  web:\n"]),
)
def test_random_yaml_like_text(tmp_path: Path, content: str, prefix: str) -> None:
    _run_text(tmp_path, prefix + content)


_PLACES = [
    "apps.web.x",
    "apps.web.image",
    "apps.web.hosts",
    "apps.web.command",
    "apps.web.environment",
    "apps.web.labels",
    "apps.web.resources",
    "apps.web.healthcheck",
    "apps.web.networks",
    "proxy",
    "proxy.ports",
    "proxy.listen",
    "proxy.name",
    "proxy.subnet_pool",
    "engine",
    "apps.api",
    "version",
]


@_PROPERTY
@given(tree=_trees, where=st.sampled_from(_PLACES), style=st.sampled_from([None, True, False]))
def test_random_yaml_trees(tmp_path: Path, tree: Any, where: str, style: bool | None) -> None:
    text = yaml.safe_dump(_in_a_config(tree, where), default_flow_style=style, allow_unicode=True)
    _run_text(tmp_path, text)
