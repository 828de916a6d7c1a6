"""The SVG badges: what they say (the numbers of the profile API, as the card writes them), how
they look (well-formed SVG, named for screen readers, boxes that fit their text, colours by
threshold), and how they are cached (max-age until the next window, ETag and 304)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry

from monitor.api.app import create_app
from monitor.config import Config, parse_config
from monitor.core.profile import ModelLive
from monitor.reports.text import millis, percent, tokens_per_second
from monitor.service.aggregator import Snapshot, roll_window, snapshot
from monitor.store import Store, open_store
from tests.store.factories import make_probe
from tests.test_api import CONFIG, NOW, PREVIOUS, FakeView, W

SVG = "{http://www.w3.org/2000/svg}"
MODEL = "gpt-4.1-nano"
KINDS = ("uptime", "ttft", "throughput")
TOKEN = "badge-test-token-5d1c9a"
#: What the live card calls each badge's number.
CARD_WORDS = {"uptime": "avg uptime", "ttft": "best TTFT", "throughput": "best throughput"}


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


def _config(**server: Any) -> Config:
    text = yaml.safe_dump({**CONFIG, "server": server})
    return parse_config(text, environ={"CANARY_KEY": "sk-test", "API_TOKEN": TOKEN})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path}/m.db")
    opened.upgrade()
    yield opened
    opened.close()


def _measured_view(store: Store, config: Config) -> FakeView:
    """Probes of both endpoints in the last two windows, rolled up and published."""
    minute = timedelta(minutes=1)
    probes = [
        make_probe(endpoint=endpoint, provider=provider, region=region, error=None,
                   started_at=start + i * minute, ttft_seconds=ttft + i / 100,
                   output_tokens_per_second=speed + i)
        for start in (PREVIOUS, W)
        for endpoint, provider, region, ttft, speed in (
            ("openai", "openai", None, 0.5312, 110.6),
            ("azure-eastus", "azure", "eastus", 0.4207, 1234.4),
        )
        for i in range(5)
    ]  # fmt: skip
    store.add_probes(probes)
    for start in (PREVIOUS, W):
        roll_window(config, store, start, NOW)
    return FakeView(config, store, CollectorRegistry(), snapshot(config, store, NOW))


def _live(
    uptime: float | None = None, ttft: float | None = None, speed: float | None = None
) -> Snapshot:
    live = ModelLive(
        model=MODEL, window_start=W, window_end=W + timedelta(minutes=30), refreshed_at=NOW,
        avg_uptime_ratio=uptime, best_ttft_seconds=ttft, best_output_tokens_per_second=speed,
        active_endpoints=1, total_endpoints=2, available_via=("OpenAI",), endpoints=(),
    )  # fmt: skip
    return Snapshot(1800, W, (), {MODEL: live}, NOW)


class Badges:
    """An in-process client of the app over a view whose snapshot a test may replace."""

    def __init__(self, view: FakeView, clock: Clock) -> None:
        self.view = view
        self.clock = clock
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(view, clock=clock)),
            base_url="http://monitor",
        )

    async def get(self, path: str, **headers: str) -> httpx.Response:
        return await self._client.get(path, headers=headers)

    async def badge(self, kind: str, model: str = MODEL, **headers: str) -> httpx.Response:
        return await self.get(f"/badges/models/{model}/{kind}.svg", **headers)

    async def head(self, path: str) -> httpx.Response:
        return await self._client.head(path)

    async def aclose(self) -> None:
        await self._client.aclose()


@pytest.fixture
async def badges(store: Store) -> AsyncIterator[Badges]:
    client = Badges(FakeView(_config(), store, CollectorRegistry(), None), Clock(NOW))
    yield client
    await client.aclose()


@dataclass(frozen=True)
class Drawn:
    """What a badge draws: its size, boxes, texts and name."""

    width: float
    height: float
    label: str
    value: str
    label_box: float
    value_box: float
    value_color: str
    text_lengths: tuple[float, float]
    title: str
    aria_label: str
    role: str


def _drawn(response: httpx.Response) -> Drawn:
    assert response.headers["content-type"] == "image/svg+xml"
    root = ET.fromstring(response.content)
    assert root.tag == f"{SVG}svg"
    rects = [r for r in root.iter(f"{SVG}rect") if r.get("fill")]
    label_rect, value_rect = rects
    texts = [t for t in root.iter(f"{SVG}text") if t.get("aria-hidden") != "true"]
    title = root.find(f"{SVG}title")
    assert title is not None and title.text is not None
    return Drawn(
        width=float(root.attrib["width"]),
        height=float(root.attrib["height"]),
        label=texts[0].text or "",
        value=texts[1].text or "",
        label_box=float(label_rect.attrib["width"]),
        value_box=float(value_rect.attrib["width"]),
        value_color=value_rect.attrib["fill"],
        text_lengths=(float(texts[0].attrib["textLength"]), float(texts[1].attrib["textLength"])),
        title=title.text,
        aria_label=root.attrib.get("aria-label", ""),
        role=root.attrib.get("role", ""),
    )


def _max_age(response: httpx.Response) -> int:
    directives = {
        part.strip().partition("=")[0]: part.strip().partition("=")[2]
        for part in response.headers["cache-control"].split(",")
    }
    return int(directives["max-age"])


# --- what they say ------------------------------------------------------------------------------


async def test_badges_say_the_numbers_of_the_profile_api_as_the_card_writes_them(
    badges: Badges, store: Store
) -> None:
    measured = _measured_view(store, badges.view.config)
    badges.view.current = measured.current
    profile = (await badges.get(f"/api/v1/models/{MODEL}/profile")).json()["live"]
    expected = {
        "uptime": ("uptime", percent(profile["avg_uptime_ratio"])),
        "ttft": ("TTFT", millis(profile["best_ttft_seconds"])),
        "throughput": ("throughput", tokens_per_second(profile["best_output_tokens_per_second"])),
    }
    assert expected["ttft"][1] == "441 ms" and expected["throughput"][1] == "1,236 tok/s"
    for kind, (label, value) in expected.items():
        response = await badges.badge(kind)
        assert response.status_code == 200
        drawn = _drawn(response)
        assert (drawn.label, drawn.value) == (label, value)
        # Named for screen readers, as an image, with the model and the value.
        assert drawn.role == "img"
        assert drawn.title == drawn.aria_label
        assert MODEL in drawn.title and value in drawn.title


async def test_before_the_first_rollup_every_badge_says_no_data(badges: Badges) -> None:
    for kind in KINDS:
        response = await badges.badge(kind)
        assert response.status_code == 200
        drawn = _drawn(response)
        assert drawn.value == "no data"
        assert drawn.title == f"{MODEL} {CARD_WORDS[kind]}: no data"
        assert drawn.value_color == "#636c76"


async def test_a_model_without_probes_says_no_data_once_others_have_numbers(
    badges: Badges,
) -> None:
    badges.view.current = _live(0.999, 0.5, 100)  # "other-model" has no live profile
    drawn = _drawn(await badges.badge("uptime", model="other-model"))
    assert drawn.value == "no data"


@pytest.mark.parametrize(
    "path",
    [
        "/badges/models/no-such-model/uptime.svg",
        "/badges/models/no-such-model/ttft.svg",
        f"/badges/models/{MODEL}/latency.svg",
    ],
)
async def test_an_unknown_model_or_badge_is_a_404_that_is_still_an_image(
    badges: Badges, path: str
) -> None:
    response = await badges.get(path)
    assert response.status_code == 404
    drawn = _drawn(response)
    assert drawn.value == "not found"
    assert "not found" in drawn.title and drawn.role == "img"
    assert response.headers["cache-control"] == "no-store"


# --- how they look ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uptime", "text", "color"),
    [
        (1.0, "100.0%", "#2e7d32"),
        (0.995, "99.5%", "#2e7d32"),
        (0.99499, "99.4%", "#9a6700"),
        (0.99, "99.0%", "#9a6700"),
        (0.98999, "98.9%", "#c62828"),
        (0.5, "50.0%", "#c62828"),
    ],
)
async def test_uptime_is_green_from_99_5_amber_from_99_and_red_below(
    badges: Badges, uptime: float, text: str, color: str
) -> None:
    badges.view.current = _live(uptime=uptime)
    drawn = _drawn(await badges.badge("uptime"))
    assert (drawn.value, drawn.value_color) == (text, color)


async def test_ttft_and_throughput_are_blue_whatever_their_value(badges: Badges) -> None:
    for ttft, speed in ((0.05, 900.0), (9.5, 3.0)):
        badges.view.current = _live(ttft=ttft, speed=speed)
        assert _drawn(await badges.badge("ttft")).value_color == "#0b67c2"
        assert _drawn(await badges.badge("throughput")).value_color == "#0b67c2"


async def test_boxes_grow_with_their_text_and_every_text_fits_its_box(badges: Badges) -> None:
    widths = []
    for speed in (7, 77, 777, 7_777, 77_777, 777_777):
        badges.view.current = _live(speed=speed)
        drawn = _drawn(await badges.badge("throughput"))
        assert drawn.value == tokens_per_second(speed)
        widths.append(drawn.width)
        # The label and the value fit their boxes with padding left on both sides...
        assert drawn.text_lengths[0] + 10 <= drawn.label_box
        assert drawn.text_lengths[1] + 10 <= drawn.value_box
        assert drawn.width == drawn.label_box + drawn.value_box and drawn.height == 20
    # ... and the badge widens with every digit.
    assert widths == sorted(widths) and len(set(widths)) == len(widths)


# --- how they are cached ------------------------------------------------------------------------


async def test_a_public_badge_is_cached_until_the_next_window_is_published(
    badges: Badges,
) -> None:
    # 30-minute windows; the window job runs the settle time (the 5 s probe timeout + 2 s)
    # after each boundary: at 13:00:07, 29 min 7 s after NOW (12:31).
    response = await badges.badge("uptime")
    assert response.headers["cache-control"].startswith("public, ")
    assert _max_age(response) == 29 * 60 + 7
    # Just before the next publication: the floor of 60 s.
    badges.clock.now = W + timedelta(minutes=30, seconds=2)
    assert _max_age(await badges.badge("uptime")) == 60
    # Just after it: the whole window again.
    badges.clock.now = W + timedelta(minutes=30, seconds=8)
    assert _max_age(await badges.badge("uptime")) == 1800 - 1


async def test_a_matching_etag_gets_a_304_and_new_numbers_a_new_etag(badges: Badges) -> None:
    badges.view.current = _live(uptime=0.999)
    first = await badges.badge("uptime")
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    for header in (etag, f"W/{etag}", f'"something-else", {etag}', "*"):
        again = await badges.badge("uptime", **{"If-None-Match": header})
        assert again.status_code == 304, header
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert again.headers["cache-control"] == first.headers["cache-control"]
    assert (await badges.badge("uptime", **{"If-None-Match": '"other"'})).status_code == 200
    # Each badge has its own tag.
    assert (await badges.badge("ttft")).headers["etag"] != etag
    badges.view.current = _live(uptime=0.98)
    changed = await badges.badge("uptime", **{"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert _drawn(changed).value == "98.0%"


async def test_head_answers_like_get_without_a_body(badges: Badges) -> None:
    got = await badges.badge("uptime")
    head = await badges.head(f"/badges/models/{MODEL}/uptime.svg")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == got.headers["etag"]


@pytest.mark.parametrize(
    ("server", "scope"),
    [
        ({"api_token_env": "API_TOKEN"}, "private"),
        ({"api_token_env": "API_TOKEN", "public_embeds": True}, "public"),
        ({}, "public"),
    ],
)
async def test_a_badge_is_private_while_the_token_protects_it(
    store: Store, server: dict[str, Any], scope: str
) -> None:
    client = Badges(FakeView(_config(**server), store, CollectorRegistry(), None), Clock(NOW))
    try:
        response = await client.badge("uptime", Authorization=f"Bearer {TOKEN}")
    finally:
        await client.aclose()
    assert response.status_code == 200
    assert response.headers["cache-control"] == f"{scope}, max-age={29 * 60 + 7}"
    assert "etag" in response.headers
