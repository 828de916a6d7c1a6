"""The report's values, which are also its JSON and the schema of it (``report_version`` 1).

``Report`` holds, for each model, the live card and each endpoint's summary over the range, and
for each window of the range that has stored rollups, those rollups. Its JSON::

    {report_version, generated_at, since, until, window_seconds, window, has_data,
     models: [{live, model, name, pricing, card, endpoints: [EndpointSummary], no_data}],
     windows: [{window_start, window_end, endpoints: [rollup], no_data}],
     probe_spend, incidents: {summary, incidents: [incident]}}

``endpoints`` holds the endpoints with data (a probe in the range, a rollup in the window);
``no_data`` names the reported endpoints without any, which have no numbers at all. Times are
ISO 8601 UTC with ``Z``; unknown numbers are ``null``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, computed_field

from monitor.config import ModelSpec, Pricing
from monitor.core.incidents import Incident, IncidentSummary
from monitor.core.profile import ModelLive
from monitor.core.providers import ProviderId
from monitor.core.rollup import Count, EndpointRollup
from monitor.core.shape import Shape, UtcTime
from monitor.core.timeparse import describe_window
from monitor.reports.text import card_line

#: Version of the report's JSON structure; bumped on any incompatible change.
REPORT_VERSION: Literal[1] = 1


@dataclass(frozen=True, slots=True)
class EndpointSummary(Shape):
    """One endpoint over a report's whole range."""

    endpoint: str
    model: str
    provider: ProviderId
    region: str | None
    probes: Count
    successes: Count
    uptime_ratio: float | None
    ttft_p50_seconds: float | None
    ttft_p95_seconds: float | None
    output_tokens_per_second_p50: float | None
    failures_by_outcome: Mapping[str, Count]
    output_tokens: Count
    input_tokens: Count
    cost_usd: float
    source: Annotated[
        Literal["probes", "rollups"],
        Field(
            description="probes: exact over the range; rollups: raw probes are gone, counts"
            " summed from rollups, percentiles null."
        ),
    ]
    answer_ttft_p50_seconds: Annotated[
        float | None,
        Field(description="Time to first answer token (after any streamed reasoning), p50."),
    ] = None
    answer_ttft_p95_seconds: Annotated[
        float | None,
        Field(description="Time to first answer token (after any streamed reasoning), p95."),
    ] = None

    @property
    def has_data(self) -> bool:
        """Whether any probe of the endpoint is known in the range (else: no data)."""
        return self.probes > 0


@dataclass(frozen=True, slots=True)
class ReportModel(Shape):
    """One model: its facts, its live card and its endpoints' summaries."""

    spec: Annotated[ModelSpec, Field(exclude=True)]
    live: ModelLive
    #: Every reported endpoint of the model, in configuration order, with data or without.
    summaries: Annotated[tuple[EndpointSummary, ...], Field(exclude=True)]
    window_seconds: Annotated[int, Field(exclude=True)]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def model(self) -> str:
        """The model's id."""
        return self.spec.id

    @computed_field  # type: ignore[prop-decorator]
    @property
    def name(self) -> str | None:
        """The model's name."""
        return self.spec.name

    @computed_field  # type: ignore[prop-decorator]
    @property
    def pricing(self) -> Pricing | None:
        """The model's prices."""
        return self.spec.pricing

    @computed_field  # type: ignore[prop-decorator]
    @property
    def card(self) -> str:
        """The live card in one line, as the model page shows it."""
        return card_line(self.live, self.window_seconds)

    @computed_field(description="The model's endpoints with a probe in the range.")  # type: ignore[prop-decorator]
    @property
    def endpoints(self) -> tuple[EndpointSummary, ...]:
        """The summaries of the endpoints with data."""
        return tuple(s for s in self.summaries if s.has_data)

    @computed_field(description="The model's endpoints with no probe in the range (no data).")  # type: ignore[prop-decorator]
    @property
    def no_data(self) -> tuple[str, ...]:
        """The endpoints without data."""
        return tuple(s.endpoint for s in self.summaries if not s.has_data)


@dataclass(frozen=True, slots=True)
class ReportWindow(Shape):
    """One window's stored rollups, and the reported endpoints that have none in it."""

    window_start: UtcTime
    window_seconds: Annotated[int, Field(exclude=True)]
    rollups: Annotated[
        tuple[EndpointRollup, ...],
        Field(serialization_alias="endpoints", description="The stored rollups of the window."),
    ]
    #: The reported endpoints, in configuration order.
    reported: Annotated[tuple[str, ...], Field(exclude=True)] = ()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def window_end(self) -> UtcTime:
        """End of the window (exclusive)."""
        return self.window_start + timedelta(seconds=self.window_seconds)

    @computed_field(  # type: ignore[prop-decorator]
        description="The reported endpoints with no rollup in the window: no probe of theirs"
        " is stored in it (no data, not 0 probes)."
    )
    @property
    def no_data(self) -> tuple[str, ...]:
        """The reported endpoints without a rollup in this window (no probe was stored)."""
        found = {r.endpoint for r in self.rollups}
        return tuple(e for e in self.reported if e not in found)

    def rows(self) -> list[tuple[str, EndpointRollup | None]]:
        """Each reported endpoint with its rollup, or None where it has no data."""
        found = {r.endpoint: r for r in self.rollups}
        return [(e, found.get(e)) for e in self.reported]


@dataclass(frozen=True, slots=True)
class ProbeSpend(Shape):
    """What the probes cost in the 24 h before the report's end, against the budget."""

    spent_usd: Annotated[
        float, Field(description="USD the stored probes of the 24 h before `until` cost.")
    ]
    budget_usd_per_day: float

    @computed_field  # type: ignore[prop-decorator]
    @property
    def exhausted(self) -> bool:
        """Whether that spend reached the budget (the daemon then stretches the intervals)."""
        return self.spent_usd >= self.budget_usd_per_day


@dataclass(frozen=True, slots=True)
class ReportIncidents(Shape):
    """The reported endpoints' incidents that overlap the range (docs/design.md#incidents)."""

    summary: Annotated[
        IncidentSummary,
        Field(description="How many, open at the end, downtime inside the range, the longest."),
    ]
    incidents: Annotated[tuple[Incident, ...], Field(description="Newest start first.")]


NO_INCIDENTS = ReportIncidents(
    IncidentSummary(count=0, open=0, downtime_seconds=0.0, longest_seconds=None), ()
)


@dataclass(frozen=True, slots=True)
class Report(Shape):
    """A rollup report over ``[since, until)`` in windows of ``window_seconds``."""

    generated_at: UtcTime
    since: UtcTime
    until: UtcTime
    window_seconds: Annotated[int, Field(ge=1)]
    models: tuple[ReportModel, ...]
    windows: tuple[ReportWindow, ...]
    probe_spend: Annotated[
        ProbeSpend | None,
        Field(description="With probe.budget_usd_per_day set: the last 24 h's spend; else null."),
    ] = None
    incidents: ReportIncidents = NO_INCIDENTS

    @computed_field  # type: ignore[prop-decorator]
    @property
    def report_version(self) -> Literal[1]:
        """The version of this JSON structure."""
        return REPORT_VERSION

    @computed_field  # type: ignore[prop-decorator]
    @property
    def window(self) -> str:
        """The window size as people write it (``30m``)."""
        return describe_window(self.window_seconds)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def has_data(self) -> bool:
        """Whether any endpoint has a probe in the range."""
        return any(s.probes for s in self.endpoints)

    @property
    def endpoints(self) -> tuple[EndpointSummary, ...]:
        """Every endpoint summary, model by model."""
        return tuple(s for m in self.models for s in m.summaries)
