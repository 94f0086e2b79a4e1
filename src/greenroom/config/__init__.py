"""greenroom.yml: the schema (which is its reference documentation) and the loader."""

from __future__ import annotations

from greenroom.config.load import load_config, load_config_lenient
from greenroom.config.schema import (
    AppConfig,
    Config,
    EngineConfig,
    HealthCheck,
    ProxyConfig,
    config_hash,
    masked,
    parse_duration,
    secret_values,
)

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
