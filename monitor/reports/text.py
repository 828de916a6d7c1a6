"""How the report's numbers read for people: percentages, milliseconds, prices, spans, the live
card in one line, a model's heading and facts. Shared by the terminal, Markdown, CSV and the web
pages, so the same number reads the same everywhere."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime, timedelta

from monitor.config import ModelSpec
from monitor.core.profile import BestFrom, ModelLive
from monitor.core.providers import PROVIDER_DISPLAY_NAMES
from monitor.core.shape import utc_text
from monitor.core.timeparse import describe_window

#: What a cell of probes says for an endpoint with no probe stored in a window or range.
NO_DATA = "no data"


def percent(ratio: float | None) -> str:
    """``99.9%``, rounded down so that anything short of perfect never shows as 100%."""
    if ratio is None:
        return "—"
    return f"{math.floor(ratio * 1000 + 1e-9) / 10:.1f}%"


def millis(seconds: float | None) -> str:
    """``531 ms``."""
    return "—" if seconds is None else f"{seconds * 1000:,.0f} ms"


def tokens_per_second(value: float | None) -> str:
    """``111 tok/s``."""
    return "—" if value is None else f"{value:,.0f} tok/s"


def usd(value: float) -> str:
    """``$0.000279``: probes cost fractions of a cent."""
    return f"${value:,.6f}"


def price(value: float) -> str:
    """``$0.10``, ``$0.025``: cents always, more digits only when the price has them."""
    cents = f"{value:,.2f}"
    return f"${cents}" if float(cents.replace(",", "")) == value else f"${value:,g}"


def failures_text(failures: Mapping[str, int]) -> str:
    """``timeout 2, server_error 1`` (or ``—``)."""
    return ", ".join(f"{k} {v}" for k, v in failures.items() if v) or "—"


def where(provider: str, region: str | None) -> str:
    """``Azure eastus``, ``OpenAI``: who serves an endpoint, and where."""
    name = PROVIDER_DISPLAY_NAMES.get(provider, provider)
    return f"{name} {region}" if region else name


def every(seconds: int) -> str:
    """``30 minutes``, ``hour``, ``2 hours``, ``15 seconds``."""
    for size, unit in ((86_400, "day"), (3600, "hour"), (60, "minute")):
        if seconds % size == 0:
            count = seconds // size
            return unit if count == 1 else f"{count} {unit}s"
    return "second" if seconds == 1 else f"{seconds} seconds"


def card_line(live: ModelLive, window: int) -> str:
    """The live card in one line, as the model page shows it."""
    uptime, ttft, speed = (
        live.avg_uptime_ratio,
        live.best_ttft_seconds,
        live.best_output_tokens_per_second,
    )
    via = ", ".join(live.available_via)
    # With several locations: how many the uptime is judged across, and where the bests are
    # from (docs/design.md#quorum-uptime); with one, the card reads as it always has.
    several = len(live.locations) > 1
    places = f" ({len(live.locations)} locations)" if several else ""
    ttft_from = measured_from(live.best_ttft_from) if several else ""
    speed_from = measured_from(live.best_output_tokens_per_second_from) if several else ""
    parts = [
        "uptime unknown" if uptime is None else f"{percent(uptime)} avg uptime{places}",
        "TTFT unknown" if ttft is None else f"{millis(ttft)} best TTFT{ttft_from}",
        "throughput unknown"
        if speed is None
        else f"{tokens_per_second(speed)} best throughput{speed_from}",
        f"{live.active_endpoints}/{live.total_endpoints} active endpoints",
        f"available via {via}" if via else "not available",
        f"refreshed every {every(window)}",
    ]
    return " · ".join(parts)


def measured_from(best: BestFrom | None) -> str:
    """`` (from frankfurt)``: where a best number was measured ("" when it has no location)."""
    return f" (from {best.location})" if best is not None and best.location else ""


def pricing_line(spec: ModelSpec) -> str | None:
    """``$0.10 input · $0.40 output · $0.025 cached input per 1M tokens`` (None if unpriced)."""
    p = spec.pricing
    if p is None:
        return None
    parts = [f"{price(p.input_per_million)} input", f"{price(p.output_per_million)} output"]
    if p.cached_input_per_million is not None:
        parts.append(f"{price(p.cached_input_per_million)} cached input")
    return " · ".join(parts) + " per 1M tokens"


def span_text(since: datetime, until: datetime) -> str:
    """``2025-06-01 12:00 – 12:30 UTC`` (the end's date is shown when it differs)."""
    seconds = ":%S" if since.second or until.second else ""
    start = since.strftime(f"%Y-%m-%d %H:%M{seconds}")
    same_day = (until - timedelta(microseconds=1)).date() == since.date()
    end = until.strftime(f"%H:%M{seconds}" if same_day else f"%Y-%m-%d %H:%M{seconds}")
    return f"{start} – {end} UTC"


def ago(moment: datetime | None, now: datetime) -> str:
    """``12s ago``, ``5m ago``, ``3h ago``, else the date (``—`` if never)."""
    if moment is None:
        return "—"
    seconds = (now - moment).total_seconds()
    if seconds < 0:
        return utc_text(moment)[:16] + "Z"
    for limit, size, unit in ((90, 1, "s"), (90 * 60, 60, "m"), (48 * 3600, 3600, "h")):
        if seconds < limit:
            return f"{seconds // size:.0f}{unit} ago"
    return moment.strftime("%Y-%m-%d")


def model_heading(spec: ModelSpec) -> str:
    return spec.id if not spec.name else f"{spec.id} · {spec.name}"


def fact_rows(spec: ModelSpec) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    if spec.creator:
        rows.append(("creator", spec.creator))
    if spec.release_date:
        rows.append(("released", spec.release_date.isoformat()))
    if (prices := pricing_line(spec)) is not None:
        rows.append(("pricing", prices))
    if spec.context_window:
        rows.append(("context window", f"{spec.context_window:,} tokens"))
    if spec.max_output_tokens:
        rows.append(("max output", f"{spec.max_output_tokens:,} tokens"))
    if spec.modality:
        rows.append(("modality", spec.modality))
    if spec.capabilities:
        rows.append(("capabilities", ", ".join(spec.capabilities)))
    if spec.description:
        rows.append(("description", spec.description))
    for key, value in spec.metadata.items():
        shown = value if isinstance(value, str) else json.dumps(value, default=str)
        rows.append((str(key), shown))
    return rows


def span_label(seconds: float) -> str:
    """``24h`` rather than ``1d``: uptime spans read in hours up to four days."""
    if seconds % 3600 == 0 and seconds <= 96 * 3600:
        return f"{int(seconds // 3600)}h"
    return describe_window(int(seconds))
