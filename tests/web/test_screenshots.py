"""The README's picture of the model page, taken in a real browser from the page tests' world
served on a real socket.

``LLM_MONITOR_UPDATE_SCREENSHOTS=1 pytest tests/web/test_screenshots.py`` rewrites
docs/images/model-page.png; without it the picture goes to a temporary directory, so the test
still proves the page renders to a full picture, and the committed one is checked to exist.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from tests.web.browser import Viewport
from tests.web.serve import serving
from tests.web.world import View

if TYPE_CHECKING:
    from tests.web.conftest import NewPage

ROOT = Path(__file__).resolve().parents[2]
IMAGE = ROOT / "docs" / "images" / "model-page.png"
UPDATE_ENV = "LLM_MONITOR_UPDATE_SCREENSHOTS"
#: A laptop's width; tall enough for the card, the facts, the endpoints and the first charts.
SHOT = Viewport("readme", 1280, 1500)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE, "not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_the_model_page_picture(world: View, new_page: NewPage, tmp_path: Path) -> None:
    target = IMAGE if os.environ.get(UPDATE_ENV) == "1" else tmp_path / IMAGE.name
    with serving(world) as base:
        page = new_page(SHOT, color_scheme="light")
        page.goto(f"{base}/models/gpt-4.1-nano?range=24h", wait_until="networkidle")
        # What the picture is meant to show is on the page, in the part the picture takes.
        card = page.get_by_text("Live performance").first
        assert card.is_visible()
        assert card.bounding_box() is not None
        assert page.locator("svg").count() >= 4, "the charts are missing"
        page.evaluate("document.fonts.ready.then(() => true)")
        target.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(target), animations="disabled", caret="hide", scale="css")
    data = target.read_bytes()
    assert _png_size(data) == (SHOT.width, SHOT.height)
    assert len(data) > 20_000, "the picture is nearly blank"


def test_the_readme_shows_the_committed_picture() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "docs/images/model-page.png" in readme
    data = IMAGE.read_bytes()
    assert _png_size(data)[0] == SHOT.width
    assert len(data) < 400_000, "keep the committed picture small"
