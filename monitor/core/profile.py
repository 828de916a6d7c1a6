"""The live part of a model's profile, from its endpoints' rollups (pure).

The definitions are in docs/design.md#model-profile.

For one model, from the rollups of its endpoints:

- ``avg_uptime_ratio``: the mean, over endpoints that have any counted probe, of each endpoint's
  uptime over ``profile.uptime_window`` (outcome counts summed across that span's windows);
- ``best_ttft_seconds``: the lowest endpoint p50 TTFT in the last complete window;
- ``best_output_tokens_per_second``: the highest endpoint p50 output speed in that window;
- ``active_endpoints``: endpoints with a success in that window, of ``total_endpoints``;
- ``available_via``: display names of the providers of the active endpoints.

An endpoint without a rollup in the last complete window (no probe was stored in it: the
monitor was not running, or the endpoint was not configured yet) has no data there: its
window numbers and ``probes`` are null and its status is ``unknown``, never "0 probes".
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Protocol

from pydantic import Field

from monitor.core.outcomes import Outcome, known_outcomes, uptime_ratio
from monitor.core.providers import PROVIDER_DISPLAY_NAMES, ProviderId
from monitor.core.rollup import Count, EndpointRollup
from monitor.core.shape import Shape, UtcTime
from monitor.core.status import Status, window_status


class _Model(Protocol):
    @property
    def id(self) -> str: ...


class _Endpoint(Protocol):
    """What the profile reads of a configured endpoint."""

    @property
    def id(self) -> str: ...
    @property
    def provider(self) -> ProviderId: ...
    @property
    def region(self) -> str | None: ...
    @property
    def model(self) -> _Model: ...


@dataclass(frozen=True, slots=True)
class EndpointLive(Shape):
    """One endpoint's line in a model profile."""

    endpoint: str
    provider: ProviderId
    region: str | None
    uptime_ratio: Annotated[
        float | None, Field(description="Uptime over the profile's uptime window.")
    ]
    ttft_p50_seconds: float | None
    ttft_p95_seconds: float | None
    output_tokens_per_second_p50: float | None
    probes: Annotated[
        Count | None,
        Field(
            description="Probes in the last complete window; null when none of this endpoint's"
            " is stored there (no data, not 0 probes)."
        ),
    ]
    failures_by_outcome: Mapping[str, Count]
    last_probe_at: UtcTime | None
    status: Status


@dataclass(frozen=True, slots=True)
class ModelLive(Shape):
    """The live numbers of one model's profile: its ``live`` object."""

    #: The model's id (the profile around ``live`` says it; not part of ``live`` itself).
    model: Annotated[str, Field(exclude=True)]
    window_start: UtcTime | None
    window_end: UtcTime | None
    refreshed_at: Annotated[
        UtcTime | None, Field(description="When these numbers were computed; null before then.")
    ]
    avg_uptime_ratio: float | None
    best_ttft_seconds: float | None
    best_output_tokens_per_second: float | None
    active_endpoints: Count
    total_endpoints: Count
    available_via: tuple[str, ...]
    endpoints: tuple[EndpointLive, ...]


def model_live(
    model: _Model,
    endpoints: Sequence[_Endpoint],
    rollups: Sequence[EndpointRollup],
    *,
    last_window_start: datetime | None,
    uptime_since: datetime,
    refreshed_at: datetime | None,
    last_probe_at: Mapping[str, datetime] | None = None,
    rate_limited_is_down: bool = True,
    uptime_counts: Mapping[str, Mapping[str, int]] | None = None,
) -> ModelLive:
    """The live part of ``model``'s profile from its endpoints' rollups.

    ``rollups`` may span many windows: those starting at or after ``uptime_since`` feed the
    uptime, those of ``last_window_start`` the latency, speed and activity numbers. When
    ``uptime_counts`` is given (by endpoint, the outcome counts of this model's rollups of
    windows starting at or after ``uptime_since``, as ``Store.outcome_counts`` sums them), the
    uptime comes from it instead, and ``rollups`` need only hold the last window.
    """
    mine = [e for e in endpoints if e.model.id == model.id]
    counts: dict[str, Counter[Outcome]] = defaultdict(Counter)
    last: dict[str, EndpointRollup] = {}
    window_seconds: int | None = None
    if uptime_counts is not None:
        for endpoint_id, outcomes in uptime_counts.items():
            counts[endpoint_id].update(known_outcomes(outcomes))
    for rollup in rollups:
        if rollup.model != model.id:
            continue
        if uptime_counts is None and rollup.window_start >= uptime_since:
            counts[rollup.endpoint].update(known_outcomes(rollup.outcomes))
        if rollup.window_start == last_window_start:
            last[rollup.endpoint] = rollup
            window_seconds = rollup.window_seconds

    lines: list[EndpointLive] = []
    uptimes: list[float] = []
    for endpoint in mine:
        uptime = uptime_ratio(dict(counts[endpoint.id]), rate_limited_is_down=rate_limited_is_down)
        if uptime is not None:
            uptimes.append(uptime)
        latest = last.get(endpoint.id)
        lines.append(
            EndpointLive(
                endpoint=endpoint.id,
                provider=endpoint.provider,
                region=endpoint.region,
                uptime_ratio=uptime,
                ttft_p50_seconds=latest.ttft.p50 if latest else None,
                ttft_p95_seconds=latest.ttft.p95 if latest else None,
                output_tokens_per_second_p50=latest.speed.p50 if latest else None,
                probes=latest.probes if latest else None,
                failures_by_outcome=latest.failures_by_outcome if latest else {},
                last_probe_at=(last_probe_at or {}).get(endpoint.id),
                status=window_status(latest),
            )
        )
    active = [line for line in lines if (r := last.get(line.endpoint)) and r.successes > 0]
    ttfts = [line.ttft_p50_seconds for line in active if line.ttft_p50_seconds is not None]
    speeds = [
        line.output_tokens_per_second_p50
        for line in active
        if line.output_tokens_per_second_p50 is not None
    ]
    via = dict.fromkeys(PROVIDER_DISPLAY_NAMES[line.provider] for line in active)
    window_end = None
    if last_window_start is not None and window_seconds is not None:
        window_end = last_window_start + timedelta(seconds=window_seconds)
    return ModelLive(
        model=model.id,
        window_start=last_window_start if window_end else None,
        window_end=window_end,
        refreshed_at=refreshed_at,
        avg_uptime_ratio=sum(uptimes) / len(uptimes) if uptimes else None,
        best_ttft_seconds=min(ttfts) if ttfts else None,
        best_output_tokens_per_second=max(speeds) if speeds else None,
        active_endpoints=len(active),
        total_endpoints=len(mine),
        available_via=tuple(via),
        endpoints=tuple(lines),
    )
