"""Ground truth: what the simulator sent for each request, and exactly when.

Timestamps are ``time.perf_counter_ns()`` (CLOCK_MONOTONIC on Linux, so comparable with a client
in another process on the same machine). ``received_ns`` is stamped when the request's first
byte reaches ``data_received``, before any parsing; the ``*_sent_ns`` stamps are taken right after
the transport write that carried the bytes. The derived speed is the monitor's output speed
(README: Measurement): with N output tokens over C content chunks, N*(C-1)/C tokens over
(last - first) content send times.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass


@dataclass(slots=True)
class TruthRecord:
    """The mutable record the server fills in while it answers one request."""

    request_id: str
    endpoint: str
    flavor: str
    api: str
    stream: bool
    received_ns: int
    aliases: tuple[str, ...] = ()
    include_usage: bool = False
    behaviour: str | None = None
    status: int | None = None
    error_code: str | None = None
    planned_ttft_seconds: float | None = None
    planned_tokens_per_second: float | None = None
    planned_output_tokens: int | None = None
    #: Reasoning tokens of the plan (streamed or hidden); 0 without reasoning.
    reasoning_tokens: int = 0
    headers_sent_ns: int | None = None
    #: The first content chunk of any kind (reasoning included), as the monitor's TTFT counts.
    first_content_sent_ns: int | None = None
    #: The first chunk of the answer (not reasoning), as the monitor's answer TTFT counts.
    first_answer_sent_ns: int | None = None
    last_content_sent_ns: int | None = None
    done_sent_ns: int | None = None
    closed_ns: int | None = None
    content_chunks: int = 0
    #: Content chunks sent in the first one's write (a burst sends several at once).
    first_write_chunks: int = 0
    output_tokens: int = 0
    text: str = ""
    finish_reason: str | None = None
    usage_completion_tokens: int | None = None
    usage_prompt_tokens: int | None = None
    ending: str | None = None

    def snapshot(self) -> RequestTruth:
        """A frozen copy with the derived numbers."""
        return RequestTruth(
            **asdict(self),
            ttft_seconds=_ttft(self),
            output_tokens_per_second=_speed(self),
            answer_ttft_seconds=_since_received(self, self.first_answer_sent_ns),
        )


@dataclass(frozen=True, slots=True)
class RequestTruth:
    """A frozen copy of ``TruthRecord`` plus the derived TTFT and output speed."""

    request_id: str
    endpoint: str
    flavor: str
    api: str
    stream: bool
    received_ns: int
    aliases: tuple[str, ...]
    include_usage: bool
    behaviour: str | None
    status: int | None
    error_code: str | None
    planned_ttft_seconds: float | None
    planned_tokens_per_second: float | None
    planned_output_tokens: int | None
    reasoning_tokens: int
    headers_sent_ns: int | None
    first_content_sent_ns: int | None
    first_answer_sent_ns: int | None
    last_content_sent_ns: int | None
    done_sent_ns: int | None
    closed_ns: int | None
    content_chunks: int
    first_write_chunks: int
    output_tokens: int
    text: str
    finish_reason: str | None
    usage_completion_tokens: int | None
    usage_prompt_tokens: int | None
    ending: str | None
    ttft_seconds: float | None
    output_tokens_per_second: float | None
    answer_ttft_seconds: float | None

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict (tuples become lists)."""
        data = asdict(self)
        data["aliases"] = list(self.aliases)
        return data


def _ttft(record: TruthRecord) -> float | None:
    return _since_received(record, record.first_content_sent_ns)


def _since_received(record: TruthRecord, sent_ns: int | None) -> float | None:
    return None if sent_ns is None else (sent_ns - record.received_ns) / 1e9


def _speed(record: TruthRecord) -> float | None:
    chunks = record.content_chunks
    first, last = record.first_content_sent_ns, record.last_content_sent_ns
    if chunks < 2 or first is None or last is None or last <= first:
        return None
    # The tokens sent after the first write, as the monitor counts them
    # (docs/design.md#output-speed).
    after_first = record.output_tokens * (chunks - record.first_write_chunks) / chunks
    return after_first / ((last - first) / 1e9)


class TruthStore:
    """A bounded ring of records, found by any of their request ids."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._records: OrderedDict[str, TruthRecord] = OrderedDict()
        self._aliases: dict[str, str] = {}

    def add(self, record: TruthRecord) -> None:
        """Keep ``record``, dropping the oldest one past capacity."""
        self._records[record.request_id] = record
        for alias in record.aliases:
            self._aliases[alias] = record.request_id
        while len(self._records) > self._capacity:
            _, old = self._records.popitem(last=False)
            for alias in old.aliases:
                self._aliases.pop(alias, None)

    def get(self, request_id: str) -> RequestTruth | None:
        """The record with this id (or alias), or None if unknown or evicted."""
        record = self._records.get(request_id)
        if record is None:
            primary = self._aliases.get(request_id)
            record = None if primary is None else self._records.get(primary)
        return None if record is None else record.snapshot()

    def recent(self, limit: int, endpoint: str | None = None) -> list[RequestTruth]:
        """Up to ``limit`` records, newest first, optionally of one endpoint."""
        found: list[RequestTruth] = []
        for record in reversed(self._records.values()):
            if endpoint is None or record.endpoint == endpoint:
                found.append(record.snapshot())
                if len(found) >= limit:
                    break
        return found

    def __len__(self) -> int:
        return len(self._records)
