"""Response headers of each flavor: request ids, rate-limit headers, content types.

OpenAI answers through Cloudflare with an ``x-request-id: req_<32 hex>`` and the
``openai-*`` / ``x-ratelimit-*`` family; Azure OpenAI answers through API Management with
``apim-request-id`` and ``x-request-id`` (two UUIDs), ``x-ms-region`` and ``azureml-model-session``.
A 429 carries ``retry-after`` (seconds), and on Azure also ``retry-after-ms``. Azure's own 401
comes from API Management and carries only ``apim-request-id``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from monitor.simulator.http11 import response_head

SSE_TYPE = "text/event-stream; charset=utf-8"
JSON_TYPE = "application/json"
HTML_TYPE = "text/html; charset=utf-8"

Body = Literal["sse", "json", "html"]
_TYPES: dict[Body, str] = {"sse": SSE_TYPE, "json": JSON_TYPE, "html": HTML_TYPE}


@dataclass(frozen=True, slots=True)
class RequestIds:
    """The ids one response carries; ``primary`` keys the ground-truth record."""

    primary: str
    aliases: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HeadSpec:
    """What varies between the heads of one flavor."""

    status: int
    body: Body
    length: int | None
    retry_after: float | None = None
    processing_ms: int = 0
    apim_only: bool = False
    #: Where a redirect points (a ``Location`` header).
    location: str | None = None
    #: An HTTP/1.0 answer whose body ends when the connection closes (no length, not chunked).
    close_delimited: bool = False

    @property
    def version(self) -> str:
        """The protocol of the status line."""
        return "HTTP/1.0" if self.close_delimited else "HTTP/1.1"


def _retry_seconds(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


def openai_head(spec: HeadSpec, *, date: str, ids: RequestIds, ray: str) -> bytes:
    """The head OpenAI sends (framing headers first, as Cloudflare writes them)."""
    headers: list[tuple[str, str]] = [("Date", date), ("Content-Type", _TYPES[spec.body])]
    _framing(headers, spec)
    headers.append(("access-control-expose-headers", "X-Request-ID"))
    headers += [
        ("openai-organization", "user-simulator"),
        ("openai-processing-ms", str(spec.processing_ms)),
        ("openai-project", "proj_simulator"),
        ("openai-version", "2020-10-01"),
        ("x-envoy-upstream-service-time", str(spec.processing_ms + 3)),
    ]
    if spec.status == 429:
        wait = spec.retry_after if spec.retry_after is not None else 1.0
        headers += [
            ("retry-after", _retry_seconds(wait)),
            ("x-ratelimit-limit-requests", "500"),
            ("x-ratelimit-limit-tokens", "200000"),
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-remaining-tokens", "199980"),
            ("x-ratelimit-reset-requests", f"{wait:g}s"),
            ("x-ratelimit-reset-tokens", "6ms"),
        ]
    else:
        headers += [
            ("x-ratelimit-limit-requests", "500"),
            ("x-ratelimit-limit-tokens", "200000"),
            ("x-ratelimit-remaining-requests", "499"),
            ("x-ratelimit-remaining-tokens", "199980"),
            ("x-ratelimit-reset-requests", "120ms"),
            ("x-ratelimit-reset-tokens", "6ms"),
        ]
    headers += [
        ("x-request-id", ids.primary),
        ("x-openai-proxy-wasm", "v0.1"),
        ("cf-cache-status", "DYNAMIC"),
        ("Strict-Transport-Security", "max-age=31536000; includeSubDomains; preload"),
        ("X-Content-Type-Options", "nosniff"),
        ("Server", "cloudflare"),
        ("CF-RAY", ray),
        ("alt-svc", 'h3=":443"; ma=86400'),
    ]
    if spec.location is not None:
        headers.append(("Location", spec.location))
    return response_head(spec.status, headers, spec.version)


def azure_head(
    spec: HeadSpec, *, date: str, ids: RequestIds, region: str, deployment: str | None
) -> bytes:
    """The head Azure OpenAI sends; API-management errors carry only ``apim-request-id``."""
    apim_id = ids.primary
    headers: list[tuple[str, str]] = []
    if spec.apim_only:
        _framing(headers, spec)
        headers += [
            ("Content-Type", _TYPES[spec.body]),
            ("apim-request-id", apim_id),
            ("Date", date),
        ]
        return response_head(spec.status, headers, spec.version)
    headers.append(("Content-Type", _TYPES[spec.body]))
    _framing(headers, spec)
    headers += [
        ("Cache-Control", "no-cache, must-revalidate"),
        ("access-control-allow-origin", "*"),
        ("apim-request-id", apim_id),
        ("Strict-Transport-Security", "max-age=31536000; includeSubDomains; preload"),
        ("x-content-type-options", "nosniff"),
        ("x-ms-region", region),
    ]
    if spec.status == 429:
        wait = spec.retry_after if spec.retry_after is not None else 1.0
        headers += [
            ("retry-after", _retry_seconds(wait)),
            ("retry-after-ms", str(max(1, round(wait * 1000)))),
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-remaining-tokens", "0"),
        ]
    else:
        headers += [
            ("x-ratelimit-remaining-requests", "249"),
            ("x-ratelimit-limit-requests", "250"),
            ("x-ratelimit-remaining-tokens", "249990"),
            ("x-ratelimit-limit-tokens", "250000"),
        ]
    headers += [
        ("x-accel-buffering", "no"),
        ("x-ms-rai-invoked", "true"),
        ("x-request-id", ids.aliases[0] if ids.aliases else apim_id),
        ("x-ms-client-request-id", apim_id),
        ("x-envoy-upstream-service-time", str(spec.processing_ms)),
        ("azureml-model-session", "d145-20250811192346"),
    ]
    if deployment is not None:
        headers.append(("x-ms-deployment-name", deployment))
    if spec.location is not None:
        headers.append(("Location", spec.location))
    headers.append(("Date", date))
    return response_head(spec.status, headers, spec.version)


def _framing(headers: list[tuple[str, str]], spec: HeadSpec) -> None:
    if spec.close_delimited:
        headers.append(("Connection", "close"))
    elif spec.length is None:
        headers += [("Transfer-Encoding", "chunked"), ("Connection", "keep-alive")]
    else:
        headers += [("Content-Length", str(spec.length)), ("Connection", "keep-alive")]


def plain_head(status: int, length: int, extra: Sequence[tuple[str, str]] = ()) -> bytes:
    """The head of the simulator's own (admin, unknown endpoint) JSON answers."""
    headers = [("Content-Type", JSON_TYPE), ("Content-Length", str(length)), *extra]
    return response_head(status, headers)
