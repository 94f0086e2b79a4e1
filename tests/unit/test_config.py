from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError
from typer.testing import CliRunner

from greenroom.cli.config_cmd import config_app
from greenroom.config import (
    AppConfig,
    Config,
    EngineConfig,
    HealthCheck,
    ProxyConfig,
    config_hash,
    load_config,
    masked,
    parse_duration,
    secret_values,
)
from greenroom.config.container import Mount
from greenroom.config.envfile import parse_env_text
from greenroom.config.interpolation import interpolate
from greenroom.config.names import HostName, ProbePath
from greenroom.config.reference import render_reference
from greenroom.errors import ConfigError
from greenroom.ports import PortMapping
from greenroom.secrets import MASK, mask_text

ROOT = Path(__file__).resolve().parents[2]
APP = "apps:\n  web:\n    image: web:1\n    port: 8000\n"


def write(folder: Path, text: str, name: str = "greenroom.yml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def load(folder: Path, text: str, environ: dict[str, str] | None = None) -> Config:
    return load_config(write(folder, text), environ=environ or {})


def app_with(folder: Path, extra: str, environ: dict[str, str] | None = None) -> AppConfig:
    """Load APP with `extra` (lines indented for the app's mapping) appended."""
    return load(folder, APP + extra, environ).apps["web"]


def failure(folder: Path, text: str, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(folder, text, environ)
    return info.value


def problems(folder: Path, text: str, environ: dict[str, str] | None = None) -> list[str]:
    lines = failure(folder, text, environ).message.splitlines()
    return lines[1:] if lines[0].endswith("problems:") else lines


def problem(folder: Path, text: str, environ: dict[str, str] | None = None) -> str:
    [only] = problems(folder, text, environ)
    return only


# --- defaults and the example --------------------------------------------------------------


def test_a_minimal_file_gets_every_default(tmp_path: Path) -> None:
    cfg = load(tmp_path, APP)
    assert cfg.version == 1
    assert cfg.engine == EngineConfig(host=None, helper_image="busybox:stable")
    assert cfg.proxy.name == "greenroom-proxy"
    assert cfg.proxy.image == "nginx:1.29.3-bookworm"
    assert cfg.proxy.network == "greenroom-proxy"
    assert cfg.proxy.ports == ("80:80",)
    assert cfg.proxy.published_ports() == (PortMapping(None, 80, 80),)
    assert cfg.proxy.listen == 80
    assert str(cfg.proxy.subnet_pool) == "10.213.0.0/16"
    assert cfg.proxy.back_prefix == 26
    assert cfg.proxy.restart == "unless-stopped"
    web = cfg.app("web")
    assert (web.image, web.port, web.replicas, web.command) == ("web:1", 8000, 1, None)
    assert (web.environment, web.env_file, web.secrets, web.volumes) == ({}, (), {}, ())
    assert (web.labels, web.networks, web.hosts) == ({}, (), ())
    assert (web.resources.memory, web.resources.cpus) == (None, None)
    hc = web.healthcheck
    assert (hc.type, hc.path, hc.status, hc.timeout, hc.interval, hc.passes, hc.deadline) == (
        "http",
        "/health",
        200,
        2.0,
        1.0,
        3,
        60.0,
    )
    assert (web.drain_timeout, web.stop_timeout, web.retain) == (30.0, 10.0, 3)


def test_the_example_loads_cleanly() -> None:
    cfg = load_config(ROOT / "examples" / "greenroom.yml", environ={})
    assert set(cfg.apps) == {"web", "api", "mailer"}
    assert cfg.apps["web"].image == "registry.example.com/shop/web:latest"
    assert cfg.apps["api"].healthcheck.type == "tcp"
    cfg = load_config(ROOT / "examples" / "greenroom.yml", environ={"WEB_TAG": "abc123"})
    assert cfg.apps["web"].image == "registry.example.com/shop/web:abc123"


def test_models_can_be_built_directly() -> None:
    app = AppConfig(image="web:1", port=8000, healthcheck=HealthCheck(type="tcp"))
    assert app.healthcheck.type == "tcp"
    assert Config(apps={"web": app}).app("web") is app
    assert ProxyConfig(ports=("8080:8080",), listen=8080).listen == 8080


def test_models_are_frozen(tmp_path: Path) -> None:
    cfg = load(tmp_path, APP)
    with pytest.raises(ValidationError):
        cfg.apps["web"].port = 1


def test_config_app_names_the_known_apps(tmp_path: Path) -> None:
    cfg = load(tmp_path, APP)
    with pytest.raises(ConfigError) as info:
        cfg.app("api")
    assert "'api'" in info.value.message
    assert info.value.hint == "known apps: web"
    assert info.value.exit_code == 2


# --- the error report ----------------------------------------------------------------------


def test_every_problem_is_reported_once_with_path_and_line(tmp_path: Path) -> None:
    text = (
        "proxy:\n"  # 1
        "  ports: ['80:80', '70000:80']\n"  # 2
        "apps:\n"  # 3
        "  web:\n"  # 4
        "    image: web:1\n"  # 5
        "    port: 0\n"  # 6
        "    healthcheck:\n"  # 7
        "      interval: 2x\n"  # 8
        "  Api:\n"  # 9
        "    image: api:1\n"  # 10
        "    port: 1\n"  # 11
    )
    error = failure(tmp_path, text)
    assert error.message.splitlines() == [
        "4 problems:",
        "proxy.ports.1: ports must be between 1 and 65535 (line 2)",
        "apps.web.port: Input should be greater than or equal to 1 (line 6)",
        "apps.web.healthcheck.interval: invalid duration '2x': use 250ms, 2s, 1.5s, 1m, 1h or seconds "
        "(line 8)",
        "apps.Api: invalid app name 'Api': 1-31 lowercase letters, digits and -, starting with a letter "
        "(line 9)",
    ]
    assert error.where == str(tmp_path / "greenroom.yml")
    assert "docs/configuration.md" in error.hint
    assert "greenroom config reference" in error.hint
    assert error.exit_code == 2


def test_a_missing_key_points_at_its_mapping(tmp_path: Path) -> None:
    assert problem(tmp_path, "apps:\n  web:\n    port: 80\n") == "apps.web.image: required (line 2)"
    assert problem(tmp_path, "proxy: {}\n") == "apps: required"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "colour: 1\n" + APP,
            "colour: unknown key; known keys: version, engine, proxy, hosts, rollout, load_balancer, "
            "apps (line 1)",
        ),
        ("proxy:\n  lisen: 80\n" + APP, "proxy.lisen: unknown key (did you mean listen?) (line 2)"),
        (
            APP + "    helthcheck: {}\n",
            "apps.web.helthcheck: unknown key (did you mean healthcheck?) (line 5)",
        ),
        (
            APP + "    healthcheck:\n      retries: 3\n",
            "apps.web.healthcheck.retries: unknown key; known keys: type, path, status, timeout, interval, "
            "passes, deadline, steady (line 6)",
        ),
        (
            APP + "    resources: {memroy: 1g}\n",
            "apps.web.resources.memroy: unknown key (did you mean memory?) (line 5)",
        ),
        ("engine: {hots: x}\n" + APP, "engine.hots: unknown key (did you mean host?) (line 1)"),
    ],
)
def test_unknown_keys_are_rejected_everywhere(tmp_path: Path, text: str, expected: str) -> None:
    assert problem(tmp_path, text) == expected


def test_duplicate_keys_are_errors_with_both_lines(tmp_path: Path) -> None:
    text = "apps:\n  web:\n    image: a\n    port: 80\n    image: b\n"
    assert problem(tmp_path, text) == "apps.web.image: duplicate key (first at line 3) (line 5)"
    text = "apps:\n  web: {image: a, port: 80}\napps: {}\n"
    assert problem(tmp_path, text) == "apps: duplicate key (first at line 1) (line 3)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the file is empty; it needs at least an apps: section"),
        ("# only a comment\n", "the file is empty; it needs at least an apps: section"),
        ("- apps\n", "expected a mapping of sections (version, engine, proxy, apps) (line 1)"),
        ("just text\n", "expected a mapping of sections (version, engine, proxy, apps) (line 1)"),
        ("apps:\n  web: [\n", "invalid YAML:"),
        ("apps: {web: 1}\n---\napps: {}\n", "invalid YAML:"),
        ("apps: !!python/object/apply:os.system [true]\n", "invalid YAML:"),
        ("apps:\n  web:\n    image: a\n   port: 80\n", "invalid YAML:"),
    ],
)
def test_unreadable_yaml_is_one_clear_error(tmp_path: Path, text: str, expected: str) -> None:
    error = failure(tmp_path, text)
    assert error.message.startswith(expected)
    assert error.where == str(tmp_path / "greenroom.yml")


def test_yaml_syntax_errors_carry_the_line(tmp_path: Path) -> None:
    assert "(line 4)" in failure(tmp_path, "apps:\n  web:\n    image: a\n   port: 80\n").message


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yml", environ={})
    assert "cannot read the config file" in info.value.message
    assert info.value.where == str(tmp_path / "nope.yml")


def test_a_self_referencing_alias_is_an_error(tmp_path: Path) -> None:
    assert problem(tmp_path, "apps: &a\n  web: *a\n") == "apps.web: a YAML alias refers to itself (line 2)"


def test_alias_bombs_are_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    error = failure(tmp_path, "\n".join(lines) + "\n" + APP)
    assert "more than 100000 values" in error.message


def test_anchors_and_merge_keys_work(tmp_path: Path) -> None:
    text = (
        "apps:\n"
        "  web: &base\n"
        "    image: shop:1\n"
        "    port: 8000\n"
        "    environment: {MODE: web}\n"
        "  worker:\n"
        "    <<: *base\n"
        "    environment: {MODE: worker}\n"
    )
    cfg = load(tmp_path, text)
    assert cfg.apps["worker"].image == "shop:1"
    assert cfg.apps["worker"].environment == {"MODE": "worker"}


def test_yaml_scalars_follow_yaml_1_2(tmp_path: Path) -> None:
    text = (
        "proxy:\n  restart: no\n  ports: [8080:8000, '80:80']\n  listen: 8000\n"
        + APP
        + "    environment: {A: yes, B: true, C: 1.5, D: off, E: 010}\n"
        + "    labels: {released: 2024-01-01}\n"
    )
    cfg = load(tmp_path, text)
    assert cfg.proxy.restart == "no"
    assert cfg.proxy.ports == ("8080:8000", "80:80")
    assert cfg.apps["web"].environment == {"A": "yes", "B": "true", "C": "1.5", "D": "off", "E": "010"}
    assert cfg.apps["web"].labels == {"released": "2024-01-01"}


def test_sections_with_every_key_commented_out_take_defaults(tmp_path: Path) -> None:
    cfg = load(tmp_path, "engine:\nproxy:\n  # ports: []\n" + APP + "    healthcheck:\n    resources:\n")
    assert cfg.proxy.ports == ("80:80",)
    assert cfg.apps["web"].healthcheck.path == "/health"


def test_version_must_be_1(tmp_path: Path) -> None:
    assert load(tmp_path, "version: 1\n" + APP).version == 1
    assert problem(tmp_path, "version: 2\n" + APP).startswith("version: Input should be 1 (line 1)")


# --- interpolation -------------------------------------------------------------------------

VARS = {"TAG": "v2", "EMPTY": "", "DOLLAR": "$x"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("web:${TAG}", "web:v2"),
        ("${TAG}${TAG}", "v2v2"),
        ("${EMPTY}", ""),
        ("${UNSET:-latest}", "latest"),
        ("${EMPTY:-latest}", "latest"),
        ("${TAG:-latest}", "v2"),
        ("${UNSET-latest}", "latest"),
        ("${EMPTY-latest}", ""),
        ("${UNSET:-}", ""),
        ("${UNSET:-${TAG}}", "v2"),
        ("${UNSET:-a${UNSET2:-b}c}", "abc"),
        ("${UNSET:-{x}}", "{x}"),  # a bare { does not nest: the first } closes the reference
        ("${TAG:?needed}", "v2"),
        ("${EMPTY?needed}", ""),
        ("$$", "$"),
        ("$${TAG}", "${TAG}"),
        ("a$$b$$", "a$b$"),
        ("${DOLLAR}", "$x"),  # values are not interpolated again
        ("${UNSET:-$$}", "$"),
    ],
)
def test_interpolation_forms(text: str, expected: str) -> None:
    assert interpolate(text, VARS) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${UNSET}", "variable UNSET is not set"),
        ("${UNSET:?set it to the tag}", "variable UNSET is not set or empty: set it to the tag"),
        ("${EMPTY:?}", "variable EMPTY is not set or empty"),
        ("${UNSET?no default}", "variable UNSET is not set: no default"),
        ("$TAG", "a lone $: write $$ for a literal $, or ${NAME} for a variable"),
        ("price: 5$", "a lone $"),
        ("${TAG", "unterminated ${"),
        ("${}", "invalid variable name after ${"),
        ("${1X}", "invalid variable name after ${"),
        ("${TAG:+x}", "unsupported syntax in ${TAG...}"),
    ],
)
def test_interpolation_errors(text: str, message: str) -> None:
    with pytest.raises(
        ValueError,
        match="^"
        + message.replace("$", r"\$")
        .replace("{", r"\{")
        .replace("(", r"\(")
        .replace(".", r"\.")
        .replace("+", r"\+"),
    ):
        interpolate(text, VARS)


def test_an_unset_variable_names_path_variable_and_line(tmp_path: Path) -> None:
    text = "apps:\n  web:\n    port: 8000\n    image: web:${IMAGE_TAG}\n"
    assert problem(tmp_path, text) == "apps.web.image: variable IMAGE_TAG is not set (line 4)"


def test_interpolated_values_are_then_validated(tmp_path: Path) -> None:
    text = "apps:\n  web:\n    image: web:1\n    port: ${PORT}\n    replicas: ${N:-2}\n"
    assert load(tmp_path, text, {"PORT": "9000"}).apps["web"].port == 9000
    assert load(tmp_path, text, {"PORT": "9000"}).apps["web"].replicas == 2
    # a failed interpolation is the one problem reported for that value
    assert problem(tmp_path, text) == "apps.web.port: variable PORT is not set (line 4)"
    assert problem(tmp_path, text, {"PORT": "http"}).startswith(
        "apps.web.port: Input should be a valid integer"
    )


def test_keys_are_not_interpolated(tmp_path: Path) -> None:
    cfg = load(tmp_path, APP + "    labels: {'${X}': y}\n", {"X": "z"})
    assert cfg.apps["web"].labels == {"${X}": "y"}


def test_a_dotenv_beside_the_config_supplies_variables(tmp_path: Path) -> None:
    write(tmp_path, "TAG=from-dotenv\nPORT=7000\n", ".env")
    text = "apps:\n  web:\n    image: web:${TAG}\n    port: ${PORT}\n"
    cfg = load(tmp_path, text, {"PORT": "7001"})
    assert cfg.apps["web"].image == "web:from-dotenv"
    assert cfg.apps["web"].port == 7001  # the environment wins, as in Compose


def test_an_explicit_env_file_replaces_the_dotenv(tmp_path: Path) -> None:
    write(tmp_path, "TAG=from-dotenv\n", ".env")
    other = write(tmp_path, "TAG=from-other\n", "other.env")
    path = write(tmp_path, "apps:\n  web:\n    image: web:${TAG}\n    port: 1\n")
    assert load_config(path, environ={}, env_file=other).apps["web"].image == "web:from-other"
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={}, env_file=tmp_path / "missing.env")
    assert info.value.where == str(tmp_path / "missing.env")
    assert "cannot read env file" in info.value.message


def test_a_broken_dotenv_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "# vars\nGOOD=1\nnot a variable\n", ".env")
    with pytest.raises(ConfigError) as info:
        load(tmp_path, APP)
    assert info.value.where == str(tmp_path / ".env")
    assert info.value.message == "line 3: expected NAME=value"


def test_os_environ_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREENROOM_TEST_TAG", "from-os")
    path = write(tmp_path, "apps:\n  web:\n    image: web:${GREENROOM_TEST_TAG}\n    port: 1\n")
    assert load_config(path).apps["web"].image == "web:from-os"


# --- env files -----------------------------------------------------------------------------


def test_env_file_syntax() -> None:
    text = (
        "# a comment\n"
        "\n"
        "PLAIN=value\n"
        "  SPACED = padded  \n"
        "export EXPORTED=yes\n"
        "EMPTY=\n"
        "EQUALS=a=b=c\n"
        "INLINE=value # a comment\n"
        "HASH=a#b\n"
        "SINGLE='$HOME # not a comment'\n"
        'DOUBLE="line\\nnext \\"quoted\\" \\\\ end" # comment\n'
        "SQ='a \\n b'\n"
        "_under_score1=x\n"
    )
    assert parse_env_text(text) == {
        "PLAIN": "value",
        "SPACED": "padded",
        "EXPORTED": "yes",
        "EMPTY": "",
        "EQUALS": "a=b=c",
        "INLINE": "value",
        "HASH": "a#b",
        "SINGLE": "$HOME # not a comment",
        "DOUBLE": 'line\nnext "quoted" \\ end',
        "SQ": "a \\n b",
        "_under_score1": "x",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A=1\nnoequals\n", "line 2: expected NAME=value"),
        ("1A=x\n", "line 1: invalid variable name '1A'"),
        ("A B=x\n", "line 1: invalid variable name 'A B'"),
        ("A='open\n", "line 1: unterminated quoted value"),
        ('A="x" y\n', "line 1: unexpected text after the closing quote"),
    ],
)
def test_env_file_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        parse_env_text(text)


def test_env_file_errors_never_show_values() -> None:
    with pytest.raises(ValueError, match="unterminated") as info:
        parse_env_text("TOKEN='s3cr3t-value\n")
    assert "s3cr3t" not in str(info.value)


def test_app_env_files_merge_under_environment_and_secrets(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    write(tmp_path, "A=file\nB=file\nC=file\nD=file\n", "conf/base.env")
    write(tmp_path, "B=second\n", "conf/more.env")
    web = app_with(
        tmp_path,
        "    env_file: [conf/base.env, conf/more.env]\n    environment: {C: env}\n    secrets: {D: secret}\n",
    )
    assert web.env_file == ("conf/base.env", "conf/more.env")
    assert web.env() == {"A": "file", "B": "second", "C": "env", "D": "secret"}


def test_env_file_may_be_one_string_relative_to_the_config(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sub = tmp_path / "deploy"
    sub.mkdir()
    write(sub, "X=1\n", "web.env")
    monkeypatch.chdir(tmp_path)
    web = load_config(write(sub, APP + "    env_file: web.env\n"), environ={}).apps["web"]
    assert web.env_file == ("web.env",)
    assert web.env() == {"X": "1"}


def test_a_missing_env_file_names_field_and_path(tmp_path: Path) -> None:
    message = problem(tmp_path, APP + "    env_file: [missing.env]\n")
    assert message == (
        f"apps.web.env_file.0: cannot read env file {tmp_path / 'missing.env'}: "
        "No such file or directory (line 5)"
    )


def test_a_broken_env_file_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "OK=1\n\nbroken\n", "web.env")
    message = problem(tmp_path, APP + "    env_file: web.env\n")
    assert message == f"apps.web.env_file.0: {tmp_path / 'web.env'} line 3: expected NAME=value (line 5)"


# --- secrets -------------------------------------------------------------------------------

SECRET = "hunter2-very-secret"


def test_secrets_are_masked_everywhere_but_env(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        APP + "    secrets:\n      DB_PASSWORD: ${DB_PASSWORD}\n      PIN: 1234\n",
        {"DB_PASSWORD": SECRET},
    )
    web = cfg.apps["web"]
    assert web.env() == {"DB_PASSWORD": SECRET, "PIN": "1234"}
    assert secret_values(cfg) == {SECRET, "1234"}
    shown = masked(cfg)
    assert shown["apps"]["web"]["secrets"] == {"DB_PASSWORD": MASK, "PIN": MASK}
    for text in (json.dumps(shown), repr(cfg), str(cfg), repr(web), str(web), repr(web.secrets)):
        assert SECRET not in text
        assert "1234" not in text


def test_masked_is_json_data(tmp_path: Path) -> None:
    shown = masked(load(tmp_path, APP + "    volumes: ['data:/data:ro']\n"))
    assert json.loads(json.dumps(shown)) == shown
    assert shown["proxy"]["subnet_pool"] == "10.213.0.0/16"
    assert shown["apps"]["web"]["volumes"] == ["data:/data:ro"]
    assert shown["apps"]["web"]["healthcheck"]["interval"] == 1.0


def test_error_messages_never_contain_secret_values(tmp_path: Path) -> None:
    text = (
        "apps:\n"
        "  web:\n"
        f"    image: '{SECRET} x'\n"  # echoes the value: masked
        "    port: 80\n"
        "    secrets:\n"
        f"      OK: {SECRET}\n"
        "      FROM_ENV: ${TOKEN}\n"
        "    hosts: ['${TOKEN}']\n"
        "  api:\n"
        "    image: api\n"
        "    port: 80\n"
        "    secrets:\n"
        "      NESTED: {value: also-secret}\n"
        "  worker:\n"
        "    image: w\n"
        "    port: 80\n"
        "    secrets:\n"
        f"      'BAD NAME': {SECRET}\n"
    )
    error = failure(tmp_path, text, {"TOKEN": "Tok_en value"})
    for value in (SECRET, "also-secret", "Tok_en value"):
        assert value not in error.message
    assert error.message.splitlines()[1:] == [
        f"apps.web.image: image reference '{MASK} x' must not contain whitespace or control characters "
        "(line 3)",
        f"apps.web.hosts.0: host name '{MASK}' must be lowercase (line 8)",
        "apps.api.secrets.NESTED: NESTED must be a string or a number (line 13)",
        "apps.worker.secrets.BAD NAME: invalid variable name 'BAD NAME': use letters, digits and _, "
        "not starting with a digit (line 18)",
    ]


def test_validation_errors_outside_the_loader_hide_inputs() -> None:
    with pytest.raises(ValidationError) as info:
        AppConfig.model_validate({"image": "x", "port": 1, "secrets": {"A": {"k": SECRET}}})
    assert SECRET not in str(info.value)


def test_a_name_may_not_be_both_environment_and_secret(tmp_path: Path) -> None:
    message = problem(tmp_path, APP + "    environment: {DB: plain}\n    secrets: {DB: s3cr3t-value}\n")
    assert message == (
        "apps.web.secrets.DB: DB is also set in environment; a name may be in one of them only (line 6)"
    )


def test_secrets_must_be_a_mapping_of_scalars(tmp_path: Path) -> None:
    assert problem(tmp_path, APP + "    secrets: [A=1]\n") == (
        "apps.web.secrets: expected a mapping NAME: value (line 5)"
    )
    assert problem(tmp_path, APP + "    secrets: {A: }\n") == (
        "apps.web.secrets.A: A must be a string or a number (line 5)"
    )


def test_mask_text() -> None:
    assert mask_text("user=alice pass=alice123", ["alice", "alice123"]) == f"user={MASK} pass={MASK}"
    assert mask_text("a****b", ["****", ""]) == f"a{MASK}b"
    assert mask_text("nothing here", []) == "nothing here"
    assert mask_text("x.y.z", ["....", ".y.z"]) == f"x{MASK}"  # secrets are literal text, not patterns
    assert mask_text("abab abab", ["abab", "bab "]) == MASK  # overlapping occurrences merge
    assert mask_text("short a b c", ["a", "b c"]) == "short a b c"  # the config refuses these


def test_secrets_shorter_than_four_characters_are_refused(tmp_path: Path) -> None:
    message = problem(tmp_path, APP + "    secrets: {PIN: 123, OK: '1234', EMPTY: ''}\n")
    assert message == (
        "apps.web.secrets.PIN: PIN is shorter than 4 characters: too short to mask in output (line 5)"
    )


# --- the hash ------------------------------------------------------------------------------


def test_config_hash_is_stable_and_follows_every_input(tmp_path: Path) -> None:
    write(tmp_path, "A=1\n", "web.env")
    base = APP + "    env_file: web.env\n    secrets: {S: secret-one}\n"
    first = config_hash(load(tmp_path, base).apps["web"])
    assert len(first) == 12
    assert set(first) <= set(string.hexdigits.lower())
    assert config_hash(load(tmp_path, base).apps["web"]) == first
    assert config_hash(load(tmp_path, base.replace("one", "two")).apps["web"]) != first
    assert config_hash(load(tmp_path, base.replace("web:1", "web:2")).apps["web"]) != first
    write(tmp_path, "A=2\n", "web.env")
    assert config_hash(load(tmp_path, base).apps["web"]) != first


def test_config_hash_does_not_depend_on_the_app_name_or_other_apps(tmp_path: Path) -> None:
    one = load(tmp_path, APP).apps["web"]
    two = load(tmp_path, APP.replace("web:", "api:", 1) + "  other:\n    image: o\n    port: 1\n").apps["api"]
    assert config_hash(one) == config_hash(two)


# --- durations and sizes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("250ms", 0.25),
        ("2s", 2.0),
        ("1.5s", 1.5),
        ("1m", 60.0),
        ("1h", 3600.0),
        ("0", 0.0),
        ("3", 3.0),
        (" 2s ", 2.0),
        ("10 s", 10.0),
        (".5s", 0.5),
        (5, 5.0),
        (0.5, 0.5),
        (0, 0.0),
    ],
)
def test_parse_duration(value: str | float, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    "value",
    [
        "2x",
        "",
        "s",
        "-1s",
        "1.2.3s",
        "1m30s",
        "2 hours",
        "1e3s",
        -1,
        float("nan"),
        float("inf"),
        True,
        None,
        [1],
    ],
)
def test_parse_duration_rejects(value: Any) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("timeout", "0", "must be more than 0s"),
        ("timeout", "61s", "must be at most 1m"),
        ("interval", "10ms", "must be at least 50ms"),
        ("deadline", "0s", "must be more than 0s"),
        ("deadline", "1s", "must be longer than interval (1s)"),
        ("passes", "0", "Input should be greater than or equal to 1"),
        ("passes", "101", "Input should be less than or equal to 100"),
        ("status", "99", "Input should be greater than or equal to 100"),
        ("status", "600", "Input should be less than or equal to 599"),
    ],
)
def test_healthcheck_limits(tmp_path: Path, field: str, value: str, message: str) -> None:
    text = APP + f"    healthcheck:\n      {field}: {value}\n"
    assert problem(tmp_path, text) == f"apps.web.healthcheck.{field}: {message} (line 6)"


def test_deadline_must_exceed_even_a_default_interval(tmp_path: Path) -> None:
    text = APP + "    healthcheck:\n      interval: 2m\n"
    expected = "apps.web.healthcheck.deadline: must be longer than interval (2m) (line 5)"
    assert problem(tmp_path, text) == expected
    hc = app_with(tmp_path, "    healthcheck: {interval: 50ms, timeout: 1m, deadline: 1h}\n").healthcheck
    assert (hc.interval, hc.timeout, hc.deadline) == (0.05, 60.0, 3600.0)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("drain_timeout", "2h", "must be at most 1h"),
        ("stop_timeout", "11m", "must be at most 10m"),
        ("stop_timeout", "-1", "invalid duration -1"),
        ("stop_timeout", "'-1'", "invalid duration '-1'"),
    ],
)
def test_app_timeouts(tmp_path: Path, field: str, value: str, message: str) -> None:
    assert problem(tmp_path, APP + f"    {field}: {value}\n").startswith(f"apps.web.{field}: {message}")
    assert getattr(app_with(tmp_path, f"    {field}: 0\n"), field) == 0.0


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("256m", 256 * 2**20),
        ("1g", 2**30),
        ("1.5g", 3 * 2**29),
        ("6m", 6 * 2**20),
        ("6144k", 6 * 2**20),
        ("512MiB", 512 * 2**20),
        ("1gb", 2**30),
        ("10485760", 10485760),
        (10485760, 10485760),
        ("null", None),
    ],
)
def test_memory_sizes(tmp_path: Path, value: str | int, size: int | None) -> None:
    assert app_with(tmp_path, f"    resources: {{memory: {value}}}\n").resources.memory == size


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("512k", "must be at least 6m (Docker's minimum)"),
        ("5m", "must be at least 6m (Docker's minimum)"),
        ("lots", "invalid size 'lots'"),
        ("1x", "invalid size '1x'"),
        ("true", "a size is a string like 256m or a number of bytes"),
    ],
)
def test_memory_errors(tmp_path: Path, value: str, message: str) -> None:
    assert problem(tmp_path, APP + f"    resources: {{memory: {value}}}\n").startswith(
        f"apps.web.resources.memory: {message}"
    )


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("0.01", True),
        ("1.5", True),
        ("64", True),
        ("0", False),
        ("65", False),
        ("true", False),
        ("many", False),
    ],
)
def test_cpus(tmp_path: Path, value: str, ok: bool) -> None:
    text = APP + f"    resources: {{cpus: {value}}}\n"
    if ok:
        assert load(tmp_path, text).apps["web"].resources.cpus == float(value)
    else:
        assert problem(tmp_path, text).startswith("apps.web.resources.cpus: ")


# --- app fields ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("web", True),
        ("a", True),
        ("api-v2", True),
        ("a" * 31, True),
        ("Web", False),
        ("2web", False),
        ("web_app", False),
        ("a" * 32, False),
        ("-web", False),
        ("web.app", False),
    ],
)
def test_app_names(tmp_path: Path, name: str, ok: bool) -> None:
    text = f"apps:\n  '{name}':\n    image: x\n    port: 1\n"
    if ok:
        assert name in load(tmp_path, text).apps
    else:
        assert problem(tmp_path, text).startswith(f"apps.{name}: invalid app name '{name}'")


def test_apps_must_not_be_empty(tmp_path: Path) -> None:
    assert problem(tmp_path, "apps: {}\n") == "apps: needs at least one app (line 1)"
    assert problem(tmp_path, "apps:\n").startswith("apps: Input should be a valid dictionary")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("''", "must not be empty"),
        ("'web 1'", "image reference 'web 1' must not contain whitespace or control characters"),
        ('"web\\t1"', "image reference 'web\\t1' must not contain whitespace"),
        ("-web", "image reference '-web' must not start with -"),
        ("42", "Input should be a valid string"),
    ],
)
def test_image_errors(tmp_path: Path, value: str, message: str) -> None:
    text = f"apps:\n  web:\n    image: {value}\n    port: 1\n"
    assert problem(tmp_path, text).startswith(f"apps.web.image: {message}")


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("1", True),
        ("65535", True),
        ("'8080'", True),
        ("0", False),
        ("65536", False),
        ("http", False),
        ("true", False),
        ("80.5", False),
    ],
)
def test_port(tmp_path: Path, value: str, ok: bool) -> None:
    text = f"apps:\n  web:\n    image: x\n    port: {value}\n"
    if ok:
        assert load(tmp_path, text).apps["web"].port == int(value.strip("'"))
    else:
        assert problem(tmp_path, text).startswith("apps.web.port: ")


@pytest.mark.parametrize(("value", "ok"), [("1", True), ("16", True), ("0", False), ("17", False)])
def test_replicas(tmp_path: Path, value: str, ok: bool) -> None:
    if ok:
        assert app_with(tmp_path, f"    replicas: {value}\n").replicas == int(value)
    else:
        assert problem(tmp_path, APP + f"    replicas: {value}\n").startswith("apps.web.replicas: ")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("gunicorn -b 0.0.0.0:8000 app:wsgi", ("gunicorn", "-b", "0.0.0.0:8000", "app:wsgi")),
        ("\"sh -c 'echo hi; sleep 1'\"", ("sh", "-c", "echo hi; sleep 1")),
        ("[sleep, 10]", ("sleep", "10")),
        ("['a b', c]", ("a b", "c")),
        ("null", None),
    ],
)
def test_command(tmp_path: Path, value: str, words: tuple[str, ...] | None) -> None:
    assert app_with(tmp_path, f"    command: {value}\n").command == words


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"echo \'unclosed"', "apps.web.command: cannot split the command into words: No closing quotation"),
        ("''", "apps.web.command: is empty; leave it out to run the image's own command"),
        ("[]", "apps.web.command: is empty; leave it out to run the image's own command"),
        ("[echo, true]", "apps.web.command.1: command words must be strings (quote them)"),
        ("{a: b}", "apps.web.command: expected a list of words or a string"),
    ],
)
def test_command_errors(tmp_path: Path, value: str, message: str) -> None:
    assert problem(tmp_path, APP + f"    command: {value}\n") == f"{message} (line 5)"


def test_environment_mapping_and_list_forms(tmp_path: Path) -> None:
    mapping = app_with(tmp_path, "    environment: {A: x, B: 2, C: 2.5, D: true, E: false, _F: ''}\n")
    assert mapping.environment == {"A": "x", "B": "2", "C": "2.5", "D": "true", "E": "false", "_F": ""}
    listed = app_with(tmp_path, "    environment: [A=x, B=, C=a=b]\n")
    assert listed.environment == {"A": "x", "B": "", "C": "a=b"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "{1A: x}",
            "apps.web.environment.1A: invalid variable name '1A': use letters, digits and _, "
            "not starting with a digit (line 6)",
        ),
        (
            "{A: }",
            "apps.web.environment.A: A must be a string, number or true/false (write '' for an empty value)"
            " (line 6)",
        ),
        ("{A: [1]}", "apps.web.environment.A: A must be a string, number or true/false (line 6)"),
        ("[A=1, B]", 'apps.web.environment.1: expected "NAME=value" (line 6)'),
        ("[A=1, A=2]", "apps.web.environment.1: A is set twice (line 6)"),
        (
            "['A B=1']",
            "apps.web.environment.0: invalid variable name 'A B': use letters, digits and _, "
            "not starting with a digit (line 6)",
        ),
        ("oops", 'apps.web.environment: expected a mapping NAME: value or a list of "NAME=value" (line 6)'),
    ],
)
def test_environment_errors(tmp_path: Path, value: str, message: str) -> None:
    assert problem(tmp_path, APP + f"    replicas: 1\n    environment: {value}\n") == message


def test_volumes(tmp_path: Path) -> None:
    web = app_with(tmp_path, "    volumes: [data:/var/lib/data, '/srv/conf:/etc/app:ro', 'logs:/logs:rw']\n")
    assert web.volumes == ("data:/var/lib/data", "/srv/conf:/etc/app:ro", "logs:/logs")
    assert web.mounts() == (
        Mount("data", "/var/lib/data"),
        Mount("/srv/conf", "/etc/app", True),
        Mount("logs", "/logs"),
    )
    assert [m.is_bind for m in web.mounts()] == [False, True, False]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("./data:/data", "source './data' must be an absolute host path or a volume name"),
        ("data:relative", "target 'relative' must be an absolute path other than /"),
        ("data:/", "target '/' must be an absolute path other than /"),
        ("data:/d:z", "mode 'z' must be ro or rw"),
        ("/only", 'expected "SRC:DST[:ro|:rw]"'),
        ("a:/b:ro:x", 'expected "SRC:DST[:ro|:rw]"'),
        ("_x:/data", "source '_x' must be an absolute host path or a volume name"),
    ],
)
def test_volume_errors(tmp_path: Path, value: str, message: str) -> None:
    assert problem(tmp_path, APP + f"    volumes: ['{value}']\n").startswith(f"apps.web.volumes.0: {message}")


def test_volume_targets_are_unique(tmp_path: Path) -> None:
    text = APP + "    volumes:\n      - a:/data\n      - /srv:/data:ro\n"
    assert problem(tmp_path, text) == "apps.web.volumes.1: /data is mounted twice (line 7)"


def test_labels(tmp_path: Path) -> None:
    web = app_with(tmp_path, "    labels: {com.example.team: shop, tier: 1, public: true}\n")
    assert web.labels == {"com.example.team": "shop", "tier": "1", "public": "true"}
    message = problem(tmp_path, APP + "    labels:\n      Greenroom.app: x\n")
    assert message == (
        "apps.web.labels.Greenroom.app: label 'Greenroom.app' is reserved: keys starting with "
        "greenroom. are its own (line 6)"
    )
    assert problem(tmp_path, APP + "    labels: {a: [1]}\n") == (
        "apps.web.labels.a: label values must be strings, numbers or true/false (line 5)"
    )


def test_networks(tmp_path: Path) -> None:
    assert app_with(tmp_path, "    networks: [db, shop_db.v2]\n").networks == ("db", "shop_db.v2")
    assert problem(tmp_path, APP + "    networks: [db, x, db]\n") == (
        "apps.web.networks.2: network db is listed twice (line 5)"
    )
    assert problem(tmp_path, APP + "    networks: ['-db']\n").startswith(
        "apps.web.networks.0: invalid name '-db': 1-63 letters, digits, _ . and -"
    )


# --- health check --------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "field"), [("tcp", "path"), ("docker", "status"), ("tcp", "status")])
def test_http_only_fields_are_refused_for_other_types(tmp_path: Path, kind: str, field: str) -> None:
    text = APP + f"    healthcheck:\n      type: {kind}\n      {field}: {'/x' if field == 'path' else 204}\n"
    expected = f"apps.web.healthcheck.{field}: only used by type http, not {kind} (line 7)"
    assert problem(tmp_path, text) == expected


def test_healthcheck_types(tmp_path: Path) -> None:
    assert app_with(tmp_path, "    healthcheck: {type: docker}\n").healthcheck.type == "docker"
    assert problem(tmp_path, APP + "    healthcheck: {type: grpc}\n").startswith(
        "apps.web.healthcheck.type: Input should be 'http', 'tcp', 'docker' or 'running'"
    )


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/health",
        "/healthz?deep=1&x=2",
        "/a/b.c/~d_e-f",
        "/%20x%2F",
        "/:@!*+,=()",
        "/" + "a" * 1023,
    ],
)
def test_good_probe_paths(tmp_path: Path, path: str) -> None:
    assert app_with(tmp_path, f"    healthcheck: {{path: '{path}'}}\n").healthcheck.path == path


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("health", "must start with /"),
        ("/" + "a" * 1024, "must be at most 1024 characters"),
        ("/a b", "contains ' '; only letters, digits and ._~!&()*+,=:@/%?- are allowed"),
        ("/a;b", "contains ';'"),
        ("/a$b", "contains '$'"),
        ("/{a}", "contains '{}'"),
        ("/a'b", 'contains "\'"'),
        ('/a"b', "contains '\"'"),
        ("/a`b", "contains '`'"),
        ("/a\\b", "contains '\\\\'"),
        ("/a#b", "contains '#'"),
        ("/a\x7fb", "contains '\\x7f'"),
        ("/caf\u00e9", "contains 'é'"),
        ("/%zz", "% must be followed by two hex digits"),
        ("/100%", "% must be followed by two hex digits"),
    ],
)
def test_bad_probe_paths(path: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        HealthCheck(path=path)
    assert message in str(info.value)


# --- hosts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "*.example.com",
        "localhost",
        "a-b.c0",
        "xn--bcher-kva.example",
        "1.2.3.4",
        "a" * 63 + ".com",
        ".".join(["a" * 63] * 3) + "." + "b" * 61,
    ],
)
def test_good_hosts(host: str) -> None:
    assert TypeAdapter(HostName).validate_python(host) == host


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("Example.com", "host name 'Example.com' must be lowercase"),
        ("WWW.EXAMPLE.COM", "must be lowercase"),
        ("example.com.", "host name 'example.com.' must not end with a dot"),
        ("-a.com", "invalid host name '-a.com'"),
        ("a-.com", "invalid host name"),
        ("a..b", "invalid host name"),
        ("", "invalid host name"),
        ("*", "invalid host name"),
        ("*.", "must not end with a dot"),
        ("a.*.com", "invalid host name"),
        ("**.com", "invalid host name"),
        ("a_b.com", "invalid host name"),
        ("a" * 64 + ".com", "invalid host name"),
        (".".join(["a" * 63] * 4), "invalid host name"),
        ("bücher.de", "invalid host name"),
    ],
)
def test_bad_hosts(host: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        TypeAdapter(HostName).validate_python(host)
    assert message in str(info.value)


def test_hosts_in_the_file(tmp_path: Path) -> None:
    text = APP + "    hosts:\n      - shop.example.com\n      - Shop.example.com\n"
    expected = "apps.web.hosts.1: host name 'Shop.example.com' must be lowercase (line 7)"
    assert problem(tmp_path, text) == expected
    text = APP + "    hosts: [a.example, a.example]\n"
    assert problem(tmp_path, text) == "apps.web.hosts.1: host a.example is listed twice (line 5)"


def test_a_host_belongs_to_one_app_only(tmp_path: Path) -> None:
    text = (
        "apps:\n"
        "  web:\n"
        "    image: web\n"
        "    port: 80\n"
        "    hosts: [shop.example.com, '*.example.com']\n"
        "  api:\n"
        "    image: api\n"
        "    port: 80\n"
        "    hosts:\n"
        "      - api.example.com\n"
        "      - shop.example.com\n"
    )
    assert problem(tmp_path, text) == (
        "apps.api.hosts.1: shop.example.com is a host of both apps web and api; "
        "a host name may belong to one app only (line 11)"
    )
    cfg = load(tmp_path, text.replace("      - shop.example.com\n", ""))
    assert cfg.apps["api"].hosts == ("api.example.com",)  # a wildcard of another app is no conflict


BAD_CHARS = " \t\n;{}'\"$\\"


@given(st.tuples(st.text(max_size=20), st.sampled_from(BAD_CHARS), st.text(max_size=20)).map("".join))
def test_hosts_and_paths_with_dangerous_characters_are_rejected(text: str) -> None:
    for kind in (HostName, ProbePath):
        for candidate in (text, "/" + text):
            with pytest.raises(ValidationError):
                TypeAdapter(kind).validate_python(candidate)


# --- proxy and engine ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ports", "listen", "expected"),
    [
        ("['80:80']", 80, [PortMapping(None, 80, 80)]),
        (
            "['127.0.0.1:8080:80', '443:8443/tcp']",
            8443,
            [PortMapping("127.0.0.1", 8080, 80), PortMapping(None, 443, 8443)],
        ),
        (
            "['[::1]:8080:80', '0.0.0.0:80:80']",
            80,
            [PortMapping("::1", 8080, 80), PortMapping("0.0.0.0", 80, 80)],
        ),
        ("[8080:80, 8000:8000]", 8000, [PortMapping(None, 8080, 80), PortMapping(None, 8000, 8000)]),
    ],
)
def test_proxy_ports(tmp_path: Path, ports: str, listen: int, expected: list[PortMapping]) -> None:
    proxy = load(tmp_path, f"proxy:\n  ports: {ports}\n  listen: {listen}\n" + APP).proxy
    assert list(proxy.published_ports()) == expected
    assert proxy.ports == tuple(map(str, expected))


def test_normalized_ports_round_trip() -> None:
    assert str(PortMapping("::1", 1, 2)) == "[::1]:1:2"
    assert str(PortMapping("10.0.0.1", 1, 2)) == "10.0.0.1:1:2"


@pytest.mark.parametrize(
    ("port", "message"),
    [
        ("80", 'expected "[HOST_IP:]HOST_PORT:CONTAINER_PORT"'),
        ("80:80/udp", "only tcp ports can be published"),
        ("0:80", "ports must be between 1 and 65535"),
        ("80:70000", "ports must be between 1 and 65535"),
        ("1.2.3:80:80", "invalid host IP address '1.2.3'"),
        ("[1::1::1]:80:80", "invalid host IP address '1::1::1'"),
        ("[::g]:80:80", 'expected "[HOST_IP:]HOST_PORT:CONTAINER_PORT"'),
        ("::1:80:80", 'expected "[HOST_IP:]HOST_PORT:CONTAINER_PORT"'),
        ("8000-8001:8000-8001", 'expected "[HOST_IP:]HOST_PORT:CONTAINER_PORT"'),
        ("host:80:80", 'expected "[HOST_IP:]HOST_PORT:CONTAINER_PORT"'),
    ],
)
def test_bad_proxy_ports(tmp_path: Path, port: str, message: str) -> None:
    text = f"proxy:\n  ports: ['80:80', '{port}']\n" + APP
    assert problem(tmp_path, text).startswith(f"proxy.ports.1: {message}")


def test_proxy_port_numbers_are_refused_unquoted_or_not(tmp_path: Path) -> None:
    assert problem(tmp_path, "proxy:\n  ports: [80]\n" + APP).startswith("proxy.ports.0: expected")


def test_a_host_port_is_published_once(tmp_path: Path) -> None:
    text = "proxy:\n  ports: ['80:80', '80:81']\n" + APP
    assert problem(tmp_path, text) == "proxy.ports.1: host port 80 is published twice (line 2)"
    text = "proxy:\n  ports: ['127.0.0.1:80:80', '80:81']\n" + APP
    assert problem(tmp_path, text) == "proxy.ports.1: host port 80 is published twice (line 2)"
    load(tmp_path, "proxy:\n  ports: ['127.0.0.1:80:80', '10.0.0.1:80:80', '443:80']\n" + APP)


def test_listen_must_be_a_published_container_port(tmp_path: Path) -> None:
    text = "proxy:\n  ports: ['80:8080', '443:8443']\n  listen: 80\n" + APP
    expected = "proxy.listen: 80 is not a container port of proxy.ports (8080, 8443) (line 3)"
    assert problem(tmp_path, text) == expected
    text = "proxy:\n  listen: 8080\n" + APP  # against the default ports
    expected = "proxy.listen: 8080 is not a container port of proxy.ports (80) (line 2)"
    assert problem(tmp_path, text) == expected


@pytest.mark.parametrize(
    ("pool", "message"),
    [
        ("10.213.0.1/16", "invalid IPv4 network '10.213.0.1/16': 10.213.0.1/16 has host bits set"),
        ("10.0.0.0/25", "10.0.0.0/25 is a /25; the pool must be between a /8 and a /24"),
        ("8.0.0.0/7", "8.0.0.0/7 is a /7; the pool must be between a /8 and a /24"),
        ("fd00::/64", "invalid IPv4 network 'fd00::/64'"),
        ("banana", "invalid IPv4 network 'banana'"),
    ],
)
def test_subnet_pool(tmp_path: Path, pool: str, message: str) -> None:
    text = f"proxy:\n  subnet_pool: {pool}\n" + APP
    assert problem(tmp_path, text).startswith(f"proxy.subnet_pool: {message}")


def test_back_prefix_must_fit_the_pool(tmp_path: Path) -> None:
    proxy = load(tmp_path, "proxy: {subnet_pool: 172.30.0.0/24, back_prefix: 29}\n" + APP).proxy
    assert (str(proxy.subnet_pool), proxy.back_prefix) == ("172.30.0.0/24", 29)
    text = "proxy:\n  subnet_pool: 172.30.0.0/24\n  back_prefix: 20\n" + APP
    expected = "proxy.back_prefix: a /20 does not fit in subnet_pool 172.30.0.0/24 (line 3)"
    assert problem(tmp_path, text) == expected
    assert problem(tmp_path, "proxy: {back_prefix: 30}\n" + APP).startswith(
        "proxy.back_prefix: Input should be"
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "-proxy"),
        ("name", "my proxy"),
        ("name", "a" * 64),
        ("network", "net/work"),
        ("network", "''"),
        ("restart", "sometimes"),
        ("image", "'a b'"),
    ],
)
def test_bad_proxy_fields(tmp_path: Path, field: str, value: str) -> None:
    assert problem(tmp_path, f"proxy:\n  {field}: {value}\n" + APP).startswith(f"proxy.{field}: ")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("unix:///var/run/docker.sock", "unix:///var/run/docker.sock"),
        ("ssh://deploy@app-1", "ssh://deploy@app-1"),
        ("tcp://10.0.0.5:2376", "tcp://10.0.0.5:2376"),
        ("''", None),
        ("null", None),
    ],
)
def test_engine_hosts(tmp_path: Path, host: str, expected: str | None) -> None:
    assert load(tmp_path, f"engine: {{host: {host}}}\n" + APP).engine.host == expected


@pytest.mark.parametrize("host", ["/var/run/docker.sock", "docker.example.com", "ftp://x", "unix://"])
def test_bad_engine_hosts(tmp_path: Path, host: str) -> None:
    assert problem(tmp_path, f"engine: {{host: '{host}'}}\n" + APP).startswith(
        "engine.host: expected an engine address like unix:///var/run/docker.sock"
    )


# --- reference and CLI ---------------------------------------------------------------------


def _models(model: type[BaseModel]) -> list[type[BaseModel]]:
    found = [model]
    for field in model.model_fields.values():
        for candidate in (field.annotation, *getattr(field.annotation, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                found += _models(candidate)
    return found


def test_every_field_is_documented() -> None:
    models = _models(Config)
    assert {m.__name__ for m in models} == {
        "Config",
        "EngineConfig",
        "EngineTls",
        "ProxyConfig",
        "AppConfig",
        "Resources",
        "HealthCheck",
        "FleetHost",
        "Rollout",
        "LoadBalancerConfig",
        "HaproxyConfig",
        "HooksConfig",
        "Placement",
        "ReleaseCommand",
        "TlsConfig",
        "AcmeConfig",
        "Eab",
        "Preview",
        "Canary",
    }
    for model in models:
        assert model.__doc__
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


def test_the_reference_lists_every_key() -> None:
    text = render_reference()
    for model in _models(Config):
        for name in model.model_fields:
            assert f"| `{name}` |" in text
    assert "## `apps.<name>.healthcheck`" in text
    assert "| `timeout` | duration | `2s` |" in text
    assert '| `ports` | list of port mapping | `["80:80"]` |' in text


def test_docs_configuration_md_is_up_to_date() -> None:
    current = (ROOT / "docs" / "configuration.md").read_text()
    assert current == render_reference(), (
        "docs/configuration.md is out of date; regenerate it with: "
        ".venv/bin/python -m greenroom.config.reference > docs/configuration.md"
    )


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(config_app, name="config")
    return app


def test_config_check_prints_the_resolved_config_masked(tmp_path: Path) -> None:
    path = write(tmp_path, APP + "    secrets:\n      TOKEN: ${TOKEN}\n")
    env = {"TOKEN": SECRET}
    result = CliRunner().invoke(_cli(), ["config", "check", "-f", str(path)], env=env)
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    assert "TOKEN: '******'" in result.output
    assert "image: web:1" in result.output
    result = CliRunner().invoke(_cli(), ["config", "check", "--file", str(path), "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["apps"]["web"]["secrets"] == {"TOKEN": MASK}


def test_config_check_raises_the_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, APP + "    port: 1\n")
    result = CliRunner().invoke(_cli(), ["config", "check", "-f", str(path)])
    assert isinstance(result.exception, ConfigError)
    assert result.exception.exit_code == 2
    assert "apps.web.port: duplicate key" in result.exception.message


def test_config_reference_prints_the_markdown() -> None:
    result = CliRunner().invoke(_cli(), ["config", "reference"])
    assert result.exit_code == 0
    assert result.output == render_reference()
