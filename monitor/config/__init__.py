"""Configuration: YAML validated by pydantic at the edge, resolved into frozen values.

``load_config(path)`` returns a :class:`Config` or raises :class:`ConfigError` holding every
problem as a ``location: message`` pair. The package's modules, in the order a file goes through
them:

- ``schema``: the pydantic models of the file (every section, its defaults and rules);
- ``loading``: reading and parsing the YAML, and flattening pydantic's errors into lines;
- ``resolve``: the frozen values (``Config``, ``Endpoint``, ``ProbeSettings``), probe settings
  merged with each endpoint's overrides, and the secrets read from where the file names them.
"""

from monitor.config.loading import (
    CONFIG_ENV_VAR,
    DEFAULT_CONFIG_PATH,
    KERNEL_STAMPS_ENV_VAR,
    default_config_path,
    flatten_errors,
    kernel_stamps_wanted,
    load_config,
    parse_config,
)
from monitor.config.resolve import (
    Config,
    Endpoint,
    ProbeSettings,
    resolve_config,
)
from monitor.config.schema import (
    SECONDS_PER_DAY,
    ApiName,
    ConfigSchema,
    EndpointSpec,
    Headers,
    Interval,
    LoggingSettings,
    MaxTokens,
    MaxTokensParam,
    ModelSpec,
    Pricing,
    ProbeDefaults,
    ProbeOverrides,
    ProfileSettings,
    Prompt,
    ProviderName,
    ReportSettings,
    RollupSettings,
    ServerSettings,
    StorageSettings,
    Temperature,
    Timeout,
)
from monitor.core.durations import Duration
from monitor.core.errors import ConfigError
from monitor.core.providers import PROVIDER_DISPLAY_NAMES

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_PATH",
    "KERNEL_STAMPS_ENV_VAR",
    "PROVIDER_DISPLAY_NAMES",
    "SECONDS_PER_DAY",
    "ApiName",
    "Config",
    "ConfigError",
    "ConfigSchema",
    "Duration",
    "Endpoint",
    "EndpointSpec",
    "Headers",
    "Interval",
    "LoggingSettings",
    "MaxTokens",
    "MaxTokensParam",
    "ModelSpec",
    "Pricing",
    "ProbeDefaults",
    "ProbeOverrides",
    "ProbeSettings",
    "ProfileSettings",
    "Prompt",
    "ProviderName",
    "ReportSettings",
    "RollupSettings",
    "ServerSettings",
    "StorageSettings",
    "Temperature",
    "Timeout",
    "default_config_path",
    "flatten_errors",
    "kernel_stamps_wanted",
    "load_config",
    "parse_config",
    "resolve_config",
]
