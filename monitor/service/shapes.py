"""What the running monitor shows of its endpoints and models, each shape defined once.

The API serves these as JSON, the OpenAPI document describes them from the same classes, and
the command line and the web pages read them as values (see ``monitor.core.shape``):

- ``EndpointState``: one configured endpoint, its settings, last probe, last window and state;
- ``LastWindow``: an endpoint's numbers in the last complete window;
- ``ModelEntry``: a model's configured facts, its endpoints and where its profile is;
- ``ModelProfile``: the model profile, its facts plus the live numbers (``ModelLive``).

Endpoints are copied field by field from the configuration, never serialised whole: a
configured endpoint holds its key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import ConfigDict, Field, computed_field

from monitor.config import Endpoint, ModelSpec
from monitor.core.profile import ModelLive
from monitor.core.providers import ProviderId
from monitor.core.result import ProbeResult
from monitor.core.rollup import Count, EndpointRollup
from monitor.core.shape import Shape, UtcTime
from monitor.core.status import Status, endpoint_state, window_status


@dataclass(frozen=True, slots=True)
class LastWindow(Shape):
    """An endpoint's numbers in the last complete window (of its stored rollup)."""

    window_start: UtcTime
    window_end: UtcTime
    probes: Count
    successes: Count
    uptime_ratio: float | None
    ttft_p50_seconds: float | None
    ttft_p95_seconds: float | None
    output_tokens_per_second_p50: float | None
    failures_by_outcome: Mapping[str, Count]
    status: Status

    @classmethod
    def of(cls, rollup: EndpointRollup) -> LastWindow:
        """The last window of an endpoint whose rollup of it is ``rollup``."""
        return cls(
            window_start=rollup.window_start,
            window_end=rollup.window_end,
            probes=rollup.probes,
            successes=rollup.successes,
            uptime_ratio=rollup.uptime_ratio,
            ttft_p50_seconds=rollup.ttft.p50,
            ttft_p95_seconds=rollup.ttft.p95,
            output_tokens_per_second_p50=rollup.speed.p50,
            failures_by_outcome=rollup.failures_by_outcome,
            status=window_status(rollup),
        )


@dataclass(frozen=True, slots=True)
class EndpointState(Shape):
    """One configured endpoint as ``/api/v1/endpoints`` lists it."""

    id: str
    model: str
    provider: ProviderId
    provider_name: Annotated[str, Field(description='How people name it ("OpenAI", "Azure").')]
    api: Literal["chat_completions", "responses"]
    region: str | None
    deployment: str | None
    api_version: str | None
    interval_seconds: float
    timeout_seconds: float
    state: Annotated[
        Status,
        Field(
            description="From the last window's rollup and a fresh last probe: where they"
            " disagree, degraded."
        ),
    ]
    last_probe: ProbeResult | None
    last_window: LastWindow | None

    @classmethod
    def of(
        cls,
        endpoint: Endpoint,
        last_probe: ProbeResult | None,
        rollup: EndpointRollup | None,
        *,
        now: datetime,
        rate_limited_is_down: bool = True,
    ) -> EndpointState:
        """The state of ``endpoint`` given its last probe and its last window's rollup."""
        return cls(
            id=endpoint.id,
            model=endpoint.model.id,
            provider=endpoint.provider,
            provider_name=endpoint.provider_display_name,
            api=endpoint.api,
            region=endpoint.region,
            deployment=endpoint.deployment,
            api_version=endpoint.api_version,
            interval_seconds=endpoint.probe.interval,
            timeout_seconds=endpoint.probe.timeout,
            state=endpoint_state(
                rollup,
                last_probe,
                now=now,
                interval=endpoint.probe.interval,
                rate_limited_is_down=rate_limited_is_down,
            ),
            last_probe=last_probe,
            last_window=LastWindow.of(rollup) if rollup is not None else None,
        )


class _Facts(ModelSpec):
    """A model's configured facts, as every document about the model starts."""

    # Every fact is written, unknown ones as null: the schema says all are there.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


class ModelEntry(_Facts):
    """A model of ``/api/v1/models``: its facts, its endpoints and its profile's address."""

    endpoints: list[str]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def profile_url(self) -> str:
        """The model's profile in the API."""
        return f"/api/v1/models/{quote(self.id, safe='')}/profile"

    @classmethod
    def of(cls, spec: ModelSpec, endpoints: list[str]) -> ModelEntry:
        """The entry of ``spec`` with the ids of its endpoints."""
        return cls(**dict(spec), endpoints=endpoints)


class ModelProfile(_Facts):
    """The model profile: the model's facts plus its live numbers (``live``)."""

    refresh_interval_seconds: Annotated[
        int, Field(ge=1, description="How often the live numbers are computed: the window.")
    ]
    live: ModelLive

    @classmethod
    def of(cls, spec: ModelSpec, live: ModelLive, refresh_interval_seconds: int) -> ModelProfile:
        """The profile of ``spec`` with ``live`` numbers."""
        return cls(**dict(spec), refresh_interval_seconds=refresh_interval_seconds, live=live)

    def to_json_dict(self) -> dict[str, Any]:
        """The profile document."""
        return self.model_dump(mode="json", by_alias=True)
