"""Values to table rows and back: ``ProbeResult``, ``EndpointRollup`` and ``Incident`` exactly
as written."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from monitor.core.incidents import Incident
from monitor.core.kinds import DEFAULT_KIND
from monitor.core.outcomes import Outcome
from monitor.core.result import ProbeResult
from monitor.core.rollup import Distribution, EndpointRollup
from monitor.store.schema import DISTRIBUTION_STATS, DISTRIBUTIONS

PROBE_FIELDS: tuple[str, ...] = tuple(field.name for field in fields(ProbeResult))

# A dict lookup is several times faster than Outcome(value) on the hot read paths.
OUTCOMES: dict[str, Outcome] = {outcome.value: outcome for outcome in Outcome}


def probe_to_row(result: ProbeResult) -> dict[str, Any]:
    """The ``probes`` row of a probe."""
    row = {name: getattr(result, name) for name in PROBE_FIELDS}
    row["outcome"] = result.outcome.value
    return row


def row_to_probe(row: Mapping[Any, Any]) -> ProbeResult:
    """The probe of a ``probes`` row."""
    values = {name: row[name] for name in PROBE_FIELDS}
    values["outcome"] = OUTCOMES[row["outcome"]]
    values["kind"] = row["kind"] or DEFAULT_KIND
    return ProbeResult(**values)


def rollup_to_row(rollup: EndpointRollup) -> dict[str, Any]:
    """The ``rollups`` row of a rollup (the ``location_rollups`` row of one location's), its
    distributions flattened into columns."""
    row: dict[str, Any] = {
        "endpoint": rollup.endpoint,
        "window_seconds": rollup.window_seconds,
        "window_start": rollup.window_start,
        "model": rollup.model,
        "provider": rollup.provider,
        "region": rollup.region,
        "probes": rollup.probes,
        "successes": rollup.successes,
        "outcomes": dict(rollup.outcomes),
        "uptime_ratio": rollup.uptime_ratio,
        "output_tokens": rollup.output_tokens,
        "input_tokens": rollup.input_tokens,
        "cost_usd": rollup.cost_usd,
        "computed_at": rollup.computed_at,
    }
    if rollup.location is None:  # across locations: the rollups table
        row.update(
            locations=rollup.locations, slots_up=rollup.slots_up, slots_down=rollup.slots_down
        )
    else:  # one location's: location_rollups
        row["location"] = rollup.location
    for prefix in DISTRIBUTIONS:
        distribution: Distribution = getattr(rollup, prefix)
        row[f"{prefix}_count"] = distribution.count
        for stat in DISTRIBUTION_STATS:
            row[f"{prefix}_{stat}"] = getattr(distribution, stat)
    return row


#: Where a ``rollups`` or ``location_rollups`` column's value is in an ``EndpointRollup``, for
#: the columns not named as the attribute: a distribution's (``ttft_p50`` is ``ttft.p50``).
ROLLUP_PATHS: dict[str, str] = {
    f"{prefix}_{stat}": f"{prefix}.{stat}"
    for prefix in DISTRIBUTIONS
    for stat in (*DISTRIBUTION_STATS, "count")
}


def row_to_rollup(row: Mapping[Any, Any]) -> EndpointRollup:
    """The rollup of a ``rollups`` row."""
    distributions = {
        prefix: Distribution(
            count=row[f"{prefix}_count"],
            **{stat: row[f"{prefix}_{stat}"] for stat in DISTRIBUTION_STATS},
        )
        for prefix in DISTRIBUTIONS
    }
    return EndpointRollup(
        endpoint=row["endpoint"],
        model=row["model"],
        provider=row["provider"],
        region=row["region"],
        window_start=row["window_start"],
        window_seconds=row["window_seconds"],
        probes=row["probes"],
        successes=row["successes"],
        # compute_rollup writes the outcomes sorted; JSON keeps them, sorting makes it certain.
        outcomes=dict(sorted(row["outcomes"].items())),
        uptime_ratio=row["uptime_ratio"],
        ttft=distributions["ttft"],
        speed=distributions["speed"],
        latency=distributions["latency"],
        output_tokens=row["output_tokens"],
        input_tokens=row["input_tokens"],
        cost_usd=row["cost_usd"],
        computed_at=row["computed_at"],
        answer_ttft=distributions["answer_ttft"],
        location=row.get("location"),
        locations=row.get("locations", 1),
        slots_up=row.get("slots_up"),
        slots_down=row.get("slots_down"),
    )


def incident_to_row(incident: Incident) -> dict[str, Any]:
    """The ``incidents`` row of an incident."""
    return {
        "endpoint": incident.endpoint,
        "started_at": incident.started_at,
        "model": incident.model,
        "provider": incident.provider,
        "ended_at": incident.ended_at,
        "checked_at": incident.checked_at,
        "last_down_at": incident.last_down_at,
        "down_slots": incident.down_slots,
        "outcomes": dict(incident.outcomes),
        "first_error": incident.first_error,
        "last_error": incident.last_error,
    }


def row_to_incident(row: Mapping[Any, Any]) -> Incident:
    """The incident of an ``incidents`` row (its outcomes sorted, as they were written)."""
    return Incident(
        endpoint=row["endpoint"],
        model=row["model"],
        provider=row["provider"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        checked_at=row["checked_at"],
        last_down_at=row["last_down_at"],
        down_slots=row["down_slots"],
        outcomes=dict(sorted(row["outcomes"].items())),
        first_error=row["first_error"],
        last_error=row["last_error"],
    )
