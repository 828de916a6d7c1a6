"""Shields-style SVG badges of a model's live numbers, to embed in a README or a wiki page:
``GET /badges/models/{id}/uptime.svg``, ``ttft.svg`` and ``throughput.svg`` (README "HTTP API").

A badge is two boxes, the label on grey at the left and the value on a colour at the right,
in the flat style: rounded corners, white text with a faint shadow, no gradient (it would lower
the contrast). The values read as the live card writes them (``monitor.reports.text``), from
the model's live profile the daemon last published; before the first rollup they read
"no data". The colours, all with at least 4.5:1 contrast against the white text:

- uptime (the model's average uptime over ``profile.uptime_window``): green from 99.5 %,
  amber from 99 %, red below;
- TTFT (the lowest endpoint p50) and throughput (the highest endpoint p50 output speed): blue.
  Which of them is good depends on the model (a reasoning model takes seconds to its first
  token) and on the probe's prompt, so no threshold would be right for every model;
- no data, and an unknown model or badge ("not found", with a 404): grey.

Text widths come from a table of DejaVu Sans's advance widths (DejaVu Sans derives from
Bitstream Vera, whose metrics are close to Verdana's, the font shields.io measures with), and
each text is drawn with ``textLength`` set to its measured width, so that whatever font the
viewer has, the text fills its box exactly and never overflows it.

A badge is cacheable until the daemon publishes its next window (at least 60 s), with an ETag
that answers 304 to a matching ``If-None-Match``; it is ``public`` when anyone may read it (no
token configured, or ``server.public_embeds: true``), else ``private``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from monitor.config import Config
from monitor.core.profile import ModelLive
from monitor.core.rollup import window_start
from monitor.reports.text import NO_DATA, millis, percent, tokens_per_second
from monitor.service.aggregator import settle_seconds, window_seconds
from monitor.service.view import MonitorView

BadgeKind = Literal["uptime", "ttft", "throughput"]
KINDS: tuple[BadgeKind, ...] = ("uptime", "ttft", "throughput")

#: The font the widths are measured for, and its size in pixels.
FONT_FAMILY = "Verdana,DejaVu Sans,Geneva,sans-serif"
FONT_SIZE = 11
#: Space between a text and the edges of its box, on each side, in pixels.
PADDING = 5
HEIGHT = 20

LABEL_COLOR = "#555"
GREEN = "#2e7d32"
AMBER = "#9a6700"
RED = "#c62828"
BLUE = "#0b67c2"
GREY = "#636c76"

#: Uptime from which a badge is green, and from which it is amber rather than red.
UPTIME_GREEN = 0.995
UPTIME_AMBER = 0.99

#: The shortest time a public badge may be cached, in seconds.
MIN_MAX_AGE = 60

NOT_FOUND = "not found"

# Advance widths of DejaVu Sans (Book) in font units, 2048 to the em, grouped by width: read
# from the font's hmtx table (fonts-dejavu-core's DejaVuSans.ttf). Kerning is left out: it only
# brings letters closer, and textLength fixes the final width anyway.
_UNITS_PER_EM = 2048
_ADVANCES: dict[int, str] = {
    563: "'",
    569: "ijl",
    604: "IJ",
    651: " ,.·\u00a0",
    690: "/:;\\|",
    721: "f",
    739: "-",
    799: "()[]",
    803: "t",
    821: "!",
    842: "r",
    942: '"',
    1024: "*_`–",
    1067: "s",
    1075: "z",
    1087: "?",
    1126: "c",
    1141: "L",
    1178: "F",
    1186: "k",
    1212: "vxy",
    1235: "P",
    1251: "TY",
    1253: "o",
    1255: "a",
    1260: "e",
    1294: "E",
    1298: "hnu",
    1300: "Sbdgpq",
    1303: "$0123456789{}µ",
    1343: "K",
    1401: "AV",
    1403: "XZ",
    1405: "B",
    1423: "R",
    1430: "C",
    1499: "U",
    1532: "N",
    1540: "H",
    1577: "D",
    1587: "G",
    1597: "&",
    1612: "OQ",
    1675: "w",
    1716: "#+<=>^~",
    1767: "M",
    1946: "%",
    1995: "m",
    2025: "W",
    2048: "@—…",
}
_ADVANCE = {char: units for units, chars in _ADVANCES.items() for char in chars}
#: A character missing from the table counts as a full em, wider than any letter above.
_FALLBACK = _UNITS_PER_EM


def text_width(text: str) -> float:
    """The width of ``text`` in pixels, set in the badge's font at its size."""
    units = sum(_ADVANCE.get(char, _FALLBACK) for char in text)
    return units * FONT_SIZE / _UNITS_PER_EM


@dataclass(frozen=True, slots=True)
class Badge:
    """What one badge says: its visible label and value, their colour, and the sentence that
    names it for screen readers and as its tooltip."""

    label: str
    value: str
    color: str
    title: str


_LABELS: dict[BadgeKind, tuple[str, str]] = {
    # kind: (the visible label, what the card calls the number)
    "uptime": ("uptime", "avg uptime"),
    "ttft": ("TTFT", "best TTFT"),
    "throughput": ("throughput", "best throughput"),
}


def uptime_color(ratio: float) -> str:
    """Green from 99.5 %, amber from 99 %, red below (the ratio itself, before rounding: the
    card rounds down, so a green badge never reads below 99.5%)."""
    if ratio >= UPTIME_GREEN:
        return GREEN
    return AMBER if ratio >= UPTIME_AMBER else RED


def model_badge(kind: BadgeKind, model_id: str, live: ModelLive | None) -> Badge:
    """The badge of one of a model's live numbers; ``live`` is None before the first rollup."""
    label, long_label = _LABELS[kind]
    value: str | None = None
    color = BLUE
    if live is not None:
        if kind == "uptime" and live.avg_uptime_ratio is not None:
            value = percent(live.avg_uptime_ratio)
            color = uptime_color(live.avg_uptime_ratio)
        elif kind == "ttft" and live.best_ttft_seconds is not None:
            value = millis(live.best_ttft_seconds)
        elif kind == "throughput" and live.best_output_tokens_per_second is not None:
            value = tokens_per_second(live.best_output_tokens_per_second)
    if value is None:
        value, color = NO_DATA, GREY
    return Badge(label, value, color, f"{model_id} {long_label}: {value}")


def not_found_badge(label: str, what: str) -> Badge:
    """The badge of a 404: still an image, which says so."""
    return Badge(label, NOT_FOUND, GREY, f"{what}: {NOT_FOUND}")


def render(badge: Badge) -> str:
    """The badge as a standalone SVG document."""
    label_text = _measured(badge.label)
    value_text = _measured(badge.value)
    label_width = math.ceil(label_text) + 2 * PADDING
    value_width = math.ceil(value_text) + 2 * PADDING
    width = label_width + value_width
    title = escape(badge.title)
    # Ids unique to the badge's content, so that two badges inlined in one page keep their own.
    clip = "badge-" + hashlib.sha256(repr(badge).encode()).hexdigest()[:12]
    texts = "".join(
        _text(text, x, length)
        for text, x, length in (
            (badge.label, label_width / 2, label_text),
            (badge.value, label_width + value_width / 2, value_text),
        )
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{HEIGHT}"'
        f' viewBox="0 0 {width} {HEIGHT}" role="img" aria-label={quoteattr(badge.title)}>'
        f"<title>{title}</title>"
        f'<clipPath id="{clip}"><rect width="{width}" height="{HEIGHT}" rx="3"/></clipPath>'
        f'<g clip-path="url(#{clip})">'
        f'<rect width="{label_width}" height="{HEIGHT}" fill="{LABEL_COLOR}"/>'
        f'<rect x="{label_width}" width="{value_width}" height="{HEIGHT}" fill="{badge.color}"/>'
        "</g>"
        f'<g fill="#fff" text-anchor="middle" font-family="{FONT_FAMILY}"'
        f' font-size="{FONT_SIZE}">{texts}</g>'
        "</svg>"
    )


def _measured(text: str) -> float:
    return round(text_width(text), 1)


def _text(text: str, x: float, length: float) -> str:
    body = escape(text)
    common = f'x="{x:g}" textLength="{length:g}" lengthAdjust="spacing"'
    shadow = f'<text {common} y="15" fill="#010101" fill-opacity=".3" aria-hidden="true">'
    return f'{shadow}{body}</text><text {common} y="14">{body}</text>'


def seconds_to_next_publication(config: Config, now: datetime) -> int:
    """Seconds until the daemon publishes its next window's numbers (its window job runs the
    settle time after each window boundary), and never fewer than 60."""
    window = window_seconds(config)
    offset = timedelta(seconds=settle_seconds(config) % window)
    moment = window_start(now, window) + offset
    while moment <= now:
        moment += timedelta(seconds=window)
    return max(MIN_MAX_AGE, math.ceil((moment - now).total_seconds()))


def embeds_are_public(config: Config) -> bool:
    """Whether anyone may read the card and badges: no token is configured, or
    ``server.public_embeds`` opens them."""
    return config.api_token is None or config.schema.server.public_embeds


def cache_control(config: Config, now: datetime) -> str:
    """The Cache-Control of an embed: cacheable until the next window is published; by shared
    caches only when it is public."""
    scope = "public" if embeds_are_public(config) else "private"
    return f"{scope}, max-age={seconds_to_next_publication(config, now)}"


def etag_of(body: bytes) -> str:
    """A strong ETag of a response body."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weakly compared, as RFC 9110 says
    for that header) or is ``*``."""
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def svg_response(
    badge: Badge, *, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A badge as an ``image/svg+xml`` response."""
    return Response(
        render(badge).encode(),
        status_code=status_code,
        media_type="image/svg+xml",
        headers={"X-Content-Type-Options": "nosniff", **(headers or {})},
    )


def badge_routes(view: MonitorView, clock: Callable[[], datetime]) -> list[BaseRoute]:
    """The badge routes over the daemon's view; ``clock`` gives "now" in UTC."""

    async def badge(request: Request) -> Response:
        config = view.config
        model_id = request.path_params["model_id"]
        kind = request.path_params["kind"]
        if kind not in KINDS:
            return svg_response(
                not_found_badge("badge", f"badge {kind!r}"),
                status_code=404,
                headers={"Cache-Control": "no-store"},
            )
        if config.model(model_id) is None:
            return svg_response(
                not_found_badge(_LABELS[kind][0], f"model {model_id!r}"),
                status_code=404,
                headers={"Cache-Control": "no-store"},
            )
        snapshot = view.snapshot()
        live = snapshot.profiles.get(model_id) if snapshot else None
        body = render(model_badge(kind, model_id, live)).encode()
        headers = {
            "Cache-Control": cache_control(config, clock()),
            "ETag": etag_of(body),
            "X-Content-Type-Options": "nosniff",
        }
        if etag_matches(request.headers.get("if-none-match"), headers["ETag"]):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="image/svg+xml", headers=headers)

    return [Route("/badges/models/{model_id:str}/{kind:str}.svg", badge, methods=["GET"])]
