"""The one value handed from probing to everything else: a frozen ``ProbeResult``.

It is also the JSON object of ``probe --format json`` and of the API's ``last_probe``, and its
OpenAPI schema (see ``monitor.core.shape``); what each field means is in docs/design.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, computed_field

from monitor.core.outcomes import Outcome
from monitor.core.shape import Shape, UtcTime

#: Where a probe's arrival times came from (docs/design.md#arrival-time): the kernel's receive
#: stamps, or the time the process read the bytes.
KERNEL_STAMPS = "kernel"
LOOP_STAMPS = "loop"
STAMP_SOURCES = (KERNEL_STAMPS, LOOP_STAMPS)


@dataclass(frozen=True, slots=True)
class ProbeResult(Shape):
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
    started_at: Annotated[
        UtcTime,
        Field(
            description="When the request's first byte was written (when none was, when the"
            " probe started)."
        ),
    ]
    http_status: int | None = None
    ttft_seconds: float | None = None
    total_seconds: Annotated[
        float | None,
        Field(
            description="End-to-end latency: from the request's first byte written to the end of"
            " the stream; null when the stream had no end (timeout, failed connection)."
        ),
    ] = None
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
    duration_seconds: Annotated[
        float | None,
        Field(
            description="How long the probe ran, whatever its outcome: from the moment it was"
            " started (before the credential, the connection and the request) to the moment its"
            " result was made, on the monotonic clock. A timed-out probe's duration is about its"
            " timeout. Null for probes stored before this field existed."
        ),
    ] = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        """Whether the probe succeeded."""
        return self.outcome is Outcome.SUCCESS

    agent: Annotated[
        str | None,
        Field(
            description="The agent that made the probe (docs/design.md#agents). Probes stored"
            " before agents existed carry the name of the host that upgraded the store."
        ),
    ] = None
    location: Annotated[
        str | None,
        Field(
            description="Where the agent probed from (not the endpoint's region). Probes stored"
            " before agents existed carry 'local'."
        ),
    ] = None
    answer_ttft_seconds: Annotated[
        float | None,
        Field(
            description="Time to first answer token: from the request's first byte written to"
            " the first chunk of the answer itself (text, a refusal or a tool call), not"
            " reasoning"
            " (docs/design.md#answer-ttft). The same as ttft_seconds when no reasoning is"
            " streamed first. Null when no answer came, and for probes stored before it existed."
        ),
    ] = None
    kind: Annotated[
        str,
        Field(
            description="The probe kind (docs/design.md#probe-kinds): 'short' for the plain"
            " prompt, else a kind's name, whose prompt is about its input_tokens long"
            " (input_tokens says how long the provider counted it)."
        ),
    ] = "short"
    stamp_source: Annotated[
        str | None,
        Field(
            description="Where the arrival times came from (docs/design.md#arrival-time):"
            " 'kernel' when every read of the response carried the kernel's receive stamp,"
            " 'loop' when one was stamped when the process read it instead (no kernel stamps"
            " on this system). Null when nothing arrived, and for probes stored before it"
            " existed."
        ),
    ] = None
    first_token_queued: Annotated[
        bool | None,
        Field(
            description="True when the first content chunk reached the process in one read"
            " with the next ones (they queued behind it while it was not read): its stamp is"
            " that of the newest of them, so ttft_seconds may be late by up to their spacing,"
            " and output speed is measured from the last of them (docs/design.md#arrival-time)."
            " Null without content, and for probes stored before it existed."
        ),
    ] = None
