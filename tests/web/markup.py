"""A strict little HTML reader for the page tests: the page as a tree of elements, found by
tag, ``data-testid`` or any attribute, and the checks every page must pass (it parses with
every element closed, its ids are unique, every id it refers to exists, nothing comes from
another site)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}
#: Attributes whose value is a URL the browser loads or follows.
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "srcset", "poster", "data"}
#: Attributes that name other elements by id.
ID_REFERENCES = {"aria-labelledby", "aria-describedby", "aria-controls", "for", "headers"}


@dataclass
class Element:
    """One element: its tag, attributes and children (elements and text)."""

    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)
    line: int = 0

    def text(self) -> str:
        """Its text, white space collapsed."""
        return re.sub(r"\s+", " ", "".join(self._texts())).strip()

    def _texts(self) -> Iterator[str]:
        for child in self.children:
            if isinstance(child, str):
                yield child
            else:
                yield from child._texts()

    def walk(self) -> Iterator[Element]:
        """This element and every element inside it, in document order."""
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.walk()

    def find_all(
        self, tag: str | None = None, *, testid: str | None = None, **attrs: str | None
    ) -> list[Element]:
        """The elements inside (this one included) with this tag, test id and attributes
        (``data_endpoint="x"`` means ``data-endpoint="x"``; ``src=None``: no ``src``)."""
        wanted: dict[str, str | None] = {k.replace("_", "-"): v for k, v in attrs.items()}
        if testid is not None:
            wanted["data-testid"] = testid
        return [
            e
            for e in self.walk()
            if (tag is None or e.tag == tag) and all(e.attrs.get(k) == v for k, v in wanted.items())
        ]

    def one(
        self, tag: str | None = None, *, testid: str | None = None, **attrs: str | None
    ) -> Element:
        """The only element matching (an AssertionError if there is none or several)."""
        found = self.find_all(tag, testid=testid, **attrs)
        assert len(found) == 1, f"{len(found)} elements match {tag} {testid} {attrs}"
        return found[0]

    def get(self, name: str) -> str:
        """An attribute's value (an AssertionError if it is missing)."""
        assert name in self.attrs, f"<{self.tag}> has no {name}: {self.attrs}"
        return self.attrs[name]


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, line=self.getpos()[0])
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, line=self.getpos()[0])
        self.stack[-1].children.append(element)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if len(self.stack) == 1 or self.stack[-1].tag != tag:
            self.problems.append(f"line {self.getpos()[0]}: </{tag}> closes <{self.stack[-1].tag}>")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Element:
    """The document's tree; an AssertionError when an element is closed out of order or
    left open."""
    reader = _Reader()
    reader.feed(html)
    reader.close()
    open_ones = [e.tag for e in reader.stack[1:]]
    assert not reader.problems and not open_ones, (reader.problems, open_ones)
    return reader.root


def check_page(html: str, *, allowed_urls: tuple[str, ...] = ()) -> Element:
    """Parse a page and check what every page must be: a whole document in English with a
    title, unique ids, every id it refers to present, no URL of another site (except
    ``allowed_urls``), no meta refresh."""
    root = parse(html)
    assert html.lstrip().lower().startswith("<!doctype html>"), html[:80]
    assert root.one("html").get("lang") == "en"
    assert root.one("head").one("title").text()
    ids = [e.attrs["id"] for e in root.walk() if "id" in e.attrs]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"ids used twice: {duplicates}"
    for e in root.walk():
        for name in ID_REFERENCES & e.attrs.keys():
            for ref in e.attrs[name].split():
                assert ref in ids, f"<{e.tag}> {name}={ref!r}: no such id (line {e.line})"
        for name in URL_ATTRIBUTES & e.attrs.keys():
            value = e.attrs[name].strip().lower()
            if value.startswith(("http:", "https:", "//")):
                assert value in allowed_urls, f"<{e.tag} {name}={value!r}> leaves the site"
        if e.tag == "meta":
            assert e.attrs.get("http-equiv", "").lower() != "refresh", "a meta refresh"
    return root
