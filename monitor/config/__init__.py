"""Configuration: YAML validated by pydantic at the edge, resolved into frozen values.

``load_config(path)`` returns a :class:`Config` or raises :class:`ConfigError` holding every
problem as a ``location: message`` pair. Defaults live in the schema models below and nowhere
else; per-endpoint probe settings override ``probe:`` key by key. Secrets never live in the
file: an endpoint names the environment variable (``api_key_env``) or file (``api_key_file``)
that holds its key, and the key is read when the config is resolved.
"""

from __future__ import annotations

import difflib
import os
import re
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.core.durations import Duration
from monitor.core.errors import ConfigError
from monitor.simulator.config import SimulatorConfig

ProviderName = Literal["openai", "azure", "openai_compatible"]
ApiName = Literal["chat_completions", "responses"]
MaxTokensParam = Literal["auto", "max_tokens", "max_completion_tokens"]

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DEFAULT_CONFIG_PATH = Path("monitor.yaml")
CONFIG_ENV_VAR = "LLM_MONITOR_CONFIG"
SECONDS_PER_DAY = 86_400

PROVIDER_DISPLAY_NAMES: dict[str, str] = {
    "openai": "OpenAI",
    "azure": "Azure",
    "openai_compatible": "OpenAI-compatible",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _at_least_one_second(value: float) -> float:
    if value < 1:
        raise ValueError("must be at least 1s")
    return value


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def _no_credential_headers(value: dict[str, str]) -> dict[str, str]:
    # A key in a header would sit in the config file in clear and bypass secret handling.
    for name in value:
        if name.lower() in {"authorization", "api-key", "x-api-key"}:
            raise ValueError(
                f"header {name!r} carries a credential: use api_key_env or api_key_file"
            )
    return value


Interval = Annotated[Duration, AfterValidator(_at_least_one_second)]
Timeout = Annotated[Duration, AfterValidator(_positive)]
Headers = Annotated[dict[str, str], AfterValidator(_no_credential_headers)]
MaxTokens = Annotated[int, Field(ge=1, le=100_000)]
Prompt = Annotated[str, Field(min_length=1, max_length=100_000)]
Temperature = Annotated[float, Field(ge=0, le=2)]


class ProbeOverrides(_Strict):
    """Probe settings that an endpoint may override; ``None`` means "inherit"."""

    interval: Interval | None = None
    timeout: Timeout | None = None
    connect_timeout: Timeout | None = None
    max_tokens: MaxTokens | None = None
    max_tokens_param: MaxTokensParam | None = None
    prompt: Prompt | None = None
    temperature: Temperature | None = None
    jitter: Duration | None = None
    headers: Headers | None = None
    verify_tls: bool | None = None
    ca_bundle: Path | None = None
    stream_usage: bool | None = None


class ProbeDefaults(_Strict):
    """The ``probe:`` section: defaults for every endpoint."""

    interval: Interval = 60.0
    timeout: Timeout = 30.0
    connect_timeout: Timeout = 10.0
    max_tokens: MaxTokens = 96
    max_tokens_param: MaxTokensParam = "auto"
    prompt: Prompt = "Count from 1 to 40, separated by spaces."
    temperature: Temperature | None = None
    jitter: Duration = 1.0
    headers: Headers = Field(default_factory=dict)
    verify_tls: bool = True
    ca_bundle: Path | None = None
    stream_usage: bool = True


class Pricing(_Strict):
    """Price per million tokens, in USD."""

    input_per_million: float = Field(ge=0)
    output_per_million: float = Field(ge=0)
    cached_input_per_million: float | None = Field(default=None, ge=0)


class ModelSpec(_Strict):
    """A model's static facts, carried into its profile."""

    id: str = Field(pattern=_ID_PATTERN)
    name: str | None = None
    creator: str | None = None
    release_date: date | None = None
    description: str | None = None
    pricing: Pricing | None = None
    context_window: int | None = Field(default=None, ge=1)
    max_output_tokens: int | None = Field(default=None, ge=1)
    modality: str | None = None
    capabilities: tuple[str, ...] = ()
    metadata: dict[str, Any] = Field(default_factory=dict)


class EndpointSpec(ProbeOverrides):
    """One endpoint that serves a model."""

    id: str = Field(pattern=_ID_PATTERN)
    model: str
    provider: ProviderName
    base_url: str
    api: ApiName = "chat_completions"
    request_model: str | None = None
    api_key_env: str | None = None
    api_key_file: Path | None = None
    auth: Literal["api_key", "entra_id", "none"] | None = None
    deployment: str | None = None
    api_version: str | None = None
    region: str | None = None
    enabled: bool = True

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s?#]+", value):
            raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
        if "?" in value or "#" in value:
            raise ValueError("must not contain a query or fragment")
        if re.match(r"^https?://[^/@]*@", value):
            raise ValueError("must not contain credentials; use api_key_env")
        return value.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(f"{value!r} is not an environment variable name")
        return value

    @model_validator(mode="after")
    def _provider_rules(self) -> EndpointSpec:
        if self.api_key_env and self.api_key_file:
            raise ValueError("set api_key_env or api_key_file, not both")
        if self.provider == "azure":
            v1 = self.api_version == "v1"
            if not v1 and not self.deployment:
                raise ValueError(
                    "an azure endpoint needs deployment (or api_version: v1 for the v1 API)"
                )
            if self.api == "responses" and not v1:
                raise ValueError("api: responses on azure needs api_version: v1")
            if self.auth == "none":
                raise ValueError("azure needs auth: api_key or entra_id")
        else:
            for key in ("deployment", "api_version"):
                if getattr(self, key) is not None:
                    raise ValueError(f"{key} applies to provider azure only")
            if self.auth == "entra_id":
                raise ValueError("auth: entra_id applies to provider azure only")
        if self.provider == "openai" and self.auth == "none":
            raise ValueError("provider openai needs an API key")
        if self.auth == "none" and (self.api_key_env or self.api_key_file):
            raise ValueError("auth: none contradicts api_key_env/api_key_file")
        keyed = self.auth in (None, "api_key") and self.provider != "openai_compatible"
        if keyed and not (self.api_key_env or self.api_key_file):
            raise ValueError("needs api_key_env (or api_key_file) naming where its key is")
        return self


class StorageSettings(_Strict):
    """Where probes and rollups are kept."""

    url: str = "sqlite:///monitor.db"


class ServerSettings(_Strict):
    """The HTTP server (metrics, health, API); ``api_token_env``/``api_token_file`` name where
    a bearer token is that the JSON API (``/api/...``) then requires."""

    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=0, le=65535)
    api_token_env: str | None = None
    api_token_file: Path | None = None

    @field_validator("api_token_env")
    @classmethod
    def _token_env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(f"{value!r} is not an environment variable name")
        return value

    @model_validator(mode="after")
    def _one_token_source(self) -> ServerSettings:
        if self.api_token_env and self.api_token_file:
            raise ValueError("set api_token_env or api_token_file, not both")
        return self


class RollupSettings(_Strict):
    """Rollup windows and raw-probe retention."""

    window: Duration = 1800.0
    raw_retention: Duration = 30 * SECONDS_PER_DAY
    rate_limited_is_down: bool = True

    @field_validator("window")
    @classmethod
    def _window_divides_day(cls, value: float) -> float:
        if value < 5:
            raise ValueError("must be at least 5s")
        if value != int(value) or SECONDS_PER_DAY % int(value) != 0:
            raise ValueError("must be a whole number of seconds that divides 24h")
        return value


class ProfileSettings(_Strict):
    """How the model profile's live numbers are computed."""

    uptime_window: Duration = float(SECONDS_PER_DAY)


class ReportSettings(_Strict):
    """Where finished windows' reports are written (``None``: not written)."""

    directory: Path | None = None


class LoggingSettings(_Strict):
    """Log level and format (``auto``: readable on a terminal, JSON otherwise)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class ConfigSchema(_Strict):
    """The whole YAML file."""

    storage: StorageSettings = Field(default_factory=StorageSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    probe: ProbeDefaults = Field(default_factory=ProbeDefaults)
    rollup: RollupSettings = Field(default_factory=RollupSettings)
    profile: ProfileSettings = Field(default_factory=ProfileSettings)
    reports: ReportSettings = Field(default_factory=ReportSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    models: tuple[ModelSpec, ...] = ()
    endpoints: tuple[EndpointSpec, ...] = ()
    simulator: SimulatorConfig | None = None

    @model_validator(mode="after")
    def _references(self) -> ConfigSchema:
        problems: list[str] = []
        _unique("models", [m.id for m in self.models], problems)
        _unique("endpoints", [e.id for e in self.endpoints], problems)
        known = {m.id for m in self.models}
        for index, endpoint in enumerate(self.endpoints):
            if endpoint.model not in known:
                problems.append(
                    f"endpoints[{index}].model: unknown model {endpoint.model!r}"
                    f" (models: {', '.join(sorted(known)) or 'none defined'})"
                )
        if problems:
            raise ValueError("\n".join(problems))
        return self


def _unique(section: str, ids: list[str], problems: list[str]) -> None:
    seen: set[str] = set()
    for index, item in enumerate(ids):
        if item in seen:
            problems.append(f"{section}[{index}].id: duplicate id {item!r}")
        seen.add(item)


# --- resolved, frozen values -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProbeSettings:
    """The effective probe settings of one endpoint (defaults merged with its overrides)."""

    interval: float
    timeout: float
    connect_timeout: float
    max_tokens: int
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"]
    prompt: str
    temperature: float | None
    jitter: float
    headers: Mapping[str, str]
    verify_tls: bool
    ca_bundle: Path | None
    stream_usage: bool


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An endpoint ready to probe: settings resolved, secret loaded."""

    id: str
    model: ModelSpec
    provider: ProviderName
    base_url: str
    api: ApiName
    request_model: str
    auth: Literal["api_key", "entra_id", "none"]
    deployment: str | None
    api_version: str | None
    region: str | None
    probe: ProbeSettings
    api_key: SecretStr | None = field(default=None, repr=False)
    api_key_source: str | None = None

    @property
    def provider_display_name(self) -> str:
        """How people name the provider ("OpenAI", "Azure")."""
        return PROVIDER_DISPLAY_NAMES[self.provider]


@dataclass(frozen=True, slots=True)
class Config:
    """A validated configuration."""

    schema: ConfigSchema
    endpoints: tuple[Endpoint, ...]
    source: Path | None = None
    api_token: SecretStr | None = field(default=None, repr=False)

    @property
    def models(self) -> tuple[ModelSpec, ...]:
        """The configured models."""
        return self.schema.models

    def model(self, model_id: str) -> ModelSpec | None:
        """The model with this id, if configured."""
        return next((m for m in self.schema.models if m.id == model_id), None)


# --- loading -----------------------------------------------------------------------------------


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """The config file when ``--config`` is not given: ``$LLM_MONITOR_CONFIG`` when it is set
    (an explicit choice wins over a file that happens to be in the directory), else
    ``./monitor.yaml``."""
    env = (os.environ if environ is None else environ).get(CONFIG_ENV_VAR, "").strip()
    return Path(env) if env else DEFAULT_CONFIG_PATH


def load_config(
    path: Path | str,
    *,
    environ: Mapping[str, str] | None = None,
    resolve_secrets: bool = True,
) -> Config:
    """Read, validate and resolve a config file; raise ConfigError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from None
    return parse_config(text, source=path, environ=environ, resolve_secrets=resolve_secrets)


def parse_config(
    text: str,
    *,
    source: Path | None = None,
    environ: Mapping[str, str] | None = None,
    resolve_secrets: bool = True,
) -> Config:
    """Validate YAML text and resolve it into a Config; raise ConfigError on any problem."""
    where = str(source) if source else "<config>"
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"{where}: line {mark.line + 1}, column {mark.column + 1}" if mark else where
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{at}: invalid YAML: {problem}"]) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([f"{where}: the top level must be a mapping of sections"])
    try:
        schema = ConfigSchema.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(flatten_errors(exc, raw)) from None
    env = os.environ if environ is None else environ
    base_dir = source.parent if source else Path.cwd()
    endpoints, problems = _resolve_endpoints(schema, env, base_dir, resolve_secrets)
    token: SecretStr | None = None
    if resolve_secrets:
        token, _source, problem = _read_secret(
            schema.server.api_token_env, schema.server.api_token_file, env, base_dir
        )
        if problem:
            problems.append(f"server.{problem.replace('api_key', 'api_token')}")
    if problems:
        raise ConfigError(problems)
    return Config(schema=schema, endpoints=endpoints, source=source, api_token=token)


def _resolve_endpoints(
    schema: ConfigSchema, env: Mapping[str, str], base_dir: Path, resolve_secrets: bool
) -> tuple[tuple[Endpoint, ...], list[str]]:
    models = {m.id: m for m in schema.models}
    problems: list[str] = []
    endpoints: list[Endpoint] = []
    for index, spec in enumerate(schema.endpoints):
        if not spec.enabled:
            continue
        where = f"endpoints[{index}] ({spec.id})"
        auth = spec.auth or ("none" if _keyless(spec) else "api_key")
        key: SecretStr | None = None
        source: str | None = None
        if auth == "api_key" and resolve_secrets:
            key, source, problem = _read_secret(spec.api_key_env, spec.api_key_file, env, base_dir)
            if problem:
                problems.append(f"{where}.{problem}")
        probe = _merge_probe(schema.probe, spec)
        if probe.timeout > probe.interval:
            problems.append(
                f"{where}.timeout: {probe.timeout:g}s is longer than the interval"
                f" {probe.interval:g}s; probes of one endpoint would overlap"
            )
        if spec.api == "responses" and probe.max_tokens < 16:
            problems.append(f"{where}.max_tokens: the Responses API needs at least 16")
        endpoints.append(
            Endpoint(
                id=spec.id,
                model=models[spec.model],
                provider=spec.provider,
                base_url=spec.base_url,
                api=spec.api,
                request_model=spec.request_model or spec.deployment or spec.model,
                auth=auth,
                deployment=spec.deployment,
                api_version=spec.api_version
                or ("2024-10-21" if spec.provider == "azure" else None),
                region=spec.region,
                probe=probe,
                api_key=key,
                api_key_source=source,
            )
        )
    return tuple(endpoints), problems


def _keyless(spec: EndpointSpec) -> bool:
    return spec.provider == "openai_compatible" and not (spec.api_key_env or spec.api_key_file)


def _read_secret(
    env_name: str | None, file: Path | None, env: Mapping[str, str], base_dir: Path
) -> tuple[SecretStr | None, str | None, str | None]:
    if env_name:
        value = env.get(env_name, "").strip()
        if not value:
            return None, None, f"api_key_env: environment variable {env_name} is not set"
        if not _one_token(value):
            return None, None, f"api_key_env: {env_name} {_NOT_ONE_TOKEN}"
        return SecretStr(value), f"env:{env_name}", None
    if file:
        path = file if file.is_absolute() else base_dir / file
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            return None, None, f"api_key_file: cannot read {path}: {exc.strerror or exc}"
        if not value:
            return None, None, f"api_key_file: {path} is empty"
        if not _one_token(value):
            return None, None, f"api_key_file: {path} {_NOT_ONE_TOKEN}"
        return SecretStr(value), f"file:{path}", None
    return None, None, None


#: Why a key that is not one printable token is refused (the key itself is never shown).
_NOT_ONE_TOKEN = "holds spaces, line breaks or control characters inside the key"


def _one_token(value: str) -> bool:
    """Whether a secret is one printable token (it is sent as a header value)."""
    return value.isprintable() and not any(c.isspace() for c in value)


def _merge_probe(defaults: ProbeDefaults, spec: EndpointSpec) -> ProbeSettings:
    def pick(name: str) -> Any:
        value = getattr(spec, name)
        return getattr(defaults, name) if value is None else value

    param: MaxTokensParam = pick("max_tokens_param")
    return ProbeSettings(
        interval=pick("interval"),
        timeout=pick("timeout"),
        connect_timeout=min(pick("connect_timeout"), pick("timeout")),
        max_tokens=pick("max_tokens"),
        max_tokens_param=_auto_max_tokens_param(spec) if param == "auto" else param,
        prompt=pick("prompt"),
        temperature=pick("temperature"),
        jitter=pick("jitter"),
        headers={**defaults.headers, **(spec.headers or {})},
        verify_tls=pick("verify_tls"),
        ca_bundle=pick("ca_bundle"),
        stream_usage=pick("stream_usage"),
    )


def _auto_max_tokens_param(spec: EndpointSpec) -> Literal["max_tokens", "max_completion_tokens"]:
    # OpenAI deprecated max_tokens and reasoning models reject it; Azure accepts
    # max_completion_tokens from api-version 2024-09-01-preview on; gateways vary, and
    # max_tokens is the one nearly all of them know.
    if spec.provider == "openai":
        return "max_completion_tokens"
    if spec.provider == "azure":
        version = spec.api_version or "2024-10-21"
        if version == "v1" or version >= "2024-09-01":
            return "max_completion_tokens"
    return "max_tokens"


def flatten_errors(exc: ValidationError, raw: Any) -> list[str]:
    """Turn pydantic's errors into ``location: message`` lines, naming endpoints by id."""
    lines: list[str] = []
    for error in exc.errors(include_url=False):
        location = _location(error["loc"], raw)
        message = error["msg"]
        if message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = _unknown_key_message(error["loc"])
        if "\n" in message and not location:
            lines.extend(message.splitlines())
            continue
        lines.append(f"{location}: {message}" if location else message)
    return lines


def _location(loc: tuple[int | str, ...], raw: Any) -> str:
    parts: list[str] = []
    node = raw
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and 0 <= item < len(node):
                node = node[item]
                if isinstance(node, dict) and isinstance(node.get("id"), str):
                    label += f" ({node['id']})"
            else:
                node = None
            parts.append(label)
        else:
            # pydantic reports union branches and validators by name; they say nothing to a user.
            if item.startswith("function-") or item in {"str", "int", "float", "dict"}:
                continue
            node = node.get(item) if isinstance(node, dict) else None
            parts.append(f".{item}" if parts else item)
    return "".join(parts)


def _unknown_key_message(loc: tuple[int | str, ...]) -> str:
    """What to say about an unknown key: the nearest key allowed in its place, if one is close."""
    key = loc[-1] if loc else None
    known = sorted({name for model in _models_at(loc[:-1]) for name in model.model_fields})
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6) if known else []
    if close:
        return f"unknown key; did you mean `{close[0]}`?"
    return "unknown key (not allowed here; check its spelling and section)"


def _models_at(loc: tuple[int | str, ...]) -> list[type[BaseModel]]:
    """The schema models that may sit at ``loc`` (a pydantic error location) of the file."""
    models: list[type[BaseModel]] = [ConfigSchema]
    for item in loc:
        if isinstance(item, int):
            continue  # an item of a list: its models were found with the list's field
        fields = [m.model_fields[item] for m in models if item in m.model_fields]
        if fields:
            models = [m for f in fields for m in _models_in(f.annotation)]
        else:  # a union branch or validator name that pydantic puts in the location
            models = [m for m in models if m.__name__ == item] or models
    return models


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    """The pydantic models inside a type: itself, or those of its optionals, unions, lists."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    if get_origin(annotation) in (Union, types.UnionType, Annotated, tuple, list, dict):
        for arg in get_args(annotation):
            yield from _models_in(arg)
