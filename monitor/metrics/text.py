"""The pieces of exposition text: numbers, escaped label values, label sets, family headers.

Two formats are written: Prometheus text 0.0.4 and OpenMetrics 1.0.0. For the families of this
package their sample lines are the same; only the headers differ (OpenMetrics names a counter
family without ``_total`` and escapes quotes in help text). Numbers are written as Prometheus's
Go code writes them (and as prometheus_client does): ``1.0``, ``1e-07``, ``1.23456789e+08``,
``+Inf``, ``NaN``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable

from monitor.metrics.names import Spec

#: A name Prometheus accepts without quoting (metric names may also hold ``:``).
_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def number_text(value: float) -> str:
    """``value`` as Go's ``strconv.FormatFloat(v, 'g', -1, 64)`` writes it for Prometheus:
    Python's shortest repr, except that a positive number of 8 or more integer digits (below
    1e16, where repr switches itself) takes an exponent: ``12345678.0`` is ``1.2345678e+07``."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(value)
    integer_digits = text.find(".")
    if value <= 0 or integer_digits < 7:
        return text
    digits = (text[:integer_digits] + text[integer_digits + 1 :]).rstrip("0")
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{mantissa}e+{integer_digits - 1:02d}"


class _Numbers(dict[float, str]):
    """``number_text`` of positive numbers, remembered for one rendering: most samples are small
    counts that recur across series. Zeros go around it (``-0.0 == 0.0`` prints differently)."""

    __slots__ = ()

    def __missing__(self, value: float) -> str:
        text = number_text(value)
        if value > 0 and len(self) < 65_536:
            self[value] = text
        return text


class _Lines(dict[float, str]):
    """``number_text`` and a newline, remembered (up to 65,536 values). Only for values that
    are never ``-0.0``, which is the same key as ``0.0``: whole counts, and a counter's value
    (it starts at 0.0 and only has amounts of at least zero added: ``0.0 + -0.0`` is ``0.0``)."""

    __slots__ = ()

    def __missing__(self, value: float) -> str:
        text = number_text(value) + "\n"
        if len(self) < 65_536:
            self[value] = text
        return text


#: ``COUNT_LINE[n]`` is ``number_text(n) + "\n"`` for an int ``n`` (the end of a bucket line),
#: kept across renderings: whole counts recur.
COUNT_LINE = _Lines()


class Numbers:
    """Number text with a memory, for one rendering: ``text(v)`` is ``number_text(v)``;
    ``line(v)`` is that and a newline, for values that are never ``-0.0`` (counters). Both are
    looked up rather than formatted again, since most samples are small counts that recur
    across series, and ``line`` is a C-level lookup, so that a family can map it over its
    values without a Python call per sample."""

    __slots__ = ("line", "text")

    def __init__(self) -> None:
        lookup = _Numbers().__getitem__

        def text(value: float) -> str:
            if value == 0:
                return "0.0" if math.copysign(1.0, value) > 0 else "-0.0"
            return lookup(value)

        self.text: Callable[[float], str] = text
        self.line: Callable[[float], str] = _Lines({0.0: "0.0\n"}).__getitem__


def escape_value(value: str) -> str:
    """A label value between double quotes: backslash, newline and double quote escaped."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _pairs(pairs: Iterable[tuple[str, str]]) -> list[str]:
    return [f'{name}="{escape_value(value)}"' for name, value in sorted(pairs)]


def label_text(pairs: Iterable[tuple[str, str]]) -> str:
    """``{a="1",b="2"}`` of (name, value) pairs, sorted by name; ``""`` for none."""
    items = _pairs(pairs)
    return "{" + ",".join(items) + "}" if items else ""


def split_label_text(pairs: Iterable[tuple[str, str]], extra: str) -> tuple[str, str]:
    """The label text of ``pairs`` plus label ``extra``, cut around ``extra``'s value:
    ``('{a="1",le="', '",z="2"}')``. A bucket's or quantile's line is then before + value +
    after."""
    items = list(pairs)
    low = _pairs(p for p in items if p[0] < extra)
    high = _pairs(p for p in items if p[0] > extra)
    before = "{" + "".join(f"{pair}," for pair in low) + f'{extra}="'
    return before, '"' + "".join(f",{pair}" for pair in high) + "}"


def headers(spec: Spec) -> tuple[str, str]:
    """The ``# HELP``/``# TYPE`` lines of a family: (text format, OpenMetrics)."""
    text_name = spec.name + "_total" if spec.kind == "counter" else spec.name
    text_help = spec.help.replace("\\", r"\\").replace("\n", r"\n")
    return (
        f"# HELP {text_name} {text_help}\n# TYPE {text_name} {spec.kind}\n",
        f"# HELP {spec.name} {escape_value(spec.help)}\n# TYPE {spec.name} {spec.kind}\n",
    )


def check_spec(spec: Spec) -> None:
    """Raise ValueError unless the writer can write ``spec`` as it is (names that need no
    quoting, no reserved labels, sorted positive histogram bounds)."""
    if not _METRIC_NAME.fullmatch(spec.name):
        raise ValueError(f"metric name {spec.name!r} is not a valid Prometheus metric name")
    reserved = {"histogram": "le", "summary": "quantile"}.get(spec.kind)
    for label in spec.labels:
        if not _NAME.fullmatch(label) or label.startswith("__") or label == reserved:
            raise ValueError(f"{spec.name}: label name {label!r} cannot be used")
    if len(set(spec.labels)) != len(spec.labels):
        raise ValueError(f"{spec.name}: label names repeat: {spec.labels}")
    if spec.kind == "histogram":
        bounds = list(spec.buckets)
        if not bounds or bounds != sorted(set(bounds)) or bounds[0] <= 0 or math.inf in bounds:
            raise ValueError(
                f"{spec.name}: buckets must be increasing, finite and above 0, got {spec.buckets}"
            )
    elif spec.buckets:
        raise ValueError(f"{spec.name}: only a histogram has buckets")
