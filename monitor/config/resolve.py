"""The resolved, frozen config values, and how the validated file becomes them.

Per-endpoint probe settings override ``probe:`` key by key. Secrets never live in the file: an
endpoint names the environment variable (``api_key_env``) or file (``api_key_file``) that holds
its key, and the key is read here, when the config is resolved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

from monitor.config.schema import (
    ApiName,
    ConfigSchema,
    EndpointSpec,
    MaxTokensParam,
    ModelSpec,
    ProbeDefaults,
    ProviderName,
)
from monitor.core.agent import (
    AGENT_ENV,
    LOCATION_ENV,
    AgentIdentity,
    default_agent_name,
    name_problem,
)
from monitor.core.errors import ConfigError
from monitor.core.kinds import DEFAULT_KIND
from monitor.core.providers import (
    AZURE_DEFAULT_API_VERSION,
    AZURE_FIRST_VERSION_WITH_MAX_COMPLETION_TOKENS,
    KEY_OPTIONAL,
    PROVIDER_DISPLAY_NAMES,
    azure_version_at_least,
)
from monitor.core.spend import estimate_spend, over_budget


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
    #: What the answer must match (a regular expression), if set (docs/design.md#answer-check).
    expect: str | None = None


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
    #: The kinds probed besides the default one (docs/design.md#probe-kinds).
    kinds: tuple[Kind, ...] = ()
    #: The kind this is probed as: ``short`` (the endpoint itself), or one of its ``kinds``
    #: (a probe target from ``Config.probe_targets``).
    kind: str = DEFAULT_KIND
    #: A kind's prompt size in tokens (None: the plain prompt).
    input_tokens: int | None = None

    @property
    def provider_display_name(self) -> str:
        """How people name the provider ("OpenAI", "Azure")."""
        return PROVIDER_DISPLAY_NAMES[self.provider]

    @property
    def key(self) -> str:
        """What tells this probe target from the others: the id, with ``#kind`` for a kind
        other than the default (``#`` cannot occur in an id)."""
        return self.id if self.kind == DEFAULT_KIND else f"{self.id}#{self.kind}"

    def targets(self) -> tuple[Endpoint, ...]:
        """The endpoint itself, then one probe target per kind: the same endpoint with the
        kind's size, max_tokens, interval and expect."""
        kinds = [
            replace(
                self,
                kinds=(),
                kind=k.name,
                input_tokens=k.input_tokens,
                probe=replace(
                    self.probe, max_tokens=k.max_tokens, interval=k.interval, expect=k.expect
                ),
            )
            for k in self.kinds
        ]
        return (self, *kinds)


@dataclass(frozen=True, slots=True)
class Kind:
    """A probe kind of one endpoint, its settings resolved (``probe.kinds`` or the endpoint's
    ``kinds``, then the endpoint's probe settings)."""

    name: str
    input_tokens: int
    max_tokens: int
    interval: float
    expect: str | None


@dataclass(frozen=True, slots=True)
class Config:
    """A validated configuration."""

    schema: ConfigSchema
    endpoints: tuple[Endpoint, ...]
    source: Path | None = None
    api_token: SecretStr | None = field(default=None, repr=False)
    #: This agent (the file's ``agent:`` with the environment's overrides).
    agent: AgentIdentity = field(default_factory=AgentIdentity.local)

    @property
    def models(self) -> tuple[ModelSpec, ...]:
        """The configured models."""
        return self.schema.models

    def model(self, model_id: str) -> ModelSpec | None:
        """The model with this id, if configured."""
        return next((m for m in self.schema.models if m.id == model_id), None)

    def probe_targets(self) -> tuple[Endpoint, ...]:
        """Every endpoint and each of its kinds: what the scheduler probes."""
        return tuple(t for e in self.endpoints for t in e.targets())


def resolve_config(
    schema: ConfigSchema,
    *,
    source: Path | None,
    environ: Mapping[str, str],
    resolve_secrets: bool,
) -> Config:
    """The Config of a validated file: probe settings merged, secrets read (unless
    ``resolve_secrets`` is false); raise ConfigError listing every problem."""
    base_dir = source.parent if source else Path.cwd()
    endpoints, problems = _resolve_endpoints(schema, environ, base_dir, resolve_secrets)
    agent, agent_problems = _resolve_agent(schema, environ)
    problems += agent_problems
    token: SecretStr | None = None
    if resolve_secrets:
        token, _source, problem = _read_secret(
            schema.server.api_token_env, schema.server.api_token_file, environ, base_dir
        )
        if problem:
            problems.append(f"server.{problem.replace('api_key', 'api_token')}")
    budget = schema.probe.budget_usd_per_day
    if budget is not None:
        targets = [t for e in endpoints for t in e.targets()]
        problem = over_budget(estimate_spend(targets), budget)
        if problem:
            problems.append(f"probe.budget_usd_per_day: {problem}")
    if problems:
        raise ConfigError(problems)
    assert agent is not None  # no problems: it was resolved
    return Config(schema=schema, endpoints=endpoints, source=source, api_token=token, agent=agent)


def _resolve_agent(
    schema: ConfigSchema, environ: Mapping[str, str]
) -> tuple[AgentIdentity | None, list[str]]:
    """This agent: the environment's name and location over the file's, over the defaults."""
    problems: list[str] = []
    values: dict[str, str] = {}
    for key, variable, configured in (
        ("name", AGENT_ENV, schema.agent.name),
        ("location", LOCATION_ENV, schema.agent.location),
    ):
        from_env = environ.get(variable, "").strip()
        if from_env:
            problem = name_problem(from_env)
            if problem:
                problems.append(f"${variable} (agent.{key}): {problem}")
                continue
            values[key] = from_env
        else:
            values[key] = configured or default_agent_name()
    if problems:
        return None, problems
    return AgentIdentity(values["name"], values["location"]), []


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
                or (AZURE_DEFAULT_API_VERSION if spec.provider == "azure" else None),
                region=spec.region,
                probe=probe,
                api_key=key,
                api_key_source=source,
                kinds=_resolve_kinds(schema, spec, probe),
            )
        )
    return tuple(endpoints), problems


def _resolve_kinds(
    schema: ConfigSchema, spec: EndpointSpec, probe: ProbeSettings
) -> tuple[Kind, ...]:
    kinds = spec.kinds if spec.kinds is not None else schema.probe.kinds
    return tuple(
        Kind(
            name=k.name,
            input_tokens=k.input_tokens,
            max_tokens=k.max_tokens or probe.max_tokens,
            interval=k.interval or probe.interval,
            expect=k.expect if k.expect is not None else probe.expect,
        )
        for k in kinds
    )


def _keyless(spec: EndpointSpec) -> bool:
    return spec.provider in KEY_OPTIONAL and not (spec.api_key_env or spec.api_key_file)


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
        expect=pick("expect"),
    )


def _auto_max_tokens_param(spec: EndpointSpec) -> Literal["max_tokens", "max_completion_tokens"]:
    # OpenAI deprecated max_tokens and reasoning models reject it; Azure accepts
    # max_completion_tokens from api-version 2024-09-01-preview on; gateways vary, and
    # max_tokens is the one nearly all of them know.
    if spec.provider == "openai":
        return "max_completion_tokens"
    if spec.provider == "azure":
        version = spec.api_version or AZURE_DEFAULT_API_VERSION
        if azure_version_at_least(version, AZURE_FIRST_VERSION_WITH_MAX_COMPLETION_TOKENS):
            return "max_completion_tokens"
    return "max_tokens"
