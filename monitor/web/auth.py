"""Who may read what when ``server.api_token_env`` or ``server.api_token_file`` sets a token
(README "HTTP API"): the guard in front of every route, and the browser's sign-in.

With a token, everything is protected except what scrapers, probes and the sign-in itself need:
``/metrics``, ``/healthz``, ``/readyz``, ``/openapi.json``, ``/login``, ``/logout`` and
``/static/...``; and, with ``server.public_embeds: true``, a model's card
(``/models/{id}/card``) and the badges (``/badges/...``). The guard decides from the path alone,
before routing, so a refused request learns nothing, not even whether the route exists.

A request is let through with ``Authorization: Bearer <token>``, or, for GET and HEAD, with the
session cookie that ``POST /login`` sets. The cookie holds a time and an HMAC-SHA256 of it keyed
with the token, never the token: it lasts 30 days, it is HttpOnly, SameSite=Strict, Path=/ (and
Secure over https), and changing the token ends every session. The JSON API takes the cookie
too, on GET and HEAD, so that a signed-in browser can open the JSON that the pages link to and
read; this is safe because the API only reads, the cookie never goes with a request another
site starts (SameSite=Strict), and no other site may read the answers (there is no CORS).

A refusal: ``/api/...`` answers 401 with the API's JSON error body and
``WWW-Authenticate: Bearer``, exactly as before there were pages; a browser asking for a page
(GET or HEAD with ``Accept: text/html``) is sent (303) to ``/login?next=<where it was going>``;
a badge answers 401 with a badge that says "token required"; anything else answers the 401 JSON
error. Every protected answer the guard lets through is marked ``Cache-Control: private`` (beside
its route's own directives, such as the pages' ``no-cache``), so that no shared cache keeps it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, quote, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.web.badges import Badge, svg_response

#: The session cookie's name.
SESSION_COOKIE = "llm_monitor_session"
#: How long a session lasts, in seconds.
SESSION_SECONDS = 30 * 86_400
#: What the HMAC of a session signs besides its time (a new version ends every session).
_SESSION_LABEL = b"llm-endpoint-monitor browser session v1\x00"

#: The refusal message of the JSON API (unchanged since the API had only bearer tokens).
API_REFUSAL = "this API needs Authorization: Bearer <token>"
PAGE_REFUSAL = "this page needs Authorization: Bearer <token>, or a browser signed in at /login"

OPEN_PATHS = frozenset({"/metrics", "/healthz", "/readyz", "/openapi.json", "/login", "/logout"})
OPEN_PREFIXES = ("/static/",)
_CARD = re.compile(r"/models/[^/]+/card")
_SAFE_METHODS = frozenset({"GET", "HEAD"})
#: The largest sign-in form accepted, in bytes.
MAX_FORM_BYTES = 16 * 1024

PathKind = Literal["open", "embed", "api", "page"]


def path_kind(path: str) -> PathKind:
    """What the guard makes of a path: open to all, an embed (open with public_embeds), the
    JSON API, or a page. Whatever it does not know is a page, so protected; so is a path with
    ``.`` or ``..`` segments, which no route of the app has."""
    if any(segment in (".", "..") for segment in path.split("/")):
        return "page"
    if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
        return "open"
    if path.startswith("/api/"):
        return "api"
    if path.startswith("/badges/") or _CARD.fullmatch(path):
        return "embed"
    return "page"


def session_value(token: str, issued: int) -> str:
    """The session cookie's value for a sign-in at ``issued`` (Unix seconds): that time and
    the HMAC-SHA256 of it keyed with the token."""
    return f"{issued}.{_session_mac(token.encode(), issued)}"


def _session_mac(token: bytes, issued: int) -> str:
    return hmac.new(token, _SESSION_LABEL + str(issued).encode(), hashlib.sha256).hexdigest()


def session_is_valid(token: bytes, value: str, now: datetime) -> bool:
    """Whether a session cookie's value was made with ``token`` and has not expired."""
    issued_text, _, mac = value.partition(".")
    if not issued_text.isascii() or not issued_text.isdigit() or len(issued_text) > 12:
        return False
    issued = int(issued_text)
    age = now.timestamp() - issued
    # A minute of slack for a session made just now by another worker's clock reading.
    if not -60 <= age <= SESSION_SECONDS:
        return False
    return hmac.compare_digest(mac.encode(), _session_mac(token, issued).encode())


def token_matches(given: str, token: str) -> bool:
    """Whether a typed token is the configured one, in time independent of both (digests of
    equal length are compared, so not even the token's length shows)."""
    return hmac.compare_digest(
        hashlib.sha256(given.encode()).digest(), hashlib.sha256(token.encode()).digest()
    )


def safe_next(value: str | None) -> str:
    """Where to go after signing in: ``value`` when it is a path on this site, else ``/``.
    Refused: anything that is not a path starting with one ``/`` (an absolute URL, a
    protocol-relative ``//host``), a backslash (browsers read it as ``/``), a control, space or
    non-ASCII character, and the sign-in pages themselves."""
    if not value or len(value) > 2048 or not value.startswith("/") or value.startswith("//"):
        return "/"
    if any(not 0x21 <= ord(char) <= 0x7E or char == "\\" for char in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path in ("/login", "/logout"):
        return "/"
    return value


def login_location(scope: Scope) -> str:
    """``/login?next=...`` that comes back to the request's path and query."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else quote(str(scope.get("path", "/")))
    query = bytes(scope.get("query_string") or b"").decode("latin-1")
    target = f"{path}?{query}" if query else path
    return "/login?next=" + quote(target, safe="")


class AccessGuard:
    """ASGI middleware that refuses every protected request without the token (see the
    module's docstring). ``refuse`` makes the 401 JSON error response for a message."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str,
        public_embeds: bool,
        clock: Callable[[], datetime],
        refuse: Callable[[str], Response],
    ) -> None:
        self._app = app
        self._token = token.encode()
        self._public_embeds = public_embeds
        self._clock = clock
        self._refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self._app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        kind = path_kind(path)
        if kind == "open" or (kind == "embed" and self._public_embeds):
            await self._app(scope, receive, send)
            return
        if self._allowed(scope):
            await self._app(scope, receive, _private(send))
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await self._refusal(scope, kind, path)(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        headers = scope.get("headers") or []
        authorization = dict(headers).get(b"authorization", b"")
        scheme, _, credential = authorization.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(credential.strip(), self._token):
            return True
        if scope.get("method", "GET") not in _SAFE_METHODS:
            return False
        now = self._clock()
        return any(
            session_is_valid(self._token, value, now)
            for name, value in _cookies(headers)
            if name == SESSION_COOKIE
        )

    def _refusal(self, scope: Scope, kind: PathKind, path: str) -> Response:
        if kind == "api":
            response = self._refuse(API_REFUSAL)
        elif scope.get("method") in _SAFE_METHODS and _wants_html(scope):
            response = RedirectResponse(login_location(scope), status_code=303)
        elif path.startswith("/badges/"):
            badge = Badge("badge", "token required", "#636c76", "token required: sign in first")
            response = svg_response(badge, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        else:
            response = self._refuse(PAGE_REFUSAL)
        response.headers["Cache-Control"] = "no-store"
        return response


def _private(send: Send) -> Send:
    """``send`` that keeps shared caches from storing a protected response: ``private`` added
    to its Cache-Control (``private`` alone when it has none), unless it is ``private``,
    ``no-store`` or ``public`` already (a route that chose ``public`` means it)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers") or [])
            found = [value for name, value in headers if name.lower() == b"cache-control"]
            directives = {d.strip() for value in found for d in value.lower().split(b",")}
            if not directives & {b"private", b"no-store", b"public"}:
                kept = [(n, v) for n, v in headers if n.lower() != b"cache-control"]
                value = b", ".join([b"private", *found])
                message = {**message, "headers": [*kept, (b"cache-control", value)]}
        await send(message)

    return sending


def _cookies(headers: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """Every ``name=value`` pair of every Cookie header."""
    pairs = []
    for name, value in headers:
        if name.lower() != b"cookie":
            continue
        for item in value.decode("latin-1").split(";"):
            key, _, text = item.strip().partition("=")
            pairs.append((key, text.strip().strip('"')))
    return pairs


def _wants_html(scope: Scope) -> bool:
    accept = dict(scope.get("headers") or []).get(b"accept", b"")
    return b"text/html" in accept.lower()


# --- the sign-in pages --------------------------------------------------------------------------

_TEMPLATES = Path(__file__).parent / "templates"
_LOGIN_HEADERS = {
    "Cache-Control": "no-store",
    # The form may not be framed (clickjacking), posts only here, and loads nothing.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
}
WRONG_TOKEN = "That is not this monitor's token. Check it and try again."


def login_routes(token: str | None, clock: Callable[[], datetime]) -> list[BaseRoute]:
    """``GET``/``POST /login`` and ``POST /logout``; without a token there is nothing to sign
    in to, and they only send the browser on."""
    environment = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=select_autoescape(default=True),
        auto_reload=False,
    )
    template = environment.get_template("login.html")

    def form(next_path: str, error: str | None, status_code: int) -> Response:
        body = template.render(next=next_path, error=error)
        return HTMLResponse(body, status_code=status_code, headers=_LOGIN_HEADERS)

    async def show(request: Request) -> Response:
        next_path = safe_next(request.query_params.get("next"))
        if token is None:
            return RedirectResponse(next_path, status_code=303)
        return form(next_path, None, 200)

    async def sign_in(request: Request) -> Response:
        fields = await _form_fields(request)
        next_path = safe_next(_field(fields, "next"))
        if token is None:
            return RedirectResponse(next_path, status_code=303)
        if fields is None:
            return form(next_path, "The sign-in form could not be read; try again.", 400)
        if not token_matches(_field(fields, "token").strip(), token):
            return form(next_path, WRONG_TOKEN, 400)
        response = RedirectResponse(next_path, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            session_value(token, int(clock().timestamp())),
            max_age=SESSION_SECONDS,
            path="/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    async def sign_out(request: Request) -> Response:
        response = RedirectResponse("/login" if token else "/", status_code=303)
        response.delete_cookie(
            SESSION_COOKIE,
            path="/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    return [
        Route("/login", show, methods=["GET"]),
        Route("/login", sign_in, methods=["POST"]),
        Route("/logout", sign_out, methods=["POST"]),
    ]


async def _form_fields(request: Request) -> dict[str, list[str]] | None:
    """The fields of an urlencoded form, or None when the body is not one (or is too big)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        return parse_qs(body.decode(), keep_blank_values=True, max_num_fields=8)
    except ValueError:  # not UTF-8, or too many fields
        return None


def _field(fields: dict[str, list[str]] | None, name: str) -> str:
    values = (fields or {}).get(name) or [""]
    return values[0]
