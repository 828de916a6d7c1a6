"""Human durations (``500ms``, ``30s``, ``5m``, ``24h``, ``30d``) to seconds and back."""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BeforeValidator

_UNITS: dict[str, float] = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(value: object) -> float:
    """Return the number of seconds a duration names; raise ValueError naming the bad value."""
    if isinstance(value, bool):  # bool is an int subclass; ``true`` is never a duration
        raise ValueError(f"expected a duration like 500ms, 30s, 5m, 24h or 30d, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _PATTERN.match(value)
        if match is None:
            raise ValueError(f"expected a duration like 500ms, 30s, 5m, 24h or 30d, got {value!r}")
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    else:
        raise ValueError(f"expected a duration like 500ms, 30s, 5m, 24h or 30d, got {value!r}")
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
