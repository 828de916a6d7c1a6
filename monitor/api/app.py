"""The HTTP API of a running daemon (DESIGN section 4): metrics, health, endpoints, model
profiles, rollups, the latest report and the OpenAPI document that describes them all.

``create_app(view)`` builds a Starlette app over a read-only ``MonitorView``. The store is
synchronous, so every handler that reads it does so on a worker thread; so does rendering the
metrics exposition, which takes tens of milliseconds for a thousand endpoints. Every error is
JSON, ``{"error": {"code", "message"[, "parameter"]}}``: 404 (unknown route, model or endpoint),
405 (wrong method), 422 (a query parameter that cannot be used), 503 (the store is unavailable),
500. Secrets never leave: responses are built field by field from ids, facts and results,
never by serialising a configured endpoint (which holds its key).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from monitor import __version__
from monitor.api.openapi import openapi_document as build_openapi
from monitor.config import Config, Endpoint
from monitor.core.errors import StoreError
from monitor.core.outcomes import Outcome, counts_as_down
from monitor.core.profile import ModelLive, endpoint_status, model_live
from monitor.core.result import ProbeResult, format_utc
from monitor.core.rollup import EndpointRollup
from monitor.core.timeparse import (
    RangeError,
    describe_window,
    iso_utc,
    parse_range,
    parse_window,
)
from monitor.metrics import exposition
from monitor.reports import build_report, report_json, rollup_json, unknown_model_message
from monitor.reports import window_is_known as _window_is_known
from monitor.service.aggregator import profile_json, window_seconds
from monitor.service.view import MonitorView
from monitor.store import Store

#: Most rollup rows one ``/api/v1/rollups`` response holds; the rest is left for a next page.
MAX_ROLLUP_ROWS = 10_000
#: A last probe older than this many probe intervals no longer speaks for an endpoint's state.
FRESH_PROBE_INTERVALS = 3

Handler = Callable[[Request], Awaitable[Response]]


class ApiError(Exception):
    """An error response: HTTP status, machine-readable code, message, offending parameter."""

    def __init__(
        self, status: int, code: str, message: str, *, parameter: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.parameter = parameter


def error_body(code: str, message: str, parameter: str | None = None) -> dict[str, Any]:
    """The JSON body of every error response."""
    error: dict[str, Any] = {"code": code, "message": message}
    if parameter is not None:
        error["parameter"] = parameter
    return {"error": error}


def create_app(view: MonitorView, *, clock: Callable[[], datetime] | None = None) -> Starlette:
    """The HTTP app over ``view``; ``clock`` (default: the wall clock) gives "now" in UTC."""
    api = _Api(view, clock or (lambda: datetime.now(UTC)))
    routes = [
        Route("/metrics", api.metrics, methods=["GET"]),
        Route("/healthz", api.healthz, methods=["GET"]),
        Route("/readyz", api.readyz, methods=["GET"]),
        Route("/api/v1/endpoints", api.endpoints, methods=["GET"]),
        Route("/api/v1/models", api.models, methods=["GET"]),
        Route("/api/v1/models/{model_id:str}/profile", api.profile, methods=["GET"]),
        Route("/api/v1/rollups", api.rollups, methods=["GET"]),
        Route("/api/v1/reports/latest", api.latest_report, methods=["GET"]),
        Route("/openapi.json", api.openapi, methods=["GET"]),
    ]
    token = view.config.api_token
    return Starlette(
        routes=routes,
        middleware=[Middleware(_BearerToken, token=token.get_secret_value())] if token else [],
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            StoreError: _store_error,
            Exception: _internal_error,
        },
    )


class _BearerToken:
    """Requires ``Authorization: Bearer <token>`` on the JSON API (``/api/...``); metrics,
    health and the OpenAPI document stay open to scrapers and probes."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith("/api/"):
            headers = dict(scope.get("headers") or [])
            given = headers.get(b"authorization", b"")
            scheme, _, credential = given.partition(b" ")
            ok = scheme.lower() == b"bearer" and hmac.compare_digest(
                credential.strip(), self._token
            )
            if not ok:
                response = JSONResponse(
                    error_body("unauthorized", "this API needs Authorization: Bearer <token>"),
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await self._app(scope, receive, send)


# --- error handlers ----------------------------------------------------------------------------


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(error_body(exc.code, exc.message, exc.parameter), status_code=exc.status)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"no route {request.url.path}; see /openapi.json"
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "GET")
        message = f"method {request.method} not allowed on {request.url.path}; allowed: {allowed}"
    else:
        message = str(exc.detail)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(code, message), status_code=exc.status_code, headers=dict(exc.headers or {})
    )


async def _store_error(request: Request, exc: Exception) -> Response:
    # StoreError messages name the database with its password masked, never a key.
    return JSONResponse(error_body("store_unavailable", str(exc)), status_code=503)


async def _internal_error(request: Request, exc: Exception) -> Response:
    # The exception's text is not shown: it could hold anything.
    return JSONResponse(error_body("internal_error", "internal server error"), status_code=500)


# --- handlers ----------------------------------------------------------------------------------


class _Api:
    """The route handlers, sharing the view and the clock."""

    def __init__(self, view: MonitorView, clock: Callable[[], datetime]) -> None:
        self.view = view
        self.clock = clock
        self._openapi: dict[str, Any] | None = None

    async def metrics(self, request: Request) -> Response:
        """The Prometheus exposition, OpenMetrics when the scraper asks for it."""
        body, content_type = await run_in_threadpool(
            exposition, self.view.registry, request.headers.get("accept", "")
        )
        return Response(body, media_type=None, headers={"Content-Type": content_type})

    async def healthz(self, request: Request) -> Response:
        """200 while the process can answer at all."""
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        """200 when ready, 503 listing the problems."""
        problems = list(self.view.problems())
        if problems:
            return JSONResponse({"status": "not_ready", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ok", "problems": []})

    async def endpoints(self, request: Request) -> Response:
        """Each configured endpoint's settings, last probe, last window and state."""
        config = self.view.config
        snapshot = self.view.snapshot()
        last = self.view.last_probes()
        rollups = {r.endpoint: r for r in snapshot.rollups} if snapshot else {}
        now = self.clock()
        rate_limited_is_down = config.schema.rollup.rate_limited_is_down
        return JSONResponse(
            {
                "endpoints": [
                    endpoint_json(
                        e,
                        last.get(e.id),
                        rollups.get(e.id),
                        now=now,
                        rate_limited_is_down=rate_limited_is_down,
                    )
                    for e in config.endpoints
                ]
            }
        )

    async def models(self, request: Request) -> Response:
        """Each model's facts, endpoints and the link to its profile."""
        config = self.view.config
        return JSONResponse(
            {
                "models": [
                    {
                        **model.model_dump(mode="json"),
                        "endpoints": [e.id for e in config.endpoints if e.model.id == model.id],
                        "profile_url": f"/api/v1/models/{quote(model.id, safe='')}/profile",
                    }
                    for model in config.models
                ]
            }
        )

    async def profile(self, request: Request) -> Response:
        """The model's profile document; its live numbers are null before the first rollup."""
        config = self.view.config
        model_id = request.path_params["model_id"]
        model = config.model(model_id)
        if model is None:
            raise ApiError(404, "not_found", unknown_model_message(config, model_id))
        snapshot = self.view.snapshot()
        live = snapshot.profiles.get(model_id) if snapshot else None
        if live is None:
            document = profile_json(config, self._empty_live(config, model_id))
            document["live"]["refreshed_at"] = None
        else:
            document = profile_json(config, live)
        return JSONResponse(document)

    def _empty_live(self, config: Config, model_id: str) -> ModelLive:
        model = config.model(model_id)
        assert model is not None
        now = self.clock()
        last = {k: v.started_at for k, v in self.view.last_probes().items()}
        return model_live(
            model,
            config.endpoints,
            (),
            last_window_start=None,
            uptime_since=now,
            refreshed_at=now,
            last_probe_at=last,
            rate_limited_is_down=config.schema.rollup.rate_limited_is_down,
        )

    async def rollups(self, request: Request) -> Response:
        """Stored rollups of a time range, oldest first, at most ``MAX_ROLLUP_ROWS``."""
        config = self.view.config
        query = request.query_params
        model = _optional(query, "model")
        endpoint = _optional(query, "endpoint")
        if model is not None and config.model(model) is None:
            raise ApiError(
                404, "not_found", unknown_model_message(config, model), parameter="model"
            )
        known = {e.id: e for e in config.endpoints}
        if endpoint is not None and endpoint not in known:
            raise ApiError(
                404,
                "not_found",
                f"unknown endpoint {endpoint!r}; known: {', '.join(known) or 'none configured'}",
                parameter="endpoint",
            )
        window = window_seconds(config)
        window_text = query.get("window")
        if window_text is not None:
            try:
                window = parse_window(window_text)
            except ValueError as exc:
                raise ApiError(
                    422, "invalid_parameter", f"window: {exc}", parameter="window"
                ) from None
        try:
            since, until = parse_range(
                query.get("since"),
                query.get("until"),
                now=self.clock(),
                default_span=timedelta(days=1),
            )
        except RangeError as exc:
            raise ApiError(422, "invalid_parameter", str(exc), parameter=exc.parameter) from None
        if endpoint is not None:
            per_window = 1
        else:
            per_window = sum(1 for e in known.values() if model is None or e.model.id == model)
        page = await run_in_threadpool(
            _read_rollups,
            config,
            self.view.store,
            window,
            since,
            until,
            model=model,
            endpoint=endpoint,
            per_window=per_window,
        )
        rows, next_since = page
        return JSONResponse(
            {
                "window_seconds": window,
                "window": describe_window(window),
                "since": iso_utc(since),
                "until": iso_utc(until),
                "model": model,
                "endpoint": endpoint,
                "count": len(rows),
                "limit": MAX_ROLLUP_ROWS,
                "truncated": next_since is not None,
                "next_since": iso_utc(next_since) if next_since is not None else None,
                "rollups": [rollup_json(r) for r in rows],
            }
        )

    async def latest_report(self, request: Request) -> Response:
        """The report of the last complete window (the structure of ``report_json``)."""
        config = self.view.config
        report = await run_in_threadpool(
            lambda: build_report(config, self.view.store, now=self.clock())
        )
        return JSONResponse(report_json(report))

    async def openapi(self, request: Request) -> Response:
        """The OpenAPI 3.1 document of this API."""
        if self._openapi is None:
            self._openapi = openapi_document(__version__)
        return JSONResponse(self._openapi)


def _optional(query: Mapping[str, str], name: str) -> str | None:
    """A name filter's value; absent or empty means "not given" (an empty time or window is
    malformed instead, so those are read as given)."""
    value = query.get(name)
    return value if value else None


def _read_rollups(
    config: Config,
    store: Store,
    window: int,
    since: datetime,
    until: datetime,
    *,
    model: str | None,
    endpoint: str | None,
    per_window: int,
) -> tuple[list[EndpointRollup], datetime | None]:
    """Up to ``MAX_ROLLUP_ROWS`` rollups of [since, until) and where the next page starts.

    The range is read in slices sized to about one page, so a long range over many endpoints
    never loads more than a page or so; an empty slice doubles the next one, so a sparse range
    takes few queries.
    """
    if not _window_is_known(config, store, window):
        raise ApiError(
            404,
            "not_found",
            f"no rollups of {describe_window(window)} windows: the configured rollup window is "
            f"{describe_window(window_seconds(config))} and no rollups of that size are stored",
            parameter="window",
        )
    limit = MAX_ROLLUP_ROWS
    base = timedelta(seconds=window) * max(1, limit // max(1, per_window))
    step = base
    rows: list[EndpointRollup] = []
    start = since
    while start < until and len(rows) <= limit:
        end = until if until - start <= step else start + step
        chunk = store.rollups(
            window_seconds=window, since=start, until=end, model=model, endpoint=endpoint
        )
        rows.extend(chunk)
        step = base if chunk else min(step * 2, until - since)
        start = end
    if len(rows) <= limit:
        return rows, None
    # End the page at a window boundary so the next page (since=next_since) repeats no row.
    first_left = rows[limit].window_start
    kept = [r for r in rows[:limit] if r.window_start < first_left]
    if kept:
        return kept, first_left
    # One window holds more rows than a page: show a page of it and move on past it.
    return rows[:limit], first_left + timedelta(seconds=window)


# --- JSON of an endpoint -----------------------------------------------------------------------


def endpoint_state(
    rollup: EndpointRollup | None,
    last_probe: ProbeResult | None,
    *,
    now: datetime,
    interval: float,
    rate_limited_is_down: bool = True,
) -> str:
    """``up``/``degraded``/``down``/``unknown`` from the last window's rollup and a fresh last
    probe (one started within ``FRESH_PROBE_INTERVALS`` intervals of ``now``).

    Where the two agree, or one of them knows nothing, that is the state; where they disagree
    (an endpoint that was up and just failed, or one that was down and just answered), the
    state is ``degraded``.
    """
    window = endpoint_status(rollup)
    probe: str | None = None
    fresh = last_probe is not None and last_probe.started_at >= now - timedelta(
        seconds=FRESH_PROBE_INTERVALS * interval
    )
    if fresh and last_probe is not None:
        if last_probe.outcome is Outcome.SUCCESS:
            probe = "up"
        elif counts_as_down(last_probe.outcome, rate_limited_is_down=rate_limited_is_down):
            probe = "down"
    if probe is None or probe == window:
        return window
    if window == "unknown":
        return probe
    return "degraded"


def _last_window_json(rollup: EndpointRollup | None) -> dict[str, Any] | None:
    if rollup is None:
        return None
    return {
        "window_start": format_utc(rollup.window_start),
        "window_end": format_utc(rollup.window_end),
        "probes": rollup.probes,
        "successes": rollup.successes,
        "uptime_ratio": rollup.uptime_ratio,
        "ttft_p50_seconds": rollup.ttft.p50,
        "ttft_p95_seconds": rollup.ttft.p95,
        "output_tokens_per_second_p50": rollup.speed.p50,
        "failures_by_outcome": rollup.failures,
        "status": endpoint_status(rollup),
    }


def endpoint_json(
    endpoint: Endpoint,
    last_probe: ProbeResult | None,
    rollup: EndpointRollup | None,
    *,
    now: datetime,
    rate_limited_is_down: bool = True,
) -> dict[str, Any]:
    """One endpoint of ``/api/v1/endpoints`` (field by field: the endpoint holds its key)."""
    return {
        "id": endpoint.id,
        "model": endpoint.model.id,
        "provider": endpoint.provider,
        "provider_name": endpoint.provider_display_name,
        "api": endpoint.api,
        "region": endpoint.region,
        "deployment": endpoint.deployment,
        "api_version": endpoint.api_version,
        "interval_seconds": endpoint.probe.interval,
        "timeout_seconds": endpoint.probe.timeout,
        "state": endpoint_state(
            rollup,
            last_probe,
            now=now,
            interval=endpoint.probe.interval,
            rate_limited_is_down=rate_limited_is_down,
        ),
        "last_probe": last_probe.to_json_dict() if last_probe is not None else None,
        "last_window": _last_window_json(rollup),
    }


def openapi_document(version: str) -> dict[str, Any]:
    """The OpenAPI document of this API (see ``monitor.api.openapi``)."""
    return build_openapi(version, max_rollup_rows=MAX_ROLLUP_ROWS)
