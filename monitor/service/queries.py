"""Questions the API and the commands ask of the store, with the rules that go with them: which
window sizes exist, how a long range of rollups is read a page at a time, how an unknown model
is named in an error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.config import Config
from monitor.core.errors import UnknownWindowError
from monitor.core.rollup import EndpointRollup
from monitor.core.timeparse import describe_window
from monitor.service.aggregator import window_seconds
from monitor.store import Store

#: Most rollup rows one page holds; the rest is left for a next page.
MAX_ROLLUP_ROWS = 10_000
#: Most incidents ``/api/v1/incidents`` lists (its summary counts them all).
MAX_INCIDENTS = 1_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def window_is_known(config: Config, store: Store, seconds: int) -> bool:
    """Whether ``seconds`` is the configured rollup window or one the store holds rollups of."""
    if seconds == window_seconds(config):
        return True
    if seconds > 86_400 or 86_400 % seconds:
        return False  # every configured window divides a day, so none was ever stored
    far_future = datetime.now(UTC) + timedelta(days=366)
    return bool(store.rollup_windows(seconds, _EPOCH - timedelta(days=365 * 100), far_future))


def unknown_model_message(config: Config, model: str) -> str:
    """``unknown model 'x'; known: a, b`` (the 404 message of the API and the CLI's error)."""
    known = ", ".join(m.id for m in config.models) or "none configured"
    return f"unknown model {model!r}; known: {known}"


def rollup_page(
    config: Config,
    store: Store,
    window: int,
    since: datetime,
    until: datetime,
    *,
    model: str | None,
    endpoint: str | None,
    limit: int = MAX_ROLLUP_ROWS,
) -> tuple[list[EndpointRollup], datetime | None]:
    """Up to ``limit`` rollups of [since, until), oldest first, and where the next page starts
    (None when this one holds the rest). Raises ``UnknownWindowError`` for a window size that
    is neither configured nor stored.

    The range is read in slices sized to about one page, so a long range over many endpoints
    never loads more than a page or so; an empty slice doubles the next one, so a sparse range
    takes few queries. A page ends at a window boundary, so the next one repeats no row.
    """
    if not window_is_known(config, store, window):
        raise UnknownWindowError(
            f"no rollups of {describe_window(window)} windows: the configured rollup window is "
            f"{describe_window(window_seconds(config))} and no rollups of that size are stored"
        )
    if endpoint is not None:
        per_window = 1
    else:
        per_window = sum(1 for e in config.endpoints if model is None or e.model.id == model)
    base = timedelta(seconds=window) * max(1, limit // max(1, per_window))
    step = base
    rows: list[EndpointRollup] = []
    start = since
    while start < until and len(rows) <= limit:
        end = until if until - start <= step else start + step
        chunk = store.rollups(
            window_seconds=window, since=start, until=end, model=model, endpoint=endpoint
        )
        rows.extend(chunk)
        step = base if chunk else min(step * 2, until - since)
        start = end
    if len(rows) <= limit:
        return rows, None
    first_left = rows[limit].window_start
    kept = [r for r in rows[:limit] if r.window_start < first_left]
    if kept:
        return kept, first_left
    # One window holds more rows than a page: show a page of it and move on past it.
    return rows[:limit], first_left + timedelta(seconds=window)
