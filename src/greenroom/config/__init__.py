"""greenroom.yml: the schema (which is its reference documentation) and the loader."""

from __future__ import annotations

from greenroom.config.app import AppConfig, HealthCheck
from greenroom.config.engine import EngineConfig
from greenroom.config.fields import parse_duration
from greenroom.config.load import load_config, load_config_lenient
from greenroom.config.proxy import ProxyConfig
from greenroom.config.root import Config, config_hash, masked, secret_values

__all__ = [
    "AppConfig",
    "Config",
    "EngineConfig",
    "HealthCheck",
    "ProxyConfig",
    "config_hash",
    "load_config",
    "load_config_lenient",
    "masked",
    "parse_duration",
    "secret_values",
]
