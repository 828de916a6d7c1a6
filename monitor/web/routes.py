"""The pages' routes, which ``monitor.api.app.create_app`` adds to the daemon's HTTP app.

Each page is built and rendered on a worker thread (``run_in_threadpool``): it reads the store,
and nothing that reads the store or renders runs on an event loop. Errors on a page are pages
too (404 for an unknown model, endpoint, window or page, 400 for a query parameter the page
cannot use, 503 when the store cannot be read, 500 otherwise), each with links back; the JSON
API keeps its JSON errors.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import structlog
from jinja2 import Environment
from markupsafe import escape
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from monitor.core.errors import StoreError
from monitor.service.view import MonitorView
from monitor.web.history import Caches
from monitor.web.pages import (
    RANGES,
    RECENT_WINDOWS,
    BadParameter,
    Frame,
    PageNotFound,
    endpoint_page,
    frame,
    model_card,
    model_page,
    page_number,
    range_seconds,
    status_page,
)
from monitor.web.reportpages import (
    DOWNLOADS,
    report_download,
    report_page,
    reports_page,
    window_name,
)
from monitor.web.templating import StaticFile, load_static, make_environment

log = structlog.get_logger("llm_monitor")

#: Headers of every page: always fetched anew (it changes with every probe), never sniffed.
PAGE_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def page_routes(view: MonitorView, clock: Callable[[], datetime]) -> list[BaseRoute]:
    """The routes of the pages over ``view``; ``clock`` gives "now" in UTC."""
    site = _Site(view, clock)
    return [
        Route("/", site.status, methods=["GET"]),
        Route("/models/{model_id:str}", site.model, methods=["GET"]),
        Route("/models/{model_id:str}/card", site.card, methods=["GET"]),
        Route("/endpoints/{endpoint_id:str}", site.endpoint, methods=["GET"]),
        Route("/reports", site.reports, methods=["GET"]),
        Route("/reports/{name:str}", site.report, methods=["GET"]),
        Route("/static/{name:str}", site.static, methods=["GET"]),
    ]


def model_url(model_id: str) -> str:
    """The model page's path."""
    return "/models/" + quote(model_id, safe="")


def endpoint_url(endpoint_id: str) -> str:
    """The endpoint page's path."""
    return "/endpoints/" + quote(endpoint_id, safe="")


Build = Callable[[Frame], tuple[str, dict[str, Any]]]


@functools.cache
def _templates() -> tuple[Environment, dict[str, StaticFile]]:
    """The templates, compiled once per process (not on the first request), and the static
    files; every app shares them (they are read-only)."""
    files = load_static()
    env = make_environment(files)
    env.globals.update(
        model_url=model_url,
        endpoint_url=endpoint_url,
        window_name=window_name,
        range_names=tuple(RANGES),
        recent_windows=RECENT_WINDOWS,
    )
    for name in env.list_templates(extensions=["html"]):
        env.get_template(name)
    return env, files


class _Site:
    """The page handlers, sharing the view, the clock, the templates and the cache."""

    def __init__(self, view: MonitorView, clock: Callable[[], datetime]) -> None:
        self.view = view
        self.clock = clock
        self.env, self.files = _templates()
        self.cache = Caches()

    # --- pages ---------------------------------------------------------------------------------

    async def status(self, request: Request) -> Response:
        """``/``: every model's card and every endpoint's state, failing first, paged."""

        def build(f: Frame) -> tuple[str, dict[str, Any]]:
            page = page_number(request.query_params.get("page"))
            return "status.html", {"p": status_page(self.view, f, self.cache, page)}

        return await self._page(request, build)

    async def model(self, request: Request) -> Response:
        """``/models/{id}``: the model page, its charts over ``?range=``."""

        def build(f: Frame) -> tuple[str, dict[str, Any]]:
            name, seconds = range_seconds(request.query_params.get("range"))
            page = page_number(request.query_params.get("page"))
            model_id = request.path_params["model_id"]
            built = model_page(self.view, f, self.cache, model_id, name, seconds, page)
            return "model.html", {"p": built}

        return await self._page(request, build)

    async def card(self, request: Request) -> Response:
        """``/models/{id}/card``: the live card alone, a small document for an iframe."""

        def build(f: Frame) -> tuple[str, dict[str, Any]]:
            spec, live = model_card(self.view, f, request.path_params["model_id"])
            return "card.html", {"spec": spec, "live": live, "f": f}

        return await self._page(request, build)

    async def endpoint(self, request: Request) -> Response:
        """``/endpoints/{id}``: an endpoint's state, bar, charts, probes and windows."""

        def build(f: Frame) -> tuple[str, dict[str, Any]]:
            name, seconds = range_seconds(request.query_params.get("range"))
            endpoint_id = request.path_params["endpoint_id"]
            built = endpoint_page(self.view, f, self.cache, endpoint_id, name, seconds)
            return "endpoint.html", {"p": built}

        return await self._page(request, build)

    async def reports(self, request: Request) -> Response:
        """``/reports``: the finished windows, newest first, paged."""

        def build(f: Frame) -> tuple[str, dict[str, Any]]:
            before = request.query_params.get("before")
            return "reports.html", {"p": reports_page(self.view, f, before)}

        return await self._page(request, build)

    async def report(self, request: Request) -> Response:
        """``/reports/{window}``, or its ``.md``, ``.csv`` or ``.json`` download."""
        name: str = request.path_params["name"]
        stem, dot, suffix = name.rpartition(".")
        if dot and suffix in DOWNLOADS:
            return await run_in_threadpool(self._download, stem, suffix)
        if dot:

            def unknown(f: Frame) -> tuple[str, dict[str, Any]]:
                raise PageNotFound(
                    "Unknown download",
                    f"There is no {suffix!r} download: a report downloads as "
                    + ", ".join(f".{s}" for s in DOWNLOADS)
                    + ".",
                )

            return await self._page(request, unknown)

        def build(f: Frame) -> tuple[str, dict[str, Any]]:
            return "report.html", {"p": report_page(self.view, f, name, self.cache)}

        return await self._page(request, build)

    async def static(self, request: Request) -> Response:
        """The style sheet, the script and the icon, cached for good when their URL names
        their content's hash."""
        found = self.files.get(request.path_params["name"])
        if found is None:
            raise HTTPException(404)
        etag = f'"{found.digest}"'
        cache = (
            "public, max-age=31536000, immutable"
            if request.query_params.get("v") == found.digest
            else "no-cache"
        )
        headers = {"ETag": etag, "Cache-Control": cache, "X-Content-Type-Options": "nosniff"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(found.body, headers={**headers, "Content-Type": found.content_type})

    # --- plumbing --------------------------------------------------------------------------------

    async def _page(self, request: Request, build: Build) -> Response:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return await run_in_threadpool(self._respond, here, build)

    def _respond(self, here: str, build: Build) -> Response:
        """Build and render a page (on a worker thread), or its error page."""
        try:
            f = frame(self.view, self.clock())
            template, context = build(f)
            body = self.env.get_template(template).render(context, f=f, here=here)
            return HTMLResponse(body, headers=PAGE_HEADERS)
        except PageNotFound as exc:
            return self._error(404, exc.title, exc.message)
        except BadParameter as exc:
            return self._error(400, "Bad request", str(exc))
        except StoreError as exc:
            # StoreError messages name the database with its password masked, never a key.
            return self._error(503, "The store cannot be read", str(exc))
        except Exception:
            log.exception("page failed", path=here)
            return self._error(
                500,
                "Something went wrong",
                "The page could not be drawn; the daemon's log says why.",
            )

    def _download(self, name: str, suffix: str) -> Response:
        try:
            f = frame(self.view, self.clock())
            text, content_type, filename = report_download(self.view, f, name, suffix, self.cache)
        except PageNotFound as exc:
            return self._error(404, exc.title, exc.message)
        except StoreError as exc:
            return self._error(503, "The store cannot be read", str(exc))
        except Exception:
            log.exception("report download failed", window=name, format=suffix)
            return self._error(
                500,
                "Something went wrong",
                "The report could not be made; the daemon's log says why.",
            )
        return Response(
            text,
            media_type=content_type,
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-cache",
                "X-Content-Type-Options": "nosniff",
            },
        )

    def _error(self, status: int, title: str, message: str) -> Response:
        try:
            body = self.env.get_template("error.html").render(
                status=status, title=title, message=message
            )
        except Exception:  # the error page itself failed: say it plainly
            log.exception("error page failed", status=status)
            body = f"<!doctype html><title>{status}</title><p>{status}: {escape(title)}</p>"
        return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)
