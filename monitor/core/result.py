"""The one value handed from probing to everything else: a frozen ``ProbeResult``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from monitor.core.outcomes import Outcome


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """Everything one probe measured; unknown values are ``None``, never 0.

    ``total_seconds`` is end-to-end latency, from the request's first byte written to the end
    of the stream; it is ``None`` when the stream had no end (a timeout, a failed connection).
    ``duration_seconds`` is how long the probe itself ran, for every outcome: from the moment
    the runner was called for it (before the credential, the connection and the request) to
    the moment its result was made, on the monotonic clock. A timed-out probe's duration is
    about its timeout; a probe cut short by shutdown has the time it ran until then.
    """

    probe_id: str
    endpoint: str
    provider: str
    model: str
    api: str
    region: str | None
    outcome: Outcome
    started_at: datetime
    http_status: int | None = None
    ttft_seconds: float | None = None
    total_seconds: float | None = None
    first_byte_seconds: float | None = None
    output_tokens: int | None = None
    input_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_input_tokens: int | None = None
    tokens_estimated: bool = False
    output_tokens_per_second: float | None = None
    inter_token_latency_seconds: float | None = None
    content_chunks: int = 0
    connect_seconds: float | None = None
    connection_reused: bool | None = None
    finish_reason: str | None = None
    response_model: str | None = None
    provider_request_id: str | None = None
    retry_after_seconds: float | None = None
    cost_usd: float | None = None
    error: str | None = None
    # Last, like its column (added by a later migration than the others).
    duration_seconds: float | None = None

    @property
    def ok(self) -> bool:
        """Whether the probe succeeded."""
        return self.outcome is Outcome.SUCCESS

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON object of ``probe --format json`` (DESIGN section 4)."""
        data = asdict(self)
        data["outcome"] = self.outcome.value
        data["ok"] = self.ok
        data["started_at"] = format_utc(self.started_at)
        return data


def format_utc(moment: datetime) -> str:
    """ISO 8601 with a ``Z`` suffix, to the microsecond."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
