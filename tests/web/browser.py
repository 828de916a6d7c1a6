"""What the browser tests do to a page: launch chromium, watch a page for console errors and
failed requests, run axe-core, tab through it with the keyboard, save screenshots.

Chromium is Debian's package (``/usr/bin/chromium``): Playwright's own browser download cannot
reach its server here. axe-core is the ``axe.min.js`` that the ``axe-playwright-python`` wheel
bundles (installed with the ``test`` extra), so nothing is fetched while the tests run. Without
chromium, Playwright or axe-core the tests skip, unless ``LLM_MONITOR_REQUIRE_BROWSER=1`` (CI),
which makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import weakref
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tests.reliability.harness import unavailable

if TYPE_CHECKING:
    from playwright.sync_api import (
        Browser,
        ConsoleMessage,
        Page,
        Playwright,
        Request,
        Response,
        ViewportSize,
    )

REQUIRE_ENV = "LLM_MONITOR_REQUIRE_BROWSER"
#: Debian's chromium (``apt-get install chromium``); ``$LLM_MONITOR_CHROMIUM`` names another.
CHROMIUM = os.environ.get("LLM_MONITOR_CHROMIUM", "/usr/bin/chromium")
#: Headless, as root in a container, and quiet: no request leaves the machine on its own.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
#: The impacts that fail a page (axe-core rates minor, moderate, serious, critical).
SERIOUS = ("serious", "critical")


@dataclass(frozen=True)
class Viewport:
    """A screen size in CSS pixels (screenshots are taken at one device pixel per CSS pixel)."""

    name: str
    width: int
    height: int

    def size(self) -> ViewportSize:
        """As Playwright takes it (``viewport=``, ``set_viewport_size``)."""
        return {"width": self.width, "height": self.height}


LAPTOP = Viewport("laptop", 1366, 768)
PHONE = Viewport("phone", 390, 844)


def launch(playwright: Playwright) -> Browser:
    """Headless chromium from ``CHROMIUM``; skips (or fails, under ``REQUIRE_ENV``) without it."""
    if shutil.which(CHROMIUM) is None:
        unavailable(f"no chromium at {CHROMIUM} (apt-get install chromium)", REQUIRE_ENV)
    return playwright.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))


# --- console errors and failed requests ----------------------------------------------------------


class PageProblems:
    """What went wrong on a page since it was opened (or since ``clear``): console errors,
    uncaught exceptions, requests that failed on the network and responses of status 400 or more.

    Not recorded, as they are not the page's doing: a request aborted by a navigation
    (``net::ERR_ABORTED``, e.g. a refresh in flight when the test moves to another page), and
    ``/favicon.ico``, which chromium asks for by itself on every document that names no icon
    (JSON documents included).
    """

    def __init__(self, page: Page) -> None:
        self.console_errors: list[str] = []
        self.uncaught: list[str] = []
        self.failed_requests: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", self._page_error)
        page.on("requestfailed", self._request_failed)
        page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        where = message.location.get("url") or ""
        if message.type == "error" and not _browsers_own(where):
            self.console_errors.append(f"{message.text} ({where})" if where else message.text)

    def _page_error(self, error: Exception) -> None:
        self.uncaught.append(str(error))

    def _request_failed(self, request: Request) -> None:
        failure = request.failure or "failed"
        if "ERR_ABORTED" not in failure and not _browsers_own(request.url):
            self.failed_requests.append(f"{request.method} {request.url}: {failure}")

    def _response(self, response: Response) -> None:
        if response.status >= 400 and not _browsers_own(response.url):
            request = response.request
            self.failed_requests.append(f"{request.method} {response.url}: {response.status}")

    def all(self) -> list[str]:
        """Every problem recorded, one line each."""
        return [
            *(f"console error: {m}" for m in self.console_errors),
            *(f"uncaught exception: {m}" for m in self.uncaught),
            *(f"failed request: {m}" for m in self.failed_requests),
        ]

    def clear(self) -> None:
        """Forget what was recorded (after a step that fails on purpose, e.g. a 404 page)."""
        self.console_errors.clear()
        self.uncaught.clear()
        self.failed_requests.clear()

    def check(self) -> None:
        """Fail with the list of problems, if there is any."""
        problems = self.all()
        if problems:
            raise AssertionError("the page had problems:\n  " + "\n  ".join(problems))


def _browsers_own(url: str) -> bool:
    return urlsplit(url).path == "/favicon.ico"


_WATCHED: weakref.WeakKeyDictionary[Page, PageProblems] = weakref.WeakKeyDictionary()


def watch(page: Page) -> PageProblems:
    """Start recording the problems of ``page`` (once; later calls return the same recorder)."""
    if page not in _WATCHED:
        _WATCHED[page] = PageProblems(page)
    return _WATCHED[page]


def problems_of(page: Page) -> PageProblems:
    """The recorder ``watch`` attached to ``page``."""
    return _WATCHED[page]


# --- accessibility: axe-core ---------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    """One axe-core rule that a page breaks, with the elements (CSS selectors) that break it."""

    rule: str
    impact: str
    help: str
    targets: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.rule} ({self.impact}): {self.help} at {', '.join(self.targets)}"


def axe_source() -> str:
    """axe-core's ``axe.min.js``, from the installed ``axe-playwright-python`` wheel."""
    try:
        script = resources.files("axe_playwright_python").joinpath("axe.min.js")
        return script.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        unavailable(
            "axe-core's axe.min.js is not installed (pip install -e '.[test]' brings it with"
            " axe-playwright-python)",
            REQUIRE_ENV,
        )


def axe_violations(
    page: Page, impacts: tuple[str, ...] = SERIOUS, options: dict[str, Any] | None = None
) -> list[Violation]:
    """Run axe-core on the page as it is now; the violations of these impacts (by default
    serious and critical), ordered by rule. ``options`` go to ``axe.run`` (e.g. ``{"rules":
    {"color-contrast": {"enabled": False}}}``)."""
    page.evaluate(axe_source())  # defines window.axe; evaluate is not subject to the page's CSP
    result = page.evaluate(
        "options => axe.run(document, options)",
        {**(options or {}), "resultTypes": ["violations"]},
    )
    found = [
        Violation(
            rule=v["id"],
            impact=v["impact"] or "",
            help=v["help"],
            targets=tuple(", ".join(n["target"]) for n in v["nodes"]),
        )
        for v in result["violations"]
        if v["impact"] in impacts
    ]
    return sorted(found, key=lambda v: v.rule)


def axe_version(page: Page) -> str:
    """The version of axe-core that ``axe_violations`` runs."""
    page.evaluate(axe_source())
    version: str = page.evaluate("axe.version")
    return version


# --- keyboard ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Control:
    """A link or control of a page: its position in document order (which tells two apart), its
    tag, its accessible text (aria-label, text or title) and its ``href`` if it is a link."""

    index: int
    tag: str
    name: str
    href: str | None

    def __str__(self) -> str:
        link = f" -> {self.href}" if self.href else ""
        return f"<{self.tag}> {self.name!r}{link} (element #{self.index})"


# Runs in the page: describe an element as a Control.
_DESCRIBE = """
(el) => {
  const index = Array.prototype.indexOf.call(document.getElementsByTagName('*'), el);
  const text = (el.getAttribute('aria-label') || el.innerText || el.value || el.title || '')
    .replace(/\\s+/g, ' ').trim().slice(0, 80);
  return {index, tag: el.tagName.toLowerCase(), name: text, href: el.getAttribute('href')};
}
"""

# Runs in the page: every element a reader should reach with Tab. Negative tabindex, disabled,
# hidden and inert elements are left out, as browsers leave them out of the Tab order.
_TABBABLE = (
    """
() => {
  const describe = """
    + _DESCRIBE
    + """;
  const selector = 'a[href], area[href], button, input:not([type=hidden]), select, textarea,'
    + ' summary, iframe, [tabindex], [contenteditable=""], [contenteditable=true]';
  return Array.from(document.querySelectorAll(selector))
    .filter(el => !(el.tabIndex < 0))
    .filter(el => !el.disabled && !el.closest('[inert]'))
    .filter(el => el.checkVisibility({visibilityProperty: true}))
    .filter(el => el.tagName !== 'SUMMARY' || el.parentElement.tagName === 'DETAILS')
    .map(describe);
}
"""
)

_FOCUSED = (
    """
() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  return ("""
    + _DESCRIBE
    + """)(el);
}
"""
)


def _control(raw: dict[str, Any]) -> Control:
    return Control(index=raw["index"], tag=raw["tag"], name=raw["name"], href=raw["href"])


def tabbable_controls(page: Page) -> list[Control]:
    """Every ``a[href]``, ``button``, form field, ``summary`` and ``[tabindex]`` (not negative)
    that is shown and enabled, in document order: what Tab should reach."""
    return [_control(raw) for raw in page.evaluate(_TABBABLE)]


# Runs in the page: put the browser's "sequential focus navigation starting point" at the top
# of the document, so that the next Tab goes to the first control. Blurring the focused element
# is not enough: chromium keeps the starting point where that element is (after a pass that
# wrapped around onto the first control, the next would begin at the second). A focusable
# marker outside the Tab order (tabindex -1) is put first in <body> and focused; ``_UNMARK``
# takes it away after the first press (``tab_from_the_top``).
_FROM_THE_TOP = """
() => {
  if (document.activeElement) document.activeElement.blur();
  if (window.getSelection()) window.getSelection().removeAllRanges();
  const marker = document.createElement('span');
  marker.tabIndex = -1;
  marker.setAttribute('data-tab-start', '');
  document.body.prepend(marker);
  marker.focus({preventScroll: true});
}
"""
_UNMARK = "() => document.querySelectorAll('[data-tab-start]').forEach(el => el.remove())"


def tab_from_the_top(page: Page) -> None:
    """Press Tab once as if nothing had had focus yet: focus goes to the page's first control,
    wherever it was before."""
    page.evaluate(_FROM_THE_TOP)
    page.keyboard.press("Tab")
    page.evaluate(_UNMARK)


def tab_through(page: Page, limit: int = 2000) -> list[Control]:
    """Press Tab from the top of the page until focus leaves the page or comes back to where
    it started; the links and controls it reached, in that order. Focus inside an iframe is
    recorded once, as the iframe. Fails when ``limit`` presses did not get through the page."""
    reached: list[Control] = []
    for press in range(limit):
        if press == 0:
            tab_from_the_top(page)
        else:
            page.keyboard.press("Tab")
        raw = page.evaluate(_FOCUSED)
        if raw is None:
            return reached  # past the last control: focus went to the browser
        control = _control(raw)
        if reached and control.index == reached[0].index:
            return reached  # wrapped around
        if not reached or control.index != reached[-1].index:
            reached.append(control)
    raise AssertionError(f"{limit} presses of Tab did not get through the page ({len(reached)})")


def unreachable_controls(page: Page) -> list[Control]:
    """The tabbable controls that pressing Tab through the page does not reach."""
    reached = {c.index for c in tab_through(page)}
    return [c for c in tabbable_controls(page) if c.index not in reached]


# --- screenshots ---------------------------------------------------------------------------------


def save_screenshot(page: Page, directory: Path, name: str, viewport: Viewport = LAPTOP) -> Path:
    """Resize the page to ``viewport`` and save what it shows (the viewport, not the whole
    page) as ``directory/{name}-{viewport.name}.png``; the file's path."""
    directory.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(viewport.size())
    page.evaluate("document.fonts.ready.then(() => true)")
    path = directory / f"{name}-{viewport.name}.png"
    page.screenshot(path=str(path), animations="disabled", caret="hide", scale="css")
    return path
