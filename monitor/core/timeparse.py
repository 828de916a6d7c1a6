"""Times and window sizes as people type them, for ``--since``/``--until``/``--window`` of the
commands and the ``since``/``until``/``window`` query parameters of the HTTP API (pure).

A time is exactly one of

- an ISO 8601 / RFC 3339 moment with ``Z`` or a UTC offset (``2025-06-01T12:00:00Z``,
  ``2025-06-01T14:00+02:00``); a moment without a zone is refused rather than guessed;
- a date (``2025-06-01``), meaning its midnight UTC;
- ``now``;
- a duration before ``now``: ``90s``, ``30m``, ``24h``, ``7d`` (``-24h`` means the same).

A moment beyond what a datetime holds in UTC (year 1 with a positive offset, ``100000000d``
ago) is clamped to the first or last representable moment. A window is a whole number of
seconds, ``1800`` or with a unit: ``30m``, ``1h``. The grammar is exact (no surrounding spaces)
so that the OpenAPI document can state it: ``TIME_SCHEMA`` and ``WINDOW_PATTERN``.

Every function raises ``ValueError`` with a message that a person can act on; callers put the
parameter's name in front of it.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from monitor.core.durations import DURATION_PATTERN, duration_seconds, format_duration
from monitor.core.shape import utc_text

#: A duration before now: the one duration grammar (ASCII digits), an optional minus in front.
RELATIVE_PATTERN = "-?" + DURATION_PATTERN
#: A window size: a positive whole number of seconds, minutes, hours or days (at most ten
#: digits; the regexes use [0-9]: ``\d`` would take any Unicode digit).
WINDOW_PATTERN = r"0*[1-9][0-9]{0,9}(s|m|h|d)?"
_RELATIVE = re.compile(RELATIVE_PATTERN)
_WINDOW = re.compile(WINDOW_PATTERN)
_DATE_ONLY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_LEAP_SECOND = re.compile(r"(.*[T ][0-9]{2}:[0-9]{2}):60(.*)")
_HINT = "use ISO 8601 with Z or an offset (2025-06-01T12:00:00Z), a date, now, or 24h-style"
FIRST_MOMENT = datetime.min.replace(tzinfo=UTC)
LAST_MOMENT = datetime.max.replace(tzinfo=UTC)

#: The JSON schema of a time parameter (OpenAPI 3.1), the same language ``parse_time`` reads.
TIME_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "enum": ["now"]},
        {"type": "string", "pattern": f"^{RELATIVE_PATTERN}$"},
        {"type": "string", "format": "date"},
        {"type": "string", "format": "date-time"},
    ]
}


def parse_time(text: str, *, now: datetime) -> datetime:
    """The aware UTC moment that ``text`` names (see the module docstring)."""
    now = now.astimezone(UTC)
    if text == "now":
        return now
    if _RELATIVE.fullmatch(text):
        return _before(now, duration_seconds(text.removeprefix("-")))
    if _DATE_ONLY.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a valid date") from None
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    if not text:
        raise ValueError(f"empty time; {_HINT}")
    return _moment(text)


def _before(now: datetime, seconds: float) -> datetime:
    try:
        return now - timedelta(seconds=seconds)
    except (OverflowError, ValueError):  # past year 1, or a count too long for a float
        return FIRST_MOMENT


def _moment(text: str) -> datetime:
    value = text
    if len(value) > 10 and value[10] == "t":  # RFC 3339 allows a lower-case t and z
        value = value[:10] + "T" + value[11:]
    if value.endswith("z"):
        value = value[:-1] + "Z"
    leap = _LEAP_SECOND.fullmatch(value)
    if leap is not None:  # 23:59:60 is a real UTC second; count it as the one before
        value = f"{leap.group(1)}:59{leap.group(2)}"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"cannot read {text!r} as a time; {_HINT}") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{text!r} has no time zone; add Z (UTC) or an offset like +02:00")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return FIRST_MOMENT if moment.year == 1 else LAST_MOMENT


def parse_range(
    since: str | None,
    until: str | None,
    *,
    now: datetime,
    default_span: timedelta,
    allow_empty: bool = False,
) -> tuple[datetime, datetime]:
    """``[since, until)`` from optional texts: ``until`` defaults to ``now``, ``since`` to
    ``default_span`` before ``until``. Raise ``RangeError`` naming the parameter at fault,
    also for a range that is empty unless ``allow_empty``."""
    try:
        end = parse_time(until, now=now) if until is not None else now.astimezone(UTC)
    except ValueError as exc:
        raise RangeError("until", str(exc)) from None
    try:
        start = parse_time(since, now=now) if since is not None else end - default_span
    except ValueError as exc:
        raise RangeError("since", str(exc)) from None
    except OverflowError:
        start = FIRST_MOMENT
    if start >= end and not allow_empty:
        raise RangeError(
            "since",
            f"{utc_text(start, micros=False)} is not before until "
            f"({utc_text(end, micros=False)}); the range would be empty",
        )
    return start, end


def parse_window(text: str) -> int:
    """A rollup window size (``30m``, ``1800``) in whole seconds, at least one second."""
    match = _WINDOW.fullmatch(text)
    if match is None:
        raise ValueError(
            f"a window is a whole number of seconds, minutes, hours or days (1800, 30m, 1h), "
            f"got {text!r}"
        )
    return int(duration_seconds(text if match.group(1) else text + "s"))


def describe_window(seconds: int) -> str:
    """A window size as people write it (``1800`` -> ``30m``)."""
    return format_duration(seconds)


class RangeError(ValueError):
    """A time range parameter that cannot be used; ``parameter`` names it."""

    def __init__(self, parameter: str, message: str) -> None:
        self.parameter = parameter
        self.message = message
        super().__init__(f"{parameter}: {message}")
