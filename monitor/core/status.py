"""Whether an endpoint is up: the verdict of one window, and the state that adds the last probe.

Two rules, kept side by side because their names are close and their inputs differ
(docs/design.md#endpoint-status, #endpoint-state):

- ``window_status`` judges one window's rollup alone: ``up`` when every counted probe
  succeeded, ``down`` when none did, ``degraded`` in between, ``unknown`` without counted
  probes. It is the ``status`` of a profile's endpoint line and of an endpoint's last window.
- ``endpoint_state`` is what ``/api/v1/endpoints`` (and the pages) call an endpoint's ``state``
  now: the last window's status, corrected by a fresh last probe. Where the two agree, or one
  of them knows nothing, that is the state; where they disagree (an endpoint that was up and
  just failed, or one that was down and just answered), the state is ``degraded``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from monitor.core.outcomes import Outcome, counts_as_down

if TYPE_CHECKING:
    from monitor.core.result import ProbeResult
    from monitor.core.rollup import EndpointRollup

#: What an endpoint is, by a window's numbers or by everything known now.
Status = Literal["up", "degraded", "down", "unknown"]
#: A last probe older than this many probe intervals no longer speaks for an endpoint's state.
FRESH_PROBE_INTERVALS = 3


def window_status(rollup: EndpointRollup | None) -> Status:
    """``up`` (all counted probes succeeded), ``degraded``, ``down`` or ``unknown``."""
    if rollup is None or rollup.uptime_ratio is None:
        return "unknown"
    if rollup.successes == 0:
        return "down"
    return "up" if rollup.uptime_ratio >= 1.0 else "degraded"


def endpoint_state(
    rollup: EndpointRollup | None,
    last_probe: ProbeResult | None,
    *,
    now: datetime,
    interval: float,
    rate_limited_is_down: bool = True,
) -> Status:
    """The state now, from the last window's rollup and a fresh last probe (one started within
    ``FRESH_PROBE_INTERVALS`` probe intervals of ``now``)."""
    window = window_status(rollup)
    probe: Status | None = None
    fresh = last_probe is not None and last_probe.started_at >= now - timedelta(
        seconds=FRESH_PROBE_INTERVALS * interval
    )
    if fresh and last_probe is not None:
        if last_probe.outcome is Outcome.SUCCESS:
            probe = "up"
        elif counts_as_down(last_probe.outcome, rate_limited_is_down=rate_limited_is_down):
            probe = "down"
    if probe is None or probe == window:
        return window
    if window == "unknown":
        return probe
    return "degraded"
