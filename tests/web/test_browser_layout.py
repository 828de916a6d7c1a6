"""Every page fits a phone's width: nothing makes the whole page scroll sideways (a wide table
scrolls in its own box), in a real browser."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.web.browser import LAPTOP, PHONE, Viewport
from tests.web.serve import serving
from tests.web.world import LAST_WINDOW, View

if TYPE_CHECKING:
    from tests.web.conftest import NewPage

PAGES = (
    "/",
    "/models/gpt-4.1-nano",
    "/models/gpt-4o-mini?range=7d",
    "/models/fresh-model",
    "/models/gpt-4.1-nano/card",
    "/endpoints/mini-azure",
    "/endpoints/gateway",
    "/endpoints/fresh",
    "/reports",
    f"/reports/{LAST_WINDOW:%Y%m%dT%H%MZ}",
)


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=lambda v: v.name)
def test_no_page_scrolls_sideways(world: View, new_page: NewPage, viewport: Viewport) -> None:
    wide: list[str] = []
    with serving(world) as base:
        page = new_page(viewport)
        for path in PAGES:
            response = page.goto(base + path, wait_until="load")
            assert response is not None and response.status == 200, path
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > viewport.width:
                wide.append(f"{path}: {width} px")
    assert not wide, f"wider than the {viewport.width} px screen: {wide}"
