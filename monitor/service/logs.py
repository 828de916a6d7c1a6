"""Structured logs: readable on a terminal, JSON Lines elsewhere; one line per probe."""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal, TextIO

import structlog

from monitor.core.result import ProbeResult

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}  # fmt: skip


def configure_logging(
    level: Literal["debug", "info", "warning", "error"] = "info",
    fmt: Literal["auto", "json", "console"] = "auto",
    stream: TextIO | None = None,
) -> None:
    """Set up structlog (and the standard library's loggers) for the process."""
    out = stream or sys.stderr
    as_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    # Libraries (uvicorn, apscheduler, alembic) log through the standard library.
    logging.basicConfig(level=max(_LEVELS[level], logging.WARNING), stream=out, force=True)


def probe_fields(result: ProbeResult) -> dict[str, Any]:
    """The fields of a probe's log line: its numbers and outcome, never a secret."""
    fields: dict[str, Any] = {
        "endpoint": result.endpoint,
        "provider": result.provider,
        "model": result.model,
        "outcome": result.outcome.value,
        "http_status": result.http_status,
        "ttft_ms": _ms(result.ttft_seconds),
        "tok_s": None
        if result.output_tokens_per_second is None
        else round(result.output_tokens_per_second, 1),
        "total_ms": _ms(result.total_seconds),
        "output_tokens": result.output_tokens,
        "connect_ms": _ms(result.connect_seconds),
        "probe_id": result.probe_id,
    }
    if result.provider_request_id:
        fields["request_id"] = result.provider_request_id
    if result.retry_after_seconds is not None:
        fields["retry_after_s"] = result.retry_after_seconds
    if result.error:
        fields["error"] = result.error
    return fields


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def log_probe(logger: Any, result: ProbeResult) -> None:
    """Write the one log line of a finished probe."""
    method = logger.info if result.ok else logger.warning
    method("probe", **probe_fields(result))
