"""Property: a secret interpolated into any other field never reaches any output (issue 20, §2).

A random secret (quotes of both kinds, backslashes, newlines, tabs, non-ASCII, Rich markup)
is declared under `apps.web.secrets` and also interpolated into another field, inside a longer
value, where it may or may not validate: a virtual host name, the image, the health path, an
environment value, a label, the command, the engine address. Every command that reads the
file then runs in-process through the real entry point (`greenroom.cli.app.run`) against an
engine address that answers at once (a socket that does not exist), and nothing it prints,
on stdout or stderr, may hold the secret's markers in any form.
"""

from __future__ import annotations

import os
from pathlib import Path
from unittest.mock import patch

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_config_hostile import CASES, invoke

MARKERS = ("Qx7", "Zq8")
# Characters that slip through naive masks: both quotes (repr escapes one when both occur),
# backslash, newline, tab, Rich markup, YAML and shell specials, non-ASCII (ascii() escapes it).
_ALPHABET = "ab.-_:/@'\"\\\n\t[]{}$%&*#!?=+ éüß€✓"
SECRETS = st.text(alphabet=_ALPHABET, min_size=0, max_size=12).map(lambda s: f"Qx7{s}Zq8")

# (field, the YAML that puts ${TOKEN} inside a longer value there)
_PLACES = {
    "hosts": "    hosts: ['${TOKEN}.example.com']\n",
    "image": "    image: registry.example/${TOKEN}:1\n",
    "health": "    healthcheck: {path: '/h/${TOKEN}'}\n",
    "environment": "    environment: {URL: 'postgres://u:${TOKEN}@db/app'}\n",
    "label": "    labels: {note: 'x${TOKEN}y'}\n",
    "command": "    command: [sh, -c, 'run ${TOKEN}']\n",
    "port": "    port: '80${TOKEN}'\n",
    "network": "    networks: ['n${TOKEN}']\n",
    "engine": "",  # the engine's address (a socket path: nothing is looked up on a network)
}
_NO_ENGINE = "unix:///nonexistent/greenroom-test.sock"
_COMMANDS = [
    ["config", "check"],
    ["config", "check", "--json"],
    ["plan"],
    ["plan", "--json"],
    ["deploy", "--dry-run"],
    ["status"],
    ["history", "web"],
    ["logs", "web"],
]


def _config(place: str) -> str:
    app = "apps:\n  web:\n    secrets: {TOKEN: '${TOKEN}'}\n"
    if place != "image":
        app += "    image: web:1\n"
    if place != "port":
        app += "    port: 8000\n"
    engine = "unix:///nonexistent/${TOKEN}.sock" if place == "engine" else _NO_ENGINE
    return f"engine: {{host: '{engine}'}}\n" + app + _PLACES[place]


@settings(
    max_examples=CASES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(secret=SECRETS, place=st.sampled_from(sorted(_PLACES)))
def test_a_secret_inside_another_field_is_never_printed(tmp_path: Path, secret: str, place: str) -> None:
    path = tmp_path / "greenroom.yml"
    path.write_text(_config(place), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["TOKEN"] = secret
    with patch.dict(os.environ, env, clear=True):
        for command in _COMMANDS:
            result = invoke("--quiet", *command, "-f", str(path))
            assert "Traceback" not in result.output, result.output
            leaked = [m for m in MARKERS if m in result.output]
            assert not leaked, f"{command} printed the secret ({place}):\n{result.output}"


def test_the_reported_forms_are_masked(tmp_path: Path) -> None:
    """The two configs of the issue: a host name holding `Tok'en"9` and one holding a newline."""
    for secret in ("Qx7Tok'en\"9Zq8", "Qx7line1\nline2Zq8"):
        path = tmp_path / "greenroom.yml"
        path.write_text(_config("hosts"), encoding="utf-8")
        with patch.dict(os.environ, {"TOKEN": secret}):
            result = invoke("config", "check", "-f", str(path))
        assert result.code == 2, result.output
        assert "apps.web.hosts.0" in result.output
        assert not [m for m in MARKERS if m in result.output], result.output
