"""The ``simulator:`` section of the YAML config: fake OpenAI / Azure OpenAI endpoints.

Every model is frozen and rejects unknown keys. Scalars are accepted where a distribution is
allowed (``ttft: 300ms`` means ``ttft: {median: 300ms, spread: 0}``), so the common case stays
one line and consumers always see the normalized shape.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monitor.core.durations import Duration


class Behaviour(StrEnum):
    """What the simulator does with one request; each maps to one of the monitor's outcomes."""

    NORMAL = "normal"
    SERVER_ERROR = "server_error"
    RATE_LIMITED = "rate_limited"
    BAD_REQUEST = "bad_request"
    HANG_BEFORE_HEADERS = "hang_before_headers"
    HANG_AFTER_HEADERS = "hang_after_headers"
    HANG_MID_STREAM = "hang_mid_stream"
    DRIP = "drip"
    MID_STREAM_ERROR = "mid_stream_error"
    TRUNCATED = "truncated"
    RESET = "reset"
    NOT_SSE = "not_sse"
    MALFORMED_JSON = "malformed_json"
    EMPTY = "empty"
    CONTENT_FILTER = "content_filter"
    KEEPALIVE_COMMENTS = "keepalive_comments"
    INVALID_UTF8 = "invalid_utf8"
    CLOSE_DELIMITED = "close_delimited"
    REDIRECT = "redirect"
    ENDLESS_LINE = "endless_line"
    HUGE_EVENT = "huge_event"
    PREMATURE_STOP = "premature_stop"


class Flavor(StrEnum):
    """Which real service an endpoint imitates."""

    OPENAI = "openai"
    AZURE = "azure"


_STRICT = ConfigDict(extra="forbid", frozen=True)
_ENDPOINT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

#: Azure OpenAI data-plane api-versions (GA and preview) the deployments path answers; any other
#: well-formed version gets Azure's 400 "API version not supported".
DEFAULT_AZURE_API_VERSIONS: tuple[str, ...] = (
    "2022-12-01",
    "2023-05-15",
    "2023-06-01-preview",
    "2023-12-01-preview",
    "2024-02-01",
    "2024-02-15-preview",
    "2024-03-01-preview",
    "2024-04-01-preview",
    "2024-05-01-preview",
    "2024-06-01",
    "2024-07-01-preview",
    "2024-08-01-preview",
    "2024-09-01-preview",
    "2024-10-01-preview",
    "2024-10-21",
    "2024-12-01-preview",
    "2025-01-01-preview",
    "2025-02-01-preview",
    "2025-03-01-preview",
    "2025-04-01-preview",
)


class DurationDistribution(BaseModel):
    """A log-normal duration: ``median * exp(spread * N(0, 1))``; spread 0 is a constant."""

    model_config = _STRICT

    median: Duration
    spread: float = Field(default=0.0, ge=0.0, le=3.0)


class RateDistribution(BaseModel):
    """A log-normal positive rate (tokens per second), same shape as ``DurationDistribution``."""

    model_config = _STRICT

    median: float = Field(gt=0.0, le=10_000_000.0)
    spread: float = Field(default=0.0, ge=0.0, le=3.0)


class IntRange(BaseModel):
    """An inclusive integer range, drawn uniformly; a bare integer means ``min == max``."""

    model_config = _STRICT

    min: int = Field(ge=0)
    max: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must be >= min ({self.min})")
        return self


class BurstConfig(BaseModel):
    """Azure-style buffered delivery: content chunks are released ``chunks`` at a time."""

    model_config = _STRICT

    chunks: int = Field(ge=2, le=10_000)


class FaultsConfig(BaseModel):
    """Per-request probabilities of each non-normal behaviour (their sum must be <= 1)."""

    model_config = _STRICT

    server_error: float = Field(default=0.0, ge=0.0, le=1.0)
    rate_limited: float = Field(default=0.0, ge=0.0, le=1.0)
    bad_request: float = Field(default=0.0, ge=0.0, le=1.0)
    hang_before_headers: float = Field(default=0.0, ge=0.0, le=1.0)
    hang_after_headers: float = Field(default=0.0, ge=0.0, le=1.0)
    hang_mid_stream: float = Field(default=0.0, ge=0.0, le=1.0)
    drip: float = Field(default=0.0, ge=0.0, le=1.0)
    mid_stream_error: float = Field(default=0.0, ge=0.0, le=1.0)
    truncated: float = Field(default=0.0, ge=0.0, le=1.0)
    reset: float = Field(default=0.0, ge=0.0, le=1.0)
    not_sse: float = Field(default=0.0, ge=0.0, le=1.0)
    malformed_json: float = Field(default=0.0, ge=0.0, le=1.0)
    empty: float = Field(default=0.0, ge=0.0, le=1.0)
    content_filter: float = Field(default=0.0, ge=0.0, le=1.0)
    keepalive_comments: float = Field(default=0.0, ge=0.0, le=1.0)
    invalid_utf8: float = Field(default=0.0, ge=0.0, le=1.0)
    close_delimited: float = Field(default=0.0, ge=0.0, le=1.0)
    redirect: float = Field(default=0.0, ge=0.0, le=1.0)
    endless_line: float = Field(default=0.0, ge=0.0, le=1.0)
    huge_event: float = Field(default=0.0, ge=0.0, le=1.0)
    premature_stop: float = Field(default=0.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _at_most_one(self) -> Self:
        total = sum(self.weights().values())
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault probabilities add up to {total:g}; they must be <= 1")
        return self

    def weights(self) -> dict[Behaviour, float]:
        """The non-zero probabilities, keyed by behaviour, in declaration order."""
        return {
            Behaviour(name): value
            for name, value in self.model_dump().items()
            if isinstance(value, float) and value > 0.0
        }


class ReasoningConfig(BaseModel):
    """A reasoning phase before the answer: ``tokens`` of reasoning at the endpoint's speed,
    streamed as ``reasoning_content`` deltas (DeepSeek, vLLM, SGLang), ``reasoning`` deltas
    (OpenRouter) or not at all (``hidden``: OpenAI's o-series; the answer just starts later).
    On the Responses API a visible style streams a reasoning summary."""

    model_config = _STRICT

    tokens: IntRange
    style: Literal["reasoning_content", "reasoning", "hidden"] = "reasoning_content"

    @field_validator("tokens", mode="before")
    @classmethod
    def _coerce_tokens(cls, value: object) -> object:
        return _as_int_range(value)


class OutageConfig(BaseModel):
    """A recurring outage: from ``offset`` after start-up, ``duration`` out of every ``every``."""

    model_config = _STRICT

    every: Duration = Field(gt=0.0)
    duration: Duration = Field(gt=0.0)
    offset: Duration = 0.0
    kind: Behaviour = Behaviour.SERVER_ERROR

    @model_validator(mode="after")
    def _shorter_than_period(self) -> Self:
        if self.duration >= self.every:
            raise ValueError("duration must be shorter than every (otherwise it is a mode)")
        if self.kind is Behaviour.NORMAL:
            raise ValueError("an outage of kind 'normal' does nothing")
        return self


def _as_distribution(value: object) -> object:
    if isinstance(value, dict | BaseModel):
        return value
    return {"median": value, "spread": 0.0}


def _as_int_range(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        return {"min": value, "max": value}
    if isinstance(value, list | tuple) and len(value) == 2:
        return {"min": value[0], "max": value[1]}
    return value


class EndpointConfig(BaseModel):
    """One fake endpoint, served under the path prefix ``/{id}``."""

    model_config = _STRICT

    id: str = Field(min_length=1, max_length=64)
    flavor: Flavor = Flavor.OPENAI
    api_key: str | None = Field(default=None, min_length=1)
    api_key_env: str | None = Field(default=None, min_length=1)
    bearer_tokens: tuple[str, ...] = ()
    model: str = Field(default="gpt-4.1-nano-2025-04-14", min_length=1)
    aliases: tuple[str, ...] | None = None
    deployments: tuple[str, ...] = ()
    api_versions: tuple[str, ...] = DEFAULT_AZURE_API_VERSIONS
    region: str = "East US"
    filter_results: bool = True
    system_fingerprint: str | None = "fp_7f6be3efb0"
    obfuscation: bool | None = None

    ttft: DurationDistribution = DurationDistribution(median=0.3)
    first_byte_fraction: float = Field(default=0.5, ge=0.0, le=1.0)
    tokens_per_second: RateDistribution = RateDistribution(median=100.0)
    tokens_per_chunk: IntRange = IntRange(min=1, max=1)
    #: A pause between the first content chunk and the rest (a stall after the first token).
    pause_after_first_chunk: Duration = Field(default=0.0, ge=0.0)
    #: The natural answer's length in real tokens. Unset: the answer to the prompt, "1 2 … N"
    #: (2N - 1 tokens) when it asks to count from 1 to N, as the monitor's default prompt does
    #: ("1 2 … 40" is 79 tokens), else 79.
    output_tokens: IntRange | None = None
    #: Added to each request's TTFT per 1,000 prompt tokens (as the simulator counts them for
    #: ``usage.prompt_tokens``): providers take longer to start on long prompts.
    ttft_per_1k_input_tokens: Duration = Field(default=0.0, ge=0.0)
    reasoning: ReasoningConfig | None = None
    burst: BurstConfig | None = None

    mode: Behaviour = Behaviour.NORMAL
    faults: FaultsConfig = FaultsConfig()
    outages: tuple[OutageConfig, ...] = ()
    retry_after: Duration = 2.0
    server_error_status: Literal[500, 502, 503] = 500
    cut_after_fraction: float = Field(default=0.5, ge=0.0, le=1.0)
    truncate_style: Literal["abrupt", "clean", "reset"] = "abrupt"
    not_sse_body: Literal["html", "json"] = "html"
    ping_interval: Duration = Field(default=0.1, gt=0.0)
    drip_interval: Duration = Field(default=1.0, gt=0.0)
    redirect_status: Literal[301, 302, 303, 307, 308] = 307
    redirect_to: str = "http://127.0.0.1:9"
    flood_bytes: int = Field(default=100 * 1024 * 1024, ge=1, le=1 << 40)

    @field_validator("redirect_to")
    @classmethod
    def _redirect_is_a_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s?#]+", value):
            raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
        return value.rstrip("/")

    @field_validator("ttft", mode="before")
    @classmethod
    def _coerce_ttft(cls, value: object) -> object:
        return _as_distribution(value)

    @field_validator("tokens_per_second", mode="before")
    @classmethod
    def _coerce_rate(cls, value: object) -> object:
        return _as_distribution(value)

    @field_validator("tokens_per_chunk", "output_tokens", mode="before")
    @classmethod
    def _coerce_range(cls, value: object) -> object:
        return _as_int_range(value)

    @field_validator("id")
    @classmethod
    def _id_is_a_path_segment(cls, value: str) -> str:
        if not _ENDPOINT_ID.match(value):
            raise ValueError(
                "must start with a letter or digit and contain only letters, digits, '_', '-', '.'"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.api_key is not None and self.api_key_env is not None:
            raise ValueError("give api_key or api_key_env, not both")
        if self.tokens_per_chunk.min < 1:
            raise ValueError("tokens_per_chunk must be >= 1")
        if self.flavor is Flavor.AZURE and not self.deployments:
            raise ValueError("an azure endpoint needs at least one deployment")
        if self.flavor is Flavor.OPENAI and self.deployments:
            raise ValueError("deployments only apply to the azure flavor")
        return self

    def model_names(self) -> frozenset[str]:
        """Request ``model`` values the openai flavor accepts (the model and its aliases)."""
        if self.aliases is not None:
            return frozenset((self.model, *self.aliases))
        undated = re.sub(r"-\d{4}-\d{2}-\d{2}$", "", self.model)
        return frozenset({self.model, undated})

    def uses_obfuscation(self) -> bool:
        """Whether chunks carry the ``obfuscation`` padding field (OpenAI does, older Azure not)."""
        if self.obfuscation is not None:
            return self.obfuscation
        return self.flavor is Flavor.OPENAI


class SimulatorConfig(BaseModel):
    """The whole ``simulator:`` section."""

    model_config = _STRICT

    host: str = "127.0.0.1"
    port: int = Field(default=8400, ge=0, le=65535)
    seed: int | None = None
    history: int = Field(default=10_000, ge=1, le=10_000_000)
    endpoints: Annotated[tuple[EndpointConfig, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        seen: set[str] = set()
        for endpoint in self.endpoints:
            if endpoint.id in seen:
                raise ValueError(f"endpoint id {endpoint.id!r} is used twice")
            seen.add(endpoint.id)
        return self

    def endpoint(self, endpoint_id: str) -> EndpointConfig:
        """The endpoint with this id; KeyError if there is none."""
        for endpoint in self.endpoints:
            if endpoint.id == endpoint_id:
                return endpoint
        raise KeyError(endpoint_id)
