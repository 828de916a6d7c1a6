"""The API's own envelopes around the shapes it serves, and its error body, each defined once
(the OpenAPI document's schemas are made from these classes; see ``monitor.core.shape``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, computed_field

from monitor.core.incidents import Incident, IncidentSummary
from monitor.core.rollup import Count, EndpointRollup
from monitor.core.shape import Shape, UtcTime
from monitor.service.shapes import EndpointState, ModelEntry

#: Every ``error.code`` the API answers with.
ErrorCode = Literal[
    "not_found",
    "method_not_allowed",
    "invalid_parameter",
    "store_unavailable",
    "internal_error",
    "http_error",
    "unauthorized",
]


@dataclass(frozen=True, slots=True)
class ErrorDetail(Shape):
    """What went wrong: a machine-readable code, a message, the query parameter at fault."""

    # ``parameter`` is left out when no parameter is at fault: not required in the schema.
    __pydantic_config__: ClassVar[Any] = ConfigDict(extra="forbid")

    code: ErrorCode
    message: str
    parameter: Annotated[str | None, Field(exclude_if=lambda value: value is None)] = None


@dataclass(frozen=True, slots=True)
class ErrorBody(Shape):
    """The body of every error response."""

    error: ErrorDetail


@dataclass(frozen=True, slots=True)
class Health(Shape):
    """``/healthz``: the process answers."""

    status: Literal["ok"] = "ok"


@dataclass(frozen=True, slots=True)
class Readiness(Shape):
    """``/readyz``: ready, or the problems that keep it from being ready."""

    status: Literal["ok", "not_ready"]
    problems: list[str]


@dataclass(frozen=True, slots=True)
class EndpointList(Shape):
    """``/api/v1/endpoints``: the endpoints, in configuration order."""

    endpoints: tuple[EndpointState, ...]


@dataclass(frozen=True, slots=True)
class AgentStatus(Shape):
    """An agent that shares this store, as its last heartbeat left it."""

    agent: str
    location: Annotated[str, Field(description="Where it probes from (not a provider region).")]
    last_seen: Annotated[UtcTime, Field(description="Its last heartbeat, by the store's clock.")]
    alive: Annotated[bool, Field(description="Heard from within the last three heartbeats.")]
    endpoints: Annotated[int, Field(description="How many endpoints it probes.")]
    rollup_leader: Annotated[bool, Field(description="It holds the rollup lease now.")]
    host: str
    version: str
    config_hash: Annotated[
        str, Field(description="Digest of the shared config (models, endpoints, probe, rollup).")
    ]
    started_at: UtcTime
    clock_offset_seconds: Annotated[
        float | None, Field(description="Its clock minus the store's at its last heartbeat.")
    ]


@dataclass(frozen=True, slots=True)
class AgentList(Shape):
    """``/api/v1/agents``: every agent that ever sent a heartbeat to this store, by location
    then name."""

    agents: tuple[AgentStatus, ...]
    rollup_leader: Annotated[
        str | None, Field(description="The agent that holds the rollup lease, if any.")
    ]


@dataclass(frozen=True, slots=True)
class ModelList(Shape):
    """``/api/v1/models``: the models, in configuration order."""

    models: tuple[ModelEntry, ...]


@dataclass(frozen=True, slots=True)
class RollupPage(Shape):
    """``/api/v1/rollups``: stored rollups of a range, oldest first, a page at a time."""

    window_seconds: Annotated[int, Field(ge=1)]
    window: str
    since: UtcTime
    until: UtcTime
    model: str | None
    endpoint: str | None
    limit: Annotated[int, Field(ge=1)]
    next_since: Annotated[
        UtcTime | None, Field(description="Where the next page starts (null: no more).")
    ]
    rollups: tuple[EndpointRollup, ...]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def count(self) -> Count:
        """Rollups on this page."""
        return len(self.rollups)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def truncated(self) -> bool:
        """Whether more rollups of the range are left for a next page."""
        return self.next_since is not None


@dataclass(frozen=True, slots=True)
class IncidentList(Shape):
    """``/api/v1/incidents``: incidents that overlap a range, newest start first."""

    since: UtcTime
    until: UtcTime
    model: str | None
    endpoint: str | None
    open: Annotated[
        bool | None, Field(description="Only open (true) or closed (false) ones; null: both.")
    ]
    limit: Annotated[int, Field(ge=1)]
    summary: Annotated[
        IncidentSummary, Field(description="Every incident of the range and filters, counted.")
    ]
    incidents: tuple[Incident, ...]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def count(self) -> Count:
        """Incidents in this answer."""
        return len(self.incidents)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def truncated(self) -> bool:
        """Whether ``limit`` left older incidents of the range out."""
        return self.summary.count > len(self.incidents)
