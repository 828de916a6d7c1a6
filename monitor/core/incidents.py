"""Incidents: when an endpoint went down, how long it stayed down, and what it looked like
(docs/design.md#incidents).

An endpoint's probes are cut into slots of its probe interval on a grid from the Unix epoch.
In a slot, each location with a probe that counts for uptime votes: down when every such
probe of it there failed, up otherwise; the quorum rule of the rollups (``monitor.core.quorum``)
decides the slot from the votes. With one location a slot is simply its probe. A slot without
a vote (nobody probed, or only outcomes excluded from uptime) neither extends nor breaks a run.

An incident opens after ``open_after`` consecutive down slots and starts when the first of them
does (the start of its first failed probe); it closes after ``close_after`` consecutive up
slots and ends when the first of those does (the start of its first successful probe), so one
blip neither opens nor ends one. While it is open, ``checked_at`` is the end of the newest slot
judged, and its duration so far is up to there.

An incident is keyed by its endpoint and start, both fixed the moment it opens, so judging the
same probes again (after a restart, or by another agent taking over) gives the same incident,
never a second one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Annotated, NamedTuple

from pydantic import Field, computed_field

from monitor.core.outcomes import EXCLUDED_FROM_UPTIME, Outcome
from monitor.core.quorum import QuorumRule, slot_is_down
from monitor.core.shape import Shape, UtcTime, utc_text

#: Consecutive down slots that open an incident, and up slots that close it (the defaults of
#: ``incidents.open_after`` and ``incidents.close_after``).
DEFAULT_OPEN_AFTER = 3
DEFAULT_CLOSE_AFTER = 2

_MICROSECOND = timedelta(microseconds=1)
_ID = "The endpoint and the start in UTC (`<endpoint>@<started_at>`): what identifies it."
_DURATION = "Seconds from its start to its end, or (while open) to the newest slot judged."


class IncidentProbe(NamedTuple):
    """What judging a slot needs of one stored probe."""

    endpoint: str
    location: str | None
    started_at: datetime
    outcome: Outcome
    error: str | None


@dataclass(frozen=True, slots=True)
class SlotVerdict:
    """One judged slot of one endpoint."""

    start: datetime
    end: datetime
    down: bool
    #: The start of the slot's first failed probe (down) or first success (up).
    first_at: datetime
    #: Failed probes of the locations that voted down, by outcome (empty for an up slot).
    outcomes: Mapping[str, int] = field(default_factory=dict)
    first_error: str | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class Incident(Shape):
    """One stretch of time in which an endpoint was down."""

    endpoint: Annotated[str, Field(description="The endpoint's id.")]
    model: Annotated[str, Field(description="The model the endpoint serves.")]
    provider: Annotated[str, Field(description="The endpoint's provider.")]
    started_at: Annotated[
        UtcTime, Field(description="When the first failed probe of the incident started.")
    ]
    ended_at: Annotated[
        UtcTime | None,
        Field(description="When the first success that closed it started; null while open."),
    ]
    checked_at: Annotated[
        UtcTime,
        Field(description="The end of the newest probe slot judged while it was open."),
    ]
    last_down_at: Annotated[
        UtcTime, Field(description="When the newest down slot of the incident started.")
    ]
    down_slots: Annotated[
        int, Field(ge=1, description="Probe slots judged down during the incident.")
    ]
    outcomes: Annotated[
        Mapping[str, int], Field(description="The failed probes of the incident, by outcome.")
    ]
    first_error: Annotated[str | None, Field(description="The first failed probe's error.")]
    last_error: Annotated[str | None, Field(description="The newest failed probe's error.")]

    @computed_field(description=_ID)  # type: ignore[prop-decorator]
    @property
    def id(self) -> str:
        """``<endpoint>@<start in UTC>``."""
        return f"{self.endpoint}@{utc_text(self.started_at)}"

    @computed_field(description="Whether it is still going on.")  # type: ignore[prop-decorator]
    @property
    def open(self) -> bool:
        """Not closed yet."""
        return self.ended_at is None

    @computed_field(description=_DURATION)  # type: ignore[prop-decorator]
    @property
    def duration_seconds(self) -> float:
        """Seconds from start to end (or to ``checked_at`` while open)."""
        end = self.ended_at if self.ended_at is not None else self.checked_at
        return max(0.0, (end - self.started_at).total_seconds())

    def downtime_within(self, since: datetime, until: datetime) -> float:
        """Seconds of the incident inside [since, until)."""
        end = self.ended_at if self.ended_at is not None else min(self.checked_at, until)
        return max(0.0, (min(end, until) - max(self.started_at, since)).total_seconds())


def slot_micros(interval_seconds: float) -> int:
    """A slot's length in whole microseconds (at least one)."""
    return max(1, round(interval_seconds * 1_000_000))


def slot_start(moment: datetime, interval_seconds: float) -> datetime:
    """The start of the slot holding ``moment``."""
    length = slot_micros(interval_seconds)
    micros = _epoch_micros(moment)
    return moment - (micros % length) * _MICROSECOND


def _epoch_micros(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=moment.tzinfo)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def judge_slots(
    probes: Iterable[IncidentProbe],
    *,
    interval_seconds: float,
    rule: QuorumRule = "majority",
    rate_limited_is_down: bool = True,
) -> list[SlotVerdict]:
    """The verdict of every slot with a vote among ``probes`` (one endpoint's, in any order),
    oldest first."""
    length = slot_micros(interval_seconds)
    by_slot: dict[int, list[IncidentProbe]] = {}
    for probe in probes:
        if probe.outcome in EXCLUDED_FROM_UPTIME:
            continue
        if probe.outcome is Outcome.RATE_LIMITED and not rate_limited_is_down:
            continue
        by_slot.setdefault(_epoch_micros(probe.started_at) // length, []).append(probe)
    verdicts: list[SlotVerdict] = []
    for index in sorted(by_slot):
        counted = sorted(by_slot[index], key=lambda p: p.started_at)
        failed_everywhere: dict[str | None, bool] = {}
        for probe in counted:
            ok = probe.outcome is Outcome.SUCCESS
            failed_everywhere[probe.location] = failed_everywhere.get(probe.location, True) and (
                not ok
            )
        down_votes = sum(failed_everywhere.values())
        start = counted[0].started_at - (_epoch_micros(counted[0].started_at) % length) * (
            _MICROSECOND
        )
        end = start + length * _MICROSECOND
        if slot_is_down(down_votes, len(failed_everywhere), rule):
            failures = [p for p in counted if failed_everywhere[p.location]]
            outcomes: dict[str, int] = {}
            for probe in failures:
                outcomes[probe.outcome.value] = outcomes.get(probe.outcome.value, 0) + 1
            errors = [p.error for p in failures if p.error]
            verdicts.append(
                SlotVerdict(
                    start=start,
                    end=end,
                    down=True,
                    first_at=failures[0].started_at,
                    outcomes=dict(sorted(outcomes.items())),
                    first_error=errors[0] if errors else None,
                    last_error=errors[-1] if errors else None,
                )
            )
        else:
            first_success = next(p for p in counted if p.outcome is Outcome.SUCCESS)
            verdicts.append(
                SlotVerdict(start=start, end=end, down=False, first_at=first_success.started_at)
            )
    return verdicts


@dataclass
class IncidentTracker:
    """One endpoint's incident state, fed its slots' verdicts in time order."""

    endpoint: str
    model: str
    provider: str
    open_after: int = DEFAULT_OPEN_AFTER
    close_after: int = DEFAULT_CLOSE_AFTER
    #: The open incident, if any.
    incident: Incident | None = None
    #: Consecutive down slots while no incident is open (fewer than ``open_after``).
    pending: list[SlotVerdict] = field(default_factory=list)
    #: Consecutive up slots while an incident is open (fewer than ``close_after``).
    recovering: list[SlotVerdict] = field(default_factory=list)

    def feed(self, verdict: SlotVerdict) -> Incident | None:
        """Take the next slot's verdict; return the incident it opened, extended or closed
        (or, while one is open, moved ``checked_at`` of), else None."""
        if self.incident is None:
            if not verdict.down:
                self.pending.clear()
                return None
            self.pending.append(verdict)
            if len(self.pending) < self.open_after:
                return None
            first, *rest = self.pending
            opened = Incident(
                endpoint=self.endpoint,
                model=self.model,
                provider=self.provider,
                started_at=first.first_at,
                ended_at=None,
                checked_at=first.end,
                last_down_at=first.start,
                down_slots=1,
                outcomes=dict(first.outcomes),
                first_error=first.first_error,
                last_error=first.last_error,
            )
            for later in rest:
                opened = _extended(opened, later)
            self.pending.clear()
            self.incident = opened
            return opened
        if verdict.down:
            self.recovering.clear()
            self.incident = _extended(self.incident, verdict)
            return self.incident
        self.recovering.append(verdict)
        if len(self.recovering) < self.close_after:
            self.incident = replace(self.incident, checked_at=verdict.end)
            return self.incident
        closed = replace(
            self.incident, ended_at=self.recovering[0].first_at, checked_at=verdict.end
        )
        self.incident = None
        self.recovering.clear()
        return closed


def _extended(incident: Incident, verdict: SlotVerdict) -> Incident:
    outcomes = dict(incident.outcomes)
    for outcome, count in verdict.outcomes.items():
        outcomes[outcome] = outcomes.get(outcome, 0) + count
    return replace(
        incident,
        checked_at=verdict.end,
        last_down_at=verdict.start,
        down_slots=incident.down_slots + 1,
        outcomes=dict(sorted(outcomes.items())),
        first_error=incident.first_error or verdict.first_error,
        last_error=verdict.last_error or incident.last_error,
    )


@dataclass(frozen=True, slots=True)
class IncidentSummary(Shape):
    """Incidents that overlap a span of time."""

    count: Annotated[int, Field(ge=0, description="Incidents that overlap the span.")]
    open: Annotated[int, Field(ge=0, description="Of them, still open at its end.")]
    downtime_seconds: Annotated[
        float, Field(ge=0, description="Their time inside the span, summed.")
    ]
    longest_seconds: Annotated[
        float | None, Field(description="The longest one's whole duration; null without any.")
    ]


def summarize(incidents: Iterable[Incident], since: datetime, until: datetime) -> IncidentSummary:
    """Count, open ones, downtime inside [since, until) and the longest of ``incidents``."""
    overlapping = [
        i for i in incidents if i.started_at < until and (i.ended_at is None or i.ended_at > since)
    ]
    return IncidentSummary(
        count=len(overlapping),
        open=sum(1 for i in overlapping if i.ended_at is None or i.ended_at >= until),
        downtime_seconds=sum(i.downtime_within(since, until) for i in overlapping),
        longest_seconds=max((i.duration_seconds for i in overlapping), default=None),
    )
