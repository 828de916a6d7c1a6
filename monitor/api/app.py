"""The HTTP API of a running daemon: metrics, health, endpoints, model profiles, rollups, the
latest report and the OpenAPI document that describes them all (README "HTTP API"); beside it,
the badges and the browser's sign-in of ``monitor.web``, and its guard when a token is set.

``create_app(view)`` builds a Starlette app over a read-only ``MonitorView``. The store is
synchronous, so every handler that reads it does so on a worker thread; so does rendering the
metrics exposition (sent chunk by chunk as it is written). Every error is
JSON, ``{"error": {"code", "message"[, "parameter"]}}``: 404 (unknown route, model or endpoint),
405 (wrong method), 422 (a query parameter that cannot be used), 503 (the store is unavailable),
500. Every body is one of the shapes of ``monitor.service.shapes`` and ``monitor.api.shapes``,
which the OpenAPI document is made from. Secrets never leave: an endpoint's shape is copied
field by field from its configuration, which holds its key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from monitor import __version__
from monitor.api.openapi import openapi_document
from monitor.api.shapes import (
    AgentList,
    AgentStatus,
    EndpointList,
    ErrorBody,
    ErrorCode,
    ErrorDetail,
    Health,
    IncidentList,
    ModelList,
    Readiness,
    RollupPage,
)
from monitor.api.streaming import made_ahead
from monitor.config import Config
from monitor.core.errors import StoreError, UnknownWindowError
from monitor.core.incidents import summarize
from monitor.core.profile import ModelLive, model_live
from monitor.core.shape import dump, dump_json
from monitor.core.timeparse import RangeError, describe_window, parse_range, parse_window
from monitor.metrics import exposition_chunks
from monitor.reports.build import build_report
from monitor.service.aggregator import profile_document, window_seconds
from monitor.service.membership import ROLLUP_LEASE, alive, lease_holder
from monitor.service.memory import give_back
from monitor.service.queries import (
    MAX_INCIDENTS,
    MAX_ROLLUP_ROWS,
    rollup_page,
    unknown_model_message,
)
from monitor.service.shapes import EndpointState, ModelEntry
from monitor.service.view import MonitorView
from monitor.web import page_routes
from monitor.web.auth import AccessGuard, login_routes
from monitor.web.badges import badge_routes

Handler = Callable[[Request], Awaitable[Response]]


class ApiError(Exception):
    """An error response: HTTP status, machine-readable code, message, offending parameter."""

    def __init__(
        self, status: int, code: ErrorCode, message: str, *, parameter: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.parameter = parameter


def error_body(code: ErrorCode, message: str, parameter: str | None = None) -> dict[str, Any]:
    """The JSON body of every error response (``ErrorBody``)."""
    body: dict[str, Any] = dump(ErrorBody(ErrorDetail(code, message, parameter)))
    return body


def json_response(value: Any, status_code: int = 200) -> Response:
    """A shape (or a tuple of one) as a JSON response, serialised by pydantic straight to bytes."""
    return Response(dump_json(value), status_code=status_code, media_type="application/json")


def create_app(
    view: MonitorView,
    *,
    clock: Callable[[], datetime] | None = None,
    max_rollup_rows: int = MAX_ROLLUP_ROWS,
) -> Starlette:
    """The HTTP app over ``view``; ``clock`` (default: the wall clock) gives "now" in UTC, and
    ``/api/v1/rollups`` answers pages of at most ``max_rollup_rows`` rows."""
    api = _Api(view, clock or (lambda: datetime.now(UTC)), max_rollup_rows)
    routes: list[BaseRoute] = [
        Route("/metrics", api.metrics, methods=["GET"]),
        Route("/healthz", api.healthz, methods=["GET"]),
        Route("/readyz", api.readyz, methods=["GET"]),
        Route("/api/v1/endpoints", api.endpoints, methods=["GET"]),
        Route("/api/v1/models", api.models, methods=["GET"]),
        Route("/api/v1/models/{model_id:str}/profile", api.profile, methods=["GET"]),
        Route("/api/v1/rollups", api.rollups, methods=["GET"]),
        Route("/api/v1/reports/latest", api.latest_report, methods=["GET"]),
        Route("/api/v1/agents", api.agents, methods=["GET"]),
        Route("/api/v1/incidents", api.incidents, methods=["GET"]),
        Route("/openapi.json", api.openapi, methods=["GET"]),
        *page_routes(view, api.clock),
    ]
    secret = view.config.api_token
    token = secret.get_secret_value() if secret is not None else None
    routes += badge_routes(view, api.clock)
    routes += login_routes(token, api.clock)
    # With a token, the guard refuses every protected request before routing (monitor.web.auth).
    middleware = []
    if token is not None:
        public_embeds = view.config.schema.server.public_embeds
        middleware.append(
            Middleware(
                AccessGuard,
                token=token,
                public_embeds=public_embeds,
                clock=api.clock,
                refuse=_unauthorized,
            )
        )
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            StoreError: _store_error,
            Exception: _internal_error,
        },
    )


def _unauthorized(message: str) -> Response:
    """The 401 of a request without the token (``monitor.web.auth`` says who needs it)."""
    return JSONResponse(
        error_body("unauthorized", message), status_code=401, headers={"WWW-Authenticate": "Bearer"}
    )


# --- error handlers ----------------------------------------------------------------------------


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(error_body(exc.code, exc.message, exc.parameter), status_code=exc.status)


_HTTP_CODES: dict[int, ErrorCode] = {404: "not_found", 405: "method_not_allowed"}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"no route {request.url.path}; see /openapi.json"
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "GET")
        message = f"method {request.method} not allowed on {request.url.path}; allowed: {allowed}"
    else:
        message = str(exc.detail)
    code: ErrorCode = _HTTP_CODES.get(exc.status_code, "http_error")
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

    def __init__(
        self, view: MonitorView, clock: Callable[[], datetime], max_rollup_rows: int
    ) -> None:
        self.view = view
        self.clock = clock
        self.max_rollup_rows = max_rollup_rows
        self._openapi: bytes | None = None

    async def metrics(self, request: Request) -> Response:
        """The Prometheus exposition, OpenMetrics when the scraper asks for it, sent in chunks
        as they are written (on a thread of their own: ``made_ahead``). Once the scraper has
        the whole body, the C heap's free pages are given back: a scrape of thousands of
        endpoints leaves megabytes free there (docs/architecture.md#memory), and doing it
        after the response keeps it out of the scrape's time."""
        chunks, content_type = await run_in_threadpool(
            exposition_chunks, self.view.registry, request.headers.get("accept", "")
        )
        return StreamingResponse(
            made_ahead(chunks),
            media_type=None,
            headers={"Content-Type": content_type},
            background=BackgroundTask(give_back),
        )

    async def healthz(self, request: Request) -> Response:
        """200 while the process can answer at all."""
        return json_response(Health())

    async def readyz(self, request: Request) -> Response:
        """200 when ready, 503 listing the problems."""
        problems = list(self.view.problems())
        if problems:
            return json_response(Readiness("not_ready", problems), status_code=503)
        return json_response(Readiness("ok", []))

    async def endpoints(self, request: Request) -> Response:
        """Each configured endpoint's settings, last probe, last window and state."""
        config = self.view.config
        snapshot = self.view.snapshot()
        last = self.view.last_probes()
        rollups = {r.endpoint: r for r in snapshot.rollups} if snapshot else {}
        now = self.clock()
        rate_limited_is_down = config.schema.rollup.rate_limited_is_down
        states = tuple(
            EndpointState.of(
                e,
                last.get(e.id),
                rollups.get(e.id),
                now=now,
                rate_limited_is_down=rate_limited_is_down,
            )
            for e in config.endpoints
        )
        return json_response(EndpointList(states))

    async def agents(self, request: Request) -> Response:
        """The agents that share the store, and the one that holds the rollup lease."""
        store = self.view.store
        heartbeat = self.view.config.schema.agent.heartbeat

        def read() -> AgentList:
            now = store.db_now()
            records = store.agents()
            living = {r.agent for r in alive(records, now, heartbeat)}
            leader = lease_holder(store.lease(ROLLUP_LEASE), now)
            return AgentList(
                tuple(
                    AgentStatus(
                        agent=r.agent,
                        location=r.location,
                        last_seen=r.last_seen,
                        alive=r.agent in living,
                        endpoints=r.endpoints,
                        rollup_leader=r.agent == leader,
                        host=r.host,
                        version=r.version,
                        config_hash=r.config_hash,
                        started_at=r.started_at,
                        clock_offset_seconds=r.clock_offset_seconds,
                    )
                    for r in records
                ),
                rollup_leader=leader,
            )

        return json_response(await run_in_threadpool(read))

    async def models(self, request: Request) -> Response:
        """Each model's facts, endpoints and the link to its profile."""
        config = self.view.config
        entries = tuple(
            ModelEntry.of(model, [e.id for e in config.endpoints if e.model.id == model.id])
            for model in config.models
        )
        return json_response(ModelList(entries))

    async def profile(self, request: Request) -> Response:
        """The model's profile document; its live numbers are null before the first rollup."""
        config = self.view.config
        model_id = request.path_params["model_id"]
        if config.model(model_id) is None:
            raise ApiError(404, "not_found", unknown_model_message(config, model_id))
        snapshot = self.view.snapshot()
        live = snapshot.profiles.get(model_id) if snapshot else None
        if live is None:
            live = self._empty_live(config, model_id)
        return json_response(profile_document(config, live))

    def _empty_live(self, config: Config, model_id: str) -> ModelLive:
        model = config.model(model_id)
        assert model is not None
        last = {k: v.started_at for k, v in self.view.last_probes().items()}
        return model_live(
            model,
            config.endpoints,
            (),
            last_window_start=None,
            uptime_since=self.clock(),
            refreshed_at=None,
            last_probe_at=last,
            rate_limited_is_down=config.schema.rollup.rate_limited_is_down,
        )

    async def rollups(self, request: Request) -> Response:
        """Stored rollups of a time range, oldest first, a page of at most ``max_rollup_rows``."""
        config = self.view.config
        query = request.query_params
        model, endpoint = _name_filters(config, query)
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
        try:
            rows, next_since = await run_in_threadpool(
                lambda: rollup_page(
                    config,
                    self.view.store,
                    window,
                    since,
                    until,
                    model=model,
                    endpoint=endpoint,
                    limit=self.max_rollup_rows,
                )
            )
        except UnknownWindowError as exc:
            raise ApiError(404, "not_found", str(exc), parameter="window") from None
        page = RollupPage(
            window_seconds=window,
            window=describe_window(window),
            since=since,
            until=until,
            model=model,
            endpoint=endpoint,
            limit=self.max_rollup_rows,
            next_since=next_since,
            rollups=tuple(rows),
        )
        return await run_in_threadpool(json_response, page)

    async def incidents(self, request: Request) -> Response:
        """Incidents that overlap a time range (default: the last 7 days), newest first."""
        config = self.view.config
        query = request.query_params
        model, endpoint = _name_filters(config, query)
        state = _flag(query, "open")
        limit = _limit(query, MAX_INCIDENTS)
        try:
            since, until = parse_range(
                query.get("since"),
                query.get("until"),
                now=self.clock(),
                default_span=timedelta(days=7),
            )
        except RangeError as exc:
            raise ApiError(422, "invalid_parameter", str(exc), parameter=exc.parameter) from None
        found = await run_in_threadpool(
            lambda: self.view.store.incidents(
                endpoint=endpoint, model=model, since=since, until=until, open_only=state
            )
        )
        answer = IncidentList(
            since=since,
            until=until,
            model=model,
            endpoint=endpoint,
            open=state,
            limit=limit,
            summary=summarize(found, since, until),
            incidents=tuple(found[:limit]),
        )
        return await run_in_threadpool(json_response, answer)

    async def latest_report(self, request: Request) -> Response:
        """The report of the last complete window."""
        config = self.view.config
        report = await run_in_threadpool(
            lambda: build_report(config, self.view.store, now=self.clock())
        )
        return json_response(report)

    async def openapi(self, request: Request) -> Response:
        """The OpenAPI 3.1 document of this API."""
        if self._openapi is None:
            document = openapi_document(__version__, max_rollup_rows=self.max_rollup_rows)
            self._openapi = dump_json(document)
        return Response(self._openapi, media_type="application/json")


def _name_filters(config: Config, query: Mapping[str, str]) -> tuple[str | None, str | None]:
    """``model`` and ``endpoint``: absent, or a configured one (else 404 naming the known)."""
    model = _optional(query, "model")
    endpoint = _optional(query, "endpoint")
    if model is not None and config.model(model) is None:
        raise ApiError(404, "not_found", unknown_model_message(config, model), parameter="model")
    known = [e.id for e in config.endpoints]
    if endpoint is not None and endpoint not in known:
        raise ApiError(
            404,
            "not_found",
            f"unknown endpoint {endpoint!r}; known: {', '.join(known) or 'none configured'}",
            parameter="endpoint",
        )
    return model, endpoint


def _flag(query: Mapping[str, str], name: str) -> bool | None:
    """A true/false filter; absent means "not given" (empty is malformed)."""
    value = query.get(name)
    if value is None:
        return None
    word = value.strip().lower()
    if word in ("true", "1", "yes"):
        return True
    if word in ("false", "0", "no"):
        return False
    raise ApiError(
        422, "invalid_parameter", f"{name}: {value!r} is not true or false", parameter=name
    )


def _limit(query: Mapping[str, str], most: int) -> int:
    """``limit``: a whole number from 1 to ``most``; absent means ``most``."""
    value = query.get("limit")
    if value is None:
        return most
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= most:
        raise ApiError(
            422,
            "invalid_parameter",
            f"limit: {value!r} is not a whole number from 1 to {most}",
            parameter="limit",
        )
    return int(value)


def _optional(query: Mapping[str, str], name: str) -> str | None:
    """A name filter's value; absent or empty means "not given" (an empty time or window is
    malformed instead, so those are read as given)."""
    value = query.get(name)
    return value if value else None
