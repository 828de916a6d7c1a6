"""Windows and rollups: aligned UTC buckets and per-endpoint statistics of one window (pure).

A rollup is a function of the raw probes of one (endpoint, window) and nothing else, so it can
be recomputed at any time and written with an idempotent upsert: a restart, a crash or a late
probe changes nothing but the rows that its window recomputes.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, NamedTuple

from pydantic import Field, computed_field

from monitor.core.outcomes import Outcome, failures_of, uptime_ratio
from monitor.core.quorum import QuorumRule, quorum_uptime
from monitor.core.shape import Shape, UtcTime

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def window_start(moment: datetime, window_seconds: int) -> datetime:
    """Start of the aligned window containing ``moment``: floor(epoch / window) · window."""
    micros = (moment - _EPOCH) // timedelta(microseconds=1)
    size = window_seconds * 1_000_000
    return _EPOCH + timedelta(microseconds=(micros // size) * size)


def windows_between(start: datetime, end: datetime, window_seconds: int) -> list[datetime]:
    """Starts of every window that begins in [start, end)."""
    first = window_start(start, window_seconds)
    if first < start:
        first += timedelta(seconds=window_seconds)
    step = timedelta(seconds=window_seconds)
    out: list[datetime] = []
    current = first
    while current < end:
        out.append(current)
        current += step
    return out


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0..1) by linear interpolation between closest ranks; None if empty."""
    if not sorted_values:
        return None
    position = (len(sorted_values) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


@dataclass(frozen=True, slots=True)
class Distribution(Shape):
    """Summary statistics of one quantity in one window (of successful probes)."""

    count: Annotated[int, Field(ge=0)] = 0
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    min: float | None = None
    max: float | None = None
    mean: float | None = None

    @classmethod
    def of(cls, values: Iterable[float | None]) -> Distribution:
        """Summarise the known values (None is skipped)."""
        return cls.of_sorted(sorted([v for v in values if v is not None]))

    @classmethod
    def of_sorted(cls, data: Sequence[float]) -> Distribution:
        """Summarise values already sorted, none of them None."""
        if not data:
            return cls()
        return cls(
            count=len(data),
            p50=percentile(data, 0.50),
            p90=percentile(data, 0.90),
            p95=percentile(data, 0.95),
            p99=percentile(data, 0.99),
            min=data[0],
            max=data[-1],
            mean=math.fsum(data) / len(data),
        )


#: The distribution of no values.
EMPTY_DISTRIBUTION = Distribution()


class ProbeRow(NamedTuple):
    """The columns of a stored probe that a rollup needs (a named tuple: a window of 1,000
    endpoints from 3 locations reads 90,000 of them, and a tuple is the cheapest to build)."""

    endpoint: str
    outcome: Outcome
    ttft_seconds: float | None
    output_tokens_per_second: float | None
    total_seconds: float | None
    output_tokens: int | None
    input_tokens: int | None
    cost_usd: float | None
    #: Where it was probed from (None: probes made without an agent identity).
    location: str | None = None
    #: Seconds from the start of the window it was read for to its start (None where a
    #: rollup's caller does not need the quorum's slots).
    offset_seconds: float | None = None
    #: Time to the first answer token (docs/design.md#answer-ttft).
    answer_ttft_seconds: float | None = None


#: A count of probes, tokens or outcomes.
Count = Annotated[int, Field(ge=0)]
#: Outcome (its value, e.g. ``server_error``) -> probes.
OutcomeCounts = Annotated[Mapping[str, Count], Field(description="Probes by outcome.")]


@dataclass(frozen=True, slots=True)
class EndpointRollup(Shape):
    """One endpoint's statistics over one window: a row of ``/api/v1/rollups`` and of a
    report's windows. The three distributions keep short attribute names; their JSON names
    say the unit (``ttft_seconds``, ``output_tokens_per_second``, ``total_seconds``)."""

    endpoint: str
    model: str
    provider: str
    region: str | None
    window_start: UtcTime
    window_seconds: Annotated[int, Field(ge=1)]
    probes: Count
    successes: Count
    outcomes: OutcomeCounts
    uptime_ratio: float | None
    ttft: Annotated[Distribution, Field(serialization_alias="ttft_seconds")]
    speed: Annotated[Distribution, Field(serialization_alias="output_tokens_per_second")]
    latency: Annotated[Distribution, Field(serialization_alias="total_seconds")]
    output_tokens: Count
    input_tokens: Count
    cost_usd: float
    computed_at: UtcTime = field(compare=False)
    answer_ttft: Annotated[
        Distribution,
        Field(
            serialization_alias="answer_ttft_seconds",
            description="Time to the first answer token (after any streamed reasoning) of the"
            " successful probes (docs/design.md#answer-ttft).",
        ),
    ] = EMPTY_DISTRIBUTION
    location: Annotated[
        str | None,
        Field(
            description="The location of one location's rollup; null for the rollup across"
            " locations (docs/design.md#quorum-uptime)."
        ),
    ] = None
    locations: Annotated[
        Count, Field(description="How many locations probed the endpoint in this window.")
    ] = 1
    slots_up: Annotated[
        Count | None,
        Field(description="Quorum slots up, when more than one location probed; else null."),
    ] = None
    slots_down: Annotated[
        Count | None,
        Field(description="Quorum slots down, when more than one location probed; else null."),
    ] = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def window_end(self) -> UtcTime:
        """End of the window (exclusive)."""
        return self.window_start + timedelta(seconds=self.window_seconds)

    @computed_field(description="Probes by outcome, every outcome but success.")  # type: ignore[prop-decorator]
    @property
    def failures_by_outcome(self) -> dict[str, Count]:
        """Counts of every outcome but success."""
        return failures_of(self.outcomes)


@dataclass(frozen=True, slots=True)
class EndpointIdentity:
    """The labels of an endpoint a rollup carries."""

    endpoint: str
    model: str
    provider: str
    region: str | None


def compute_rollup(
    identity: EndpointIdentity,
    rows: Sequence[ProbeRow],
    start: datetime,
    window_seconds: int,
    *,
    rate_limited_is_down: bool = True,
    now: datetime | None = None,
    location: str | None = None,
) -> EndpointRollup:
    """The rollup of one endpoint's probes in the window starting at ``start`` (of one
    ``location``'s probes when it is given)."""
    counts: Counter[Outcome] = Counter([row.outcome for row in rows])
    successes = [row for row in rows if row.outcome is Outcome.SUCCESS]
    ttfts = [v for row in successes if (v := row.ttft_seconds) is not None]
    answers = sorted([v for row in successes if (v := row.answer_ttft_seconds) is not None])
    speeds = [v for row in successes if (v := row.output_tokens_per_second) is not None]
    latencies = [v for row in successes if (v := row.total_seconds) is not None]
    ttfts.sort()
    speeds.sort()
    latencies.sort()
    return EndpointRollup(
        endpoint=identity.endpoint,
        model=identity.model,
        provider=identity.provider,
        region=identity.region,
        window_start=start,
        window_seconds=window_seconds,
        probes=len(rows),
        successes=len(successes),
        outcomes={outcome.value: n for outcome, n in sorted(counts.items())},
        uptime_ratio=uptime_ratio(dict(counts), rate_limited_is_down=rate_limited_is_down),
        ttft=Distribution.of_sorted(ttfts),
        speed=Distribution.of_sorted(speeds),
        latency=Distribution.of_sorted(latencies),
        output_tokens=sum([n for row in rows if (n := row.output_tokens)]),
        input_tokens=sum([n for row in rows if (n := row.input_tokens)]),
        cost_usd=math.fsum([c for row in rows if (c := row.cost_usd)]),
        computed_at=now or datetime.now(UTC),
        answer_ttft=Distribution.of_sorted(answers),
        location=location,
    )


def rollups_by_location(
    identity: EndpointIdentity,
    rows: Sequence[ProbeRow],
    start: datetime,
    window_seconds: int,
    *,
    slot_seconds: float,
    quorum: QuorumRule = "majority",
    rate_limited_is_down: bool = True,
    now: datetime | None = None,
) -> tuple[EndpointRollup, list[EndpointRollup]]:
    """The rollup of one endpoint's window across locations, and each location's own.

    The rollup across locations counts every probe (its outcomes, distributions, tokens and
    cost); its uptime is the quorum's over slots of ``slot_seconds`` when more than one location
    probed (docs/design.md#quorum-uptime), else the one location's probe uptime. Probes without
    a location count as one location of their own and get no location rollup."""
    now = now or datetime.now(UTC)
    grouped: dict[str | None, list[ProbeRow]] = {}
    for row in rows:
        grouped.setdefault(row.location, []).append(row)
    across = compute_rollup(
        identity, rows, start, window_seconds, rate_limited_is_down=rate_limited_is_down, now=now
    )
    if len(grouped) <= 1:  # one location: its rollup is the one across locations
        (location,) = grouped or (None,)
        return across, [] if location is None else [replace(across, location=location)]
    per_location = [
        compute_rollup(
            identity,
            located,
            start,
            window_seconds,
            rate_limited_is_down=rate_limited_is_down,
            now=now,
            location=location,
        )
        for location, located in sorted(grouped.items(), key=lambda item: item[0] or "")
        if location is not None
    ]
    result = quorum_uptime(
        [
            (row.location or "", row.offset_seconds, row.outcome)
            for row in rows
            if row.offset_seconds is not None
        ],
        window_seconds=window_seconds,
        slot_seconds=slot_seconds,
        rule=quorum,
        rate_limited_is_down=rate_limited_is_down,
    )
    return (
        replace(
            across,
            uptime_ratio=result.uptime_ratio,
            locations=len(grouped),
            slots_up=result.slots_up,
            slots_down=result.slots_down,
        ),
        per_location,
    )
