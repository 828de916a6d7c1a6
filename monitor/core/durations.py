"""Durations as people write them (``500ms``, ``30s``, ``5m``, ``24h``, ``30d``), to seconds
and back (pure).

One grammar for every duration the product reads: the config's durations, the relative times
of ``--since``/``--until`` and ``?since=``/``?until=`` (``24h`` before now) and window sizes.
An amount is ASCII digits with an optional fraction (``[0-9]``, not ``\\d``, which would take
any Unicode digit), followed by its unit. The config also takes a bare number of seconds and
spaces around the amount and unit; the exact form (``DURATION_PATTERN``) is the one the HTTP
API's OpenAPI document states.
"""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BeforeValidator

#: Seconds per unit.
UNIT_SECONDS: dict[str, float] = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
#: An amount: ASCII digits, optionally with a fraction.
NUMBER_PATTERN = r"[0-9]+(\.[0-9]+)?"
#: A unit of ``UNIT_SECONDS``.
UNIT_PATTERN = r"(ms|s|m|h|d)"
#: A duration in its exact form: an amount and its unit, nothing around them.
DURATION_PATTERN = NUMBER_PATTERN + UNIT_PATTERN
_EXACT = re.compile(f"({NUMBER_PATTERN}){UNIT_PATTERN}")
#: The config's form: spaces allowed around the amount and the unit, the unit optional (seconds).
_CONFIG_FORM = re.compile(rf"\s*({NUMBER_PATTERN})\s*{UNIT_PATTERN}?\s*")
_EXPECTED = "expected a duration like 500ms, 30s, 5m, 24h or 30d"


def duration_seconds(text: str) -> float:
    """The seconds of a duration in the exact form (``DURATION_PATTERN``); infinite for an
    amount too long for a float. Raise ValueError naming the text otherwise."""
    match = _EXACT.fullmatch(text)
    if match is None:
        raise ValueError(f"{_EXPECTED}, got {text!r}")
    return float(match.group(1)) * UNIT_SECONDS[match.group(3)]


def parse_duration(value: object) -> float:
    """The seconds of a config duration: a number of seconds, or a duration with spaces allowed
    around its parts and the unit optional; raise ValueError naming the bad value."""
    if isinstance(value, bool):  # bool is an int subclass; ``true`` is never a duration
        raise ValueError(f"{_EXPECTED}, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _CONFIG_FORM.fullmatch(value)
        if match is None:
            raise ValueError(f"{_EXPECTED}, got {value!r}")
        seconds = duration_seconds(match.group(1) + (match.group(3) or "s"))
    else:
        raise ValueError(f"{_EXPECTED}, got {value!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be a finite number of seconds >= 0, got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """Render seconds in the largest unit that divides them exactly (``1800`` -> ``30m``)."""
    if seconds == 0:
        return "0s"
    millis = round(seconds * 1000)
    if abs(millis - seconds * 1000) > 1e-6:
        return f"{seconds:g}s"
    for unit, size_ms in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if millis % size_ms == 0:
            return f"{millis // size_ms}{unit}"
    return f"{millis}ms"


def _coerce(value: object) -> float:
    return parse_duration(value)


#: A pydantic field type: accepts ``500ms``/``30s``/``5m``/``24h``/``30d`` or a number of seconds.
Duration = Annotated[float, BeforeValidator(_coerce)]
