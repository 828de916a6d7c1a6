"""The live part of a model's profile, from its endpoints' rollups (pure).

The definitions are in docs/design.md#model-profile.

For one model, from the rollups of its endpoints:

- ``avg_uptime_ratio``: the mean, over endpoints that have any counted probe, of each endpoint's
  uptime over ``profile.uptime_window`` (outcome counts summed across that span's windows);
- ``best_ttft_seconds``: the lowest p50 TTFT in the last complete window of an active
  endpoint from one location (``best_ttft_from`` says which endpoint and location);
- ``best_output_tokens_per_second``: the highest such p50 output speed (and its ``_from``);
- ``best_answer_ttft_seconds``: the lowest such p50 time to first answer token (and its
  ``_from``): the same as the best TTFT unless an endpoint streams reasoning first;
- ``active_endpoints``: endpoints with a success in that window, of ``total_endpoints``;
- ``available_via``: display names of the providers of the active endpoints;
- ``locations``: the locations that probed the model's endpoints over the uptime span; each
  endpoint's line lists its own (``locations``), each with that location's uptime over the span
  and its last-window numbers.

With several locations an endpoint's uptime over the span counts the quorum's slots where more
than one location probed a window and the counted probes where one did (docs/design.md#quorum-
uptime): with one location everywhere that is the probe uptime above.

An endpoint without a rollup in the last complete window (no probe was stored in it: the
monitor was not running, or the endpoint was not configured yet) has no data there: its
window numbers and ``probes`` are null and its status is ``unknown``, never "0 probes".
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, NamedTuple, Protocol

from pydantic import Field

from monitor.core.outcomes import Outcome, known_outcomes, up_and_down
from monitor.core.providers import PROVIDER_DISPLAY_NAMES, ProviderId
from monitor.core.rollup import Count, EndpointRollup, percentile
from monitor.core.shape import Shape, UtcTime
from monitor.core.status import Status, window_status


@dataclass(frozen=True, slots=True)
class UptimeCounts:
    """What one model's uptime over a span needs, summed by the store over its rollups."""

    #: Endpoint -> outcome counts of the windows that one location probed.
    outcomes: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    #: Endpoint -> (slots up, slots down) of the windows that several locations probed.
    slots: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    #: (endpoint, location) -> that location's outcome counts over the span.
    by_location: Mapping[tuple[str, str], Mapping[str, int]] = field(default_factory=dict)


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


#: How the answer TTFT fields describe themselves.
_ANSWER_P50 = (
    "p50 time to first answer token (after any streamed reasoning) of the successful probes in"
    " the last complete window"
)


@dataclass(frozen=True, slots=True)
class LocationLive(Shape):
    """One location's numbers for one endpoint in a model profile."""

    location: str
    uptime_ratio: Annotated[
        float | None,
        Field(description="This location's uptime over the profile's uptime window."),
    ]
    ttft_p50_seconds: float | None
    ttft_p95_seconds: float | None
    output_tokens_per_second_p50: float | None
    probes: Annotated[
        Count | None,
        Field(description="This location's probes in the last complete window; null when none."),
    ]
    answer_ttft_p50_seconds: Annotated[
        float | None, Field(description=_ANSWER_P50 + " from this location.")
    ] = None


@dataclass(frozen=True, slots=True)
class BestFrom(Shape):
    """Where a best number was measured: which endpoint, probed from which location."""

    endpoint: str
    location: Annotated[str | None, Field(description="Null for probes stored without a location.")]


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
    locations: Annotated[
        tuple[LocationLive, ...],
        Field(description="Each location that probed this endpoint over the uptime window."),
    ] = ()
    answer_ttft_p50_seconds: Annotated[float | None, Field(description=_ANSWER_P50 + ".")] = None
    answer_ttft_p95_seconds: Annotated[
        float | None, Field(description=_ANSWER_P50.replace("p50", "p95") + ".")
    ] = None


@dataclass(frozen=True, slots=True)
class KindEndpoint(Shape):
    """One endpoint's numbers for one probe kind in the last complete window."""

    endpoint: str
    ttft_p50_seconds: Annotated[
        float | None, Field(description="p50 TTFT of this kind's successful probes.")
    ]
    input_tokens_p50: Annotated[
        int | None, Field(description="p50 prompt size as the provider counted it.")
    ]
    probes: Count


@dataclass(frozen=True, slots=True)
class KindLive(Shape):
    """One probe kind of a model (docs/design.md#probe-kinds): TTFT at one prompt size."""

    kind: str
    input_tokens: Annotated[
        int | None, Field(description="The kind's configured prompt size; null for 'short'.")
    ]
    best_ttft_seconds: Annotated[
        float | None, Field(description="The lowest endpoint p50 TTFT of this kind.")
    ]
    best_ttft_from: BestFrom | None
    endpoints: tuple[KindEndpoint, ...]


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
    best_ttft_from: Annotated[
        BestFrom | None, Field(description="The endpoint and location of the best TTFT.")
    ] = None
    best_output_tokens_per_second_from: Annotated[
        BestFrom | None, Field(description="The endpoint and location of the best throughput.")
    ] = None
    locations: Annotated[
        tuple[str, ...],
        Field(description="The locations that probed this model's endpoints (uptime window)."),
    ] = ()
    best_answer_ttft_seconds: Annotated[
        float | None,
        Field(
            description="The lowest p50 time to first answer token (after any streamed"
            " reasoning) of an active endpoint from one location in the last complete window"
            " (docs/design.md#answer-ttft)."
        ),
    ] = None
    best_answer_ttft_from: Annotated[
        BestFrom | None, Field(description="The endpoint and location of the best answer TTFT.")
    ] = None
    kinds: Annotated[
        tuple[KindLive, ...],
        Field(
            description="With probe kinds: the best TTFT of each kind (prompt size) in the last"
            " complete window, 'short' first, then by size; empty without kinds."
        ),
    ] = ()


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
    uptime: UptimeCounts | None = None,
    location_rollups: Sequence[EndpointRollup] = (),
) -> ModelLive:
    """The live part of ``model``'s profile from its endpoints' rollups.

    ``rollups`` (across locations) and ``location_rollups`` (each location's) may span many
    windows: those starting at or after ``uptime_since`` feed the uptime, those of
    ``last_window_start`` the latency, speed and activity numbers. When ``uptime`` is given (as
    ``Store.uptime_counts`` sums it over the windows starting at or after ``uptime_since``), the
    uptime comes from it instead, and the rollups need only hold the last window.
    """
    mine = [e for e in endpoints if e.model.id == model.id]
    if uptime is None:
        uptime = _uptime_counts(model.id, rollups, location_rollups, uptime_since)
    last: dict[str, EndpointRollup] = {}
    window_seconds: int | None = None
    for rollup in rollups:
        if rollup.model == model.id and rollup.window_start == last_window_start:
            last[rollup.endpoint] = rollup
            window_seconds = rollup.window_seconds
    last_located: dict[tuple[str, str], EndpointRollup] = {
        (r.endpoint, r.location): r
        for r in location_rollups
        if r.model == model.id and r.window_start == last_window_start and r.location
    }

    def ratio(counts: Mapping[str, int], slots: tuple[int, int] = (0, 0)) -> float | None:
        # The probes of one-location windows and the quorum slots of the others, together.
        up, down = up_and_down(known_outcomes(counts), rate_limited_is_down=rate_limited_is_down)
        total = up + down + slots[0] + slots[1]
        return None if total == 0 else (up + slots[0]) / total

    # Each endpoint's locations, gathered once: a scan of every key per endpoint would cost
    # endpoints × locations × endpoints.
    located_at: dict[str, set[str]] = {}
    for e, loc in (*uptime.by_location, *last_located):
        located_at.setdefault(e, set()).add(loc)
    lines: list[EndpointLive] = []
    uptimes: list[float] = []
    for endpoint in mine:
        endpoint_uptime = ratio(
            uptime.outcomes.get(endpoint.id, {}), uptime.slots.get(endpoint.id, (0, 0))
        )
        if endpoint_uptime is not None:
            uptimes.append(endpoint_uptime)
        latest = last.get(endpoint.id)
        names = sorted(located_at.get(endpoint.id, ()))
        located = tuple(
            _location_line(
                name,
                ratio(uptime.by_location.get((endpoint.id, name), {})),
                last_located.get((endpoint.id, name)),
            )
            for name in names
        )
        lines.append(
            EndpointLive(
                endpoint=endpoint.id,
                provider=endpoint.provider,
                region=endpoint.region,
                uptime_ratio=endpoint_uptime,
                ttft_p50_seconds=latest.ttft.p50 if latest else None,
                ttft_p95_seconds=latest.ttft.p95 if latest else None,
                output_tokens_per_second_p50=latest.speed.p50 if latest else None,
                probes=latest.probes if latest else None,
                failures_by_outcome=latest.failures_by_outcome if latest else {},
                last_probe_at=(last_probe_at or {}).get(endpoint.id),
                status=window_status(latest),
                locations=located,
                answer_ttft_p50_seconds=latest.answer_ttft.p50 if latest else None,
                answer_ttft_p95_seconds=latest.answer_ttft.p95 if latest else None,
            )
        )
    active = [line for line in lines if (r := last.get(line.endpoint)) and r.successes > 0]
    # The best numbers come from one location's probes (a p50 across locations mixes places);
    # an endpoint whose probes have no location offers its own numbers.
    ttfts: list[tuple[float, BestFrom]] = []
    speeds: list[tuple[float, BestFrom]] = []
    answers: list[tuple[float, BestFrom]] = []
    for line in active:
        measured: list[tuple[str | None, float | None, float | None, float | None]] = [
            (
                loc.location,
                loc.ttft_p50_seconds,
                loc.output_tokens_per_second_p50,
                loc.answer_ttft_p50_seconds,
            )
            for loc in line.locations
            if loc.probes is not None
        ] or [
            (
                None,
                line.ttft_p50_seconds,
                line.output_tokens_per_second_p50,
                line.answer_ttft_p50_seconds,
            )
        ]
        for where, ttft, speed, answer in measured:
            source = BestFrom(endpoint=line.endpoint, location=where)
            if ttft is not None:
                ttfts.append((ttft, source))
            if speed is not None:
                speeds.append((speed, source))
            if answer is not None:
                answers.append((answer, source))
    best_ttft = min(ttfts, key=lambda item: item[0], default=None)
    best_answer = min(answers, key=lambda item: item[0], default=None)
    best_speed = max(speeds, key=lambda item: item[0], default=None)
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
        best_ttft_seconds=best_ttft[0] if best_ttft else None,
        best_output_tokens_per_second=best_speed[0] if best_speed else None,
        active_endpoints=len(active),
        total_endpoints=len(mine),
        available_via=tuple(via),
        endpoints=tuple(lines),
        best_ttft_from=best_ttft[1] if best_ttft else None,
        best_output_tokens_per_second_from=best_speed[1] if best_speed else None,
        locations=tuple(sorted({loc.location for line in lines for loc in line.locations})),
        best_answer_ttft_seconds=best_answer[0] if best_answer else None,
        best_answer_ttft_from=best_answer[1] if best_answer else None,
    )


def _location_line(name: str, uptime: float | None, latest: EndpointRollup | None) -> LocationLive:
    return LocationLive(
        location=name,
        uptime_ratio=uptime,
        ttft_p50_seconds=latest.ttft.p50 if latest else None,
        ttft_p95_seconds=latest.ttft.p95 if latest else None,
        output_tokens_per_second_p50=latest.speed.p50 if latest else None,
        probes=latest.probes if latest else None,
        answer_ttft_p50_seconds=latest.answer_ttft.p50 if latest else None,
    )


def _uptime_counts(
    model: str,
    rollups: Sequence[EndpointRollup],
    location_rollups: Sequence[EndpointRollup],
    since: datetime,
) -> UptimeCounts:
    """``UptimeCounts`` summed from whole rollups (what the store sums in SQL)."""
    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    slots: dict[str, tuple[int, int]] = {}
    by_location: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for r in rollups:
        if r.model != model or r.window_start < since:
            continue
        if r.slots_up is None or r.slots_down is None:
            outcomes[r.endpoint].update(r.outcomes)
        else:
            up, down = slots.get(r.endpoint, (0, 0))
            slots[r.endpoint] = (up + r.slots_up, down + r.slots_down)
    for r in location_rollups:
        if r.model == model and r.window_start >= since and r.location:
            by_location[(r.endpoint, r.location)].update(r.outcomes)
    return UptimeCounts(outcomes=outcomes, slots=slots, by_location=by_location)


class KindRow(NamedTuple):
    """What a kind's line needs of one stored probe of a kind other than the default."""

    endpoint: str
    kind: str
    outcome: Outcome
    ttft_seconds: float | None
    input_tokens: int | None


def kind_lives(
    live: ModelLive, kinds: Mapping[str, int], rows: Sequence[KindRow]
) -> tuple[KindLive, ...]:
    """The model's kinds: ``short`` (its best TTFT as the profile has it), then each kind of
    ``kinds`` (name -> configured input tokens), smallest first, from ``rows`` (its
    endpoints' probes of those kinds in the last complete window)."""
    if not kinds:
        return ()
    mine = {line.endpoint for line in live.endpoints}
    short = KindLive(
        kind="short",
        input_tokens=None,
        best_ttft_seconds=live.best_ttft_seconds,
        best_ttft_from=live.best_ttft_from,
        endpoints=tuple(
            KindEndpoint(line.endpoint, line.ttft_p50_seconds, None, line.probes or 0)
            for line in live.endpoints
            if line.probes
        ),
    )
    out = [short]
    for name, size in sorted(kinds.items(), key=lambda item: item[1]):  # smallest first
        by_endpoint: dict[str, list[KindRow]] = {}
        for row in rows:
            if row.kind == name and row.endpoint in mine:
                by_endpoint.setdefault(row.endpoint, []).append(row)
        lines = []
        for endpoint, found in sorted(by_endpoint.items()):
            ttfts = sorted(
                r.ttft_seconds
                for r in found
                if r.outcome is Outcome.SUCCESS and r.ttft_seconds is not None
            )
            sizes = sorted(r.input_tokens for r in found if r.input_tokens is not None)
            lines.append(
                KindEndpoint(
                    endpoint=endpoint,
                    ttft_p50_seconds=percentile(ttfts, 0.5) if ttfts else None,
                    input_tokens_p50=sizes[len(sizes) // 2] if sizes else None,
                    probes=len(found),
                )
            )
        best = min(
            (line for line in lines if line.ttft_p50_seconds is not None),
            key=lambda line: line.ttft_p50_seconds or 0.0,
            default=None,
        )
        out.append(
            KindLive(
                kind=name,
                input_tokens=size,
                best_ttft_seconds=best.ttft_p50_seconds if best else None,
                best_ttft_from=BestFrom(best.endpoint, None) if best else None,
                endpoints=tuple(lines),
            )
        )
    return tuple(out)
