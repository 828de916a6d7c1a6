"""The config file's shape: pydantic models that validate each section at the edge.

Defaults live in these models and nowhere else; every model is frozen and rejects unknown keys.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from monitor.core.agent import DEFAULT_LOCATION, NAME_PATTERN
from monitor.core.durations import Duration
from monitor.core.incidents import DEFAULT_CLOSE_AFTER, DEFAULT_OPEN_AFTER
from monitor.core.kinds import DEFAULT_KIND
from monitor.core.providers import AZURE_V1_API, KEY_OPTIONAL, ProviderId
from monitor.core.quorum import parse_quorum

#: A provider id (``monitor.core.providers`` lists them).
ProviderName = ProviderId
ApiName = Literal["chat_completions", "responses"]
MaxTokensParam = Literal["auto", "max_tokens", "max_completion_tokens"]

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SECONDS_PER_DAY = 86_400


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


def _regular_expression(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    return value


Expect = Annotated[str, Field(min_length=1, max_length=1000), AfterValidator(_regular_expression)]


class KindSpec(_Strict):
    """A probe kind (docs/design.md#probe-kinds): the endpoint's prompt behind a filler that
    makes the whole prompt about ``input_tokens`` long, probed on its own schedule."""

    name: str = Field(pattern=_ID_PATTERN)
    input_tokens: int = Field(ge=1, le=1_000_000)
    max_tokens: MaxTokens | None = None
    interval: Interval | None = None
    expect: Expect | None = None

    @field_validator("name")
    @classmethod
    def _not_the_default(cls, value: str) -> str:
        if value == DEFAULT_KIND:
            raise ValueError(f"{DEFAULT_KIND!r} is the default kind (the plain prompt)")
        return value


def _unique_kinds(kinds: tuple[KindSpec, ...] | None) -> tuple[KindSpec, ...] | None:
    names = [k.name for k in kinds or ()]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"kind {name!r} is defined twice")
    return kinds


Kinds = Annotated[tuple[KindSpec, ...], AfterValidator(_unique_kinds)]


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
    expect: Expect | None = None
    #: This endpoint's kinds besides the default one (replaces ``probe.kinds``).
    kinds: Kinds | None = None


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
    #: A regular expression the answer must match, else the probe is ``wrong_answer``; unset,
    #: a counting prompt's answer must reach its number (docs/design.md#answer-check).
    expect: Expect | None = None
    #: Kinds probed besides the default one, ``short`` (docs/design.md#probe-kinds).
    kinds: Kinds = ()
    #: The most the probes may cost a day, in USD, estimated from the models' pricing
    #: (docs/design.md#probe-spend); a config whose estimate is over it is refused.
    budget_usd_per_day: float | None = Field(default=None, gt=0)


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
            v1 = self.api_version == AZURE_V1_API
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
        keyed = self.auth in (None, "api_key") and self.provider not in KEY_OPTIONAL
        if keyed and not (self.api_key_env or self.api_key_file):
            raise ValueError("needs api_key_env (or api_key_file) naming where its key is")
        return self


class AgentSettings(_Strict):
    """This agent: its name (default: the host's name), the location it probes from, and how
    often it tells the store it is alive (an agent silent for 3 heartbeats is gone, and the
    rollup lease it held expires then), and whether it probes every endpoint or its share.
    ``$LLM_MONITOR_AGENT`` and ``$LLM_MONITOR_LOCATION`` (and ``llm-monitor run
    --agent/--location``) override the file."""

    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    location: str = Field(default=DEFAULT_LOCATION, pattern=NAME_PATTERN)
    heartbeat: Annotated[Duration, AfterValidator(_at_least_one_second)] = 10.0
    #: ``all``: this agent probes every endpoint; ``shard``: the live agents of its location
    #: divide the endpoints among themselves (docs/design.md#shards).
    assignment: Literal["all", "shard"] = "all"


class StorageSettings(_Strict):
    """Where probes and rollups are kept."""

    url: str = "sqlite:///monitor.db"


class ServerSettings(_Strict):
    """The HTTP server (metrics, health, API, pages); ``api_token_env``/``api_token_file`` name
    where a token is that the JSON API (``/api/...``), the pages and the embeds then require
    (README "HTTP API"); ``public_embeds`` leaves a model's card and badges open even then."""

    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=0, le=65535)
    api_token_env: str | None = None
    api_token_file: Path | None = None
    public_embeds: bool = False

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
    #: How many locations must see a slot fail for it to be down, when several agents probe
    #: from different locations: majority, any, all or a number (docs/design.md#quorum-uptime).
    quorum: Annotated[str | int, AfterValidator(parse_quorum)] = "majority"

    @field_validator("window")
    @classmethod
    def _window_divides_day(cls, value: float) -> float:
        if value < 5:
            raise ValueError("must be at least 5s")
        if value != int(value) or SECONDS_PER_DAY % int(value) != 0:
            raise ValueError("must be a whole number of seconds that divides 24h")
        return value


class IncidentSettings(_Strict):
    """When an endpoint's incident opens and closes (docs/design.md#incidents): after this many
    consecutive down probe slots, and after this many consecutive up ones."""

    open_after: int = Field(default=DEFAULT_OPEN_AFTER, ge=1, le=1000)
    close_after: int = Field(default=DEFAULT_CLOSE_AFTER, ge=1, le=1000)


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

    agent: AgentSettings = Field(default_factory=AgentSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    probe: ProbeDefaults = Field(default_factory=ProbeDefaults)
    rollup: RollupSettings = Field(default_factory=RollupSettings)
    incidents: IncidentSettings = Field(default_factory=IncidentSettings)
    profile: ProfileSettings = Field(default_factory=ProfileSettings)
    reports: ReportSettings = Field(default_factory=ReportSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    models: tuple[ModelSpec, ...] = ()
    endpoints: tuple[EndpointSpec, ...] = ()
    #: The simulated endpoints of ``llm-monitor simulate``: kept as the file has it, since only
    #: the simulator uses them; the simulator's own models validate it when it is used (and
    #: ``llm-monitor check-config`` checks it with them, through ``section_models``).
    simulator: dict[Any, Any] | None = None

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
