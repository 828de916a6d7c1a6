"""With a token configured, nothing but metrics, health, the OpenAPI document, the sign-in and
static files is served without it: every page, card and badge, known route or not, is refused
before routing; the bearer header and the cookie of a real sign-in open them; the cookie is not
the token; the sign-in never redirects off the site; ``public_embeds`` opens the embeds only."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from monitor.api.app import create_app
from monitor.config import parse_config
from monitor.store import Store, open_store
from tests.test_api import CONFIG, NOW, FakeView

TOKEN = "web-auth-token-4f1e8a2b9c7d"
MODEL = "gpt-4.1-nano"
COOKIE = "llm_monitor_session"
STUB = "stub-page-answered"
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
BEARER = {"Authorization": f"Bearer {TOKEN}"}
#: The card and the badges, which public_embeds opens.
EMBEDS = [
    f"/models/{MODEL}/card",
    f"/badges/models/{MODEL}/uptime.svg",
    f"/badges/models/{MODEL}/ttft.svg",
    f"/badges/models/{MODEL}/throughput.svg",
]
#: Every page, with routes that may not exist in this branch and some that never will: the
#: guard answers before routing, so they must all be refused alike.
PAGES = [
    "/",
    f"/models/{MODEL}",
    f"/models/{MODEL}?range=7d",
    "/endpoints/openai",
    "/reports",
    "/reports/2025-06-01T12:00:00Z",
    "/reports/2025-06-01T12:00:00Z.md",
    *EMBEDS,
    "/models/no-such-model",
    "/badges/models/no-such-model/uptime.svg",
    "/no/such/page",
    "/static",
]
OPEN = ["/metrics", "/healthz", "/readyz", "/openapi.json", "/login"]
API = ["/api/v1/endpoints", "/api/v1/models", f"/api/v1/models/{MODEL}/profile", "/api/v1/nope"]
API_REFUSAL = {
    "error": {"code": "unauthorized", "message": "this API needs Authorization: Bearer <token>"}
}


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


async def _stub(request: Request) -> Response:
    """Stands in for the pages this branch may not have yet."""
    return PlainTextResponse(f"{STUB} {request.url.path}")


def _app(store: Store, clock: Clock, token: str | None = TOKEN, **server: Any) -> Starlette:
    if token is not None:
        server["api_token_env"] = "API_TOKEN"
    text = yaml.safe_dump({**CONFIG, "server": server})
    config = parse_config(text, environ={"CANARY_KEY": "sk-test", "API_TOKEN": token or ""})
    app = create_app(FakeView(config, store, CollectorRegistry(), None), clock=clock)
    # After every real route: whatever no route answers reaches the stub.
    app.router.routes.append(Route("/{path:path}", _stub, methods=["GET", "POST"]))
    return app


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path}/m.db")
    opened.upgrade()
    yield opened
    opened.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


def _client(app: Starlette, base_url: str = "http://monitor") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


@pytest.fixture
async def client(store: Store, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(_app(store, clock)) as c:
        yield c


def _refused(response: httpx.Response) -> bool:
    if response.status_code == 401:
        return True
    return response.status_code == 303 and response.headers["location"].startswith("/login")


def _accepted(response: httpx.Response) -> bool:
    return not _refused(response) and response.status_code < 500


async def _sign_in(client: httpx.AsyncClient, next_path: str = "/") -> httpx.Response:
    return await client.post("/login", data={"token": TOKEN, "next": next_path})


def _session(response: httpx.Response) -> str:
    """The session cookie's value from a sign-in's Set-Cookie."""
    match = re.match(rf"{COOKIE}=([^;]*)", response.headers["set-cookie"])
    assert match, response.headers.get("set-cookie")
    return match.group(1)


def _cookie(value: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={value}"}


# --- refused without the token ------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
async def test_without_the_token_every_page_and_badge_is_refused(
    client: httpx.AsyncClient, path: str
) -> None:
    wrong = [
        {},
        {"Authorization": "Bearer not-the-token"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        _cookie(TOKEN),  # the token itself is not a session
        _cookie("1748779860.0000000000000000000000000000000000000000000000000000000000000000"),
    ]
    for headers in wrong:
        response = await client.get(path, headers=headers)
        assert response.status_code == 401, (path, headers, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.headers["cache-control"] == "no-store"
        assert STUB not in response.text
    # A browser is sent to sign in, and back here afterwards.
    response = await client.get(path, headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=" + quote(path, safe="")


async def test_a_refusal_tells_nothing_of_which_routes_or_models_exist(
    client: httpx.AsyncClient,
) -> None:
    answers = set()
    for path in (f"/models/{MODEL}", "/models/no-such-model", "/no/such/page", "/reports/x"):
        response = await client.get(path)
        answers.add((response.status_code, response.text))
    assert len(answers) == 1
    # A badge answers with an image that says so, the same for a known model and an unknown.
    known = await client.get(f"/badges/models/{MODEL}/uptime.svg")
    unknown = await client.get("/badges/models/no-such-model/uptime.svg")
    assert (known.status_code, known.text) == (unknown.status_code, unknown.text)
    assert known.headers["content-type"] == "image/svg+xml"
    assert "token required" in known.text


async def test_the_json_api_refuses_as_it_always_did(client: httpx.AsyncClient) -> None:
    for path in API:
        for headers in ({}, HTML, {"Authorization": "Bearer nope"}):
            response = await client.get(path, headers=headers)
            assert response.status_code == 401, path
            assert response.json() == API_REFUSAL
            assert response.headers["www-authenticate"] == "Bearer"
        assert (await client.get(path, headers=BEARER)).status_code in (200, 404)


@pytest.mark.parametrize("path", [*OPEN, "/static/style.css"])
async def test_metrics_health_the_document_and_the_sign_in_need_no_token(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path, headers=HTML)
    assert response.status_code != 401 and "location" not in response.headers, path


@pytest.mark.parametrize(
    "raw_path",
    [b"/static/../api/v1/endpoints", b"/static/../models/x", b"/metrics/../", b"/login/./x"],
)
async def test_dot_segments_do_not_reach_protected_routes_through_open_ones(
    store: Store, clock: Clock, raw_path: bytes
) -> None:
    # Sent as is (an HTTP client would have removed the dot segments).
    app = _app(store, clock)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": raw_path.decode(), "raw_path": raw_path, "root_path": "",
        "query_string": b"", "headers": [(b"host", b"monitor")], "server": ("monitor", 80),
        "client": ("127.0.0.1", 1234),
    }  # fmt: skip
    await app(scope, receive, send)
    assert sent[0]["status"] == 401


# --- opened by the bearer token or the cookie ---------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
async def test_the_bearer_token_opens_every_page_and_no_shared_cache_keeps_it(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path, headers={**BEARER, **HTML})
    assert _accepted(response), (path, response.status_code, response.text)
    if response.status_code < 400:
        assert "public" not in response.headers["cache-control"], path
        assert "private" in response.headers["cache-control"] or (
            "no-store" in response.headers["cache-control"]
        )


async def test_a_browser_signs_in_and_its_cookie_opens_every_page(
    client: httpx.AsyncClient,
) -> None:
    # Refused, sent to the sign-in form, which brings it back where it was going.
    first = await client.get(f"/models/{MODEL}?range=7d", headers=HTML)
    form = await client.get(first.headers["location"], headers=HTML)
    assert form.status_code == 200 and form.headers["content-type"].startswith("text/html")
    assert form.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in form.headers["content-security-policy"]
    hidden = re.search(r'name="next" value="([^"]*)"', form.text)
    assert hidden and hidden.group(1) == f"/models/{MODEL}?range=7d"
    assert re.search(r'<label for="token">[^<]+</label>', form.text)
    assert 'type="password" id="token" name="token"' in form.text
    signed_in = await _sign_in(client, hidden.group(1))
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == f"/models/{MODEL}?range=7d"
    attributes = {a.strip().lower() for a in signed_in.headers["set-cookie"].split(";")[1:]}
    assert attributes == {"httponly", "max-age=2592000", "path=/", "samesite=strict"}
    cookie = _cookie(_session(signed_in))
    for path in PAGES:
        response = await client.get(path, headers={**cookie, **HTML})
        assert _accepted(response), (path, response.status_code, response.text)
    # The JSON API reads with it too (GET only, see the next test).
    assert (await client.get("/api/v1/endpoints", headers=cookie)).status_code == 200


async def test_the_cookie_serves_reading_only_the_bearer_token_anything(
    client: httpx.AsyncClient,
) -> None:
    cookie = _cookie(_session(await _sign_in(client)))
    assert (await client.post("/some/page", headers=cookie)).status_code == 401
    assert (await client.post("/api/v1/endpoints", headers=cookie)).status_code == 401
    assert (await client.post("/some/page", headers=BEARER)).status_code == 200  # the stub


async def test_over_https_the_cookie_is_secure(store: Store, clock: Clock) -> None:
    async with _client(_app(store, clock), "https://monitor.example") as client:
        signed_in = await _sign_in(client)
        out = await client.post("/logout")
    assert "secure" in signed_in.headers["set-cookie"].lower()
    assert "secure" in out.headers["set-cookie"].lower()


async def test_the_cookie_does_not_hold_the_token(client: httpx.AsyncClient) -> None:
    signed_in = await _sign_in(client)
    header = signed_in.headers["set-cookie"]
    encoded = TOKEN.encode()
    for form in (TOKEN, encoded.hex(), base64.b64encode(encoded).decode(),
                 base64.urlsafe_b64encode(encoded).decode().rstrip("="), quote(TOKEN)):  # fmt: skip
        assert form not in header
        assert form[:12] not in header
    assert TOKEN not in _session(signed_in)


async def test_a_wrong_token_shows_the_form_again_with_an_error_and_no_cookie(
    client: httpx.AsyncClient,
) -> None:
    typed = "a-wrong-guess-7e3f"
    for guess in (typed, TOKEN[:-1], TOKEN + "x", ""):
        response = await client.post("/login", data={"token": guess, "next": "/reports"})
        assert response.status_code == 400
        assert "set-cookie" not in response.headers
        assert 'role="alert"' in response.text and "not this monitor" in response.text
        assert 'aria-invalid="true"' in response.text
        assert TOKEN not in response.text and TOKEN[:8] not in response.text
        if guess:
            assert guess not in response.text
        assert 'name="next" value="/reports"' in response.text
    # A body that is not the form is answered with the form as well.
    odd = await client.post("/login", content=b"{}", headers={"Content-Type": "application/json"})
    assert odd.status_code == 400 and "set-cookie" not in odd.headers


async def test_a_session_ends_after_30_days_and_when_the_token_changes(
    store: Store, clock: Clock
) -> None:
    app = _app(store, clock)
    async with _client(app) as client:
        cookie = _cookie(_session(await _sign_in(client)))
        clock.now = NOW + timedelta(days=29)
        assert (await client.get("/", headers=cookie)).status_code == 200
        clock.now = NOW + timedelta(days=30, minutes=1)
        assert (await client.get("/", headers=cookie)).status_code == 401
    clock.now = NOW
    async with _client(_app(store, clock, token="a-new-token-0000")) as client:
        assert (await client.get("/", headers=cookie)).status_code == 401


async def test_signing_out_clears_the_cookie(client: httpx.AsyncClient) -> None:
    response = await client.post("/logout")
    assert response.status_code == 303 and response.headers["location"] == "/login"
    cleared = response.headers["set-cookie"].lower()
    assert cleared.startswith((f'{COOKIE}=""; ', f"{COOKIE}=; "))
    assert "max-age=0" in cleared and "path=/" in cleared


# --- where the sign-in leads --------------------------------------------------------------------


@pytest.mark.parametrize(
    "next_path",
    [
        "https://evil.example/",
        "//evil.example/",
        "///evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        " //evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "evil.example",
        "/login?next=//evil.example",
        "/logout",
        "/caf\u00e9",
        "",
    ],
)
async def test_the_sign_in_never_leads_off_the_site(
    client: httpx.AsyncClient, next_path: str
) -> None:
    response = await _sign_in(client, next_path)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    form = await client.get("/login", params={"next": next_path})
    assert 'name="next" value="/"' in form.text


@pytest.mark.parametrize(
    "next_path",
    ["/", f"/models/{MODEL}", f"/models/{MODEL}?range=30d&x=%2F%2Fy", "/reports/a.csv"],
)
async def test_the_sign_in_leads_back_to_any_page_of_the_site(
    client: httpx.AsyncClient, next_path: str
) -> None:
    assert (await _sign_in(client, next_path)).headers["location"] == next_path


# --- public embeds, and no token at all ---------------------------------------------------------


async def test_public_embeds_opens_the_card_and_the_badges_only(store: Store, clock: Clock) -> None:
    async with _client(_app(store, clock, public_embeds=True)) as client:
        for path in EMBEDS:
            response = await client.get(path)
            assert _accepted(response), path
        badge = await client.get(f"/badges/models/{MODEL}/uptime.svg")
        assert badge.status_code == 200
        assert badge.headers["cache-control"].startswith("public, max-age=")
        for path in ("/", f"/models/{MODEL}", "/endpoints/openai", "/reports",
                     f"/models/{MODEL}/card/x", f"/models/{MODEL}/x/card"):  # fmt: skip
            assert (await client.get(path)).status_code == 401, path
        for path in API:
            assert (await client.get(path)).json() == API_REFUSAL


async def test_without_a_token_everything_is_open_and_the_sign_in_just_leads_on(
    store: Store, clock: Clock
) -> None:
    async with _client(_app(store, clock, token=None)) as client:
        for path in [*PAGES, *API[:3]]:
            assert _accepted(await client.get(path, headers=HTML)), path
        response = await client.get("/login", params={"next": "/reports"})
        assert response.status_code == 303 and response.headers["location"] == "/reports"
        posted = await client.post("/login", data={"token": "anything", "next": "/reports"})
        assert posted.headers["location"] == "/reports" and "set-cookie" not in posted.headers
        badge = await client.get(f"/badges/models/{MODEL}/ttft.svg")
        assert badge.headers["cache-control"].startswith("public, ")
