"""Ground-truth records: the derived TTFT and speed, and the bounded history."""

from __future__ import annotations

import pytest

from monitor.simulator.truth import TruthRecord, TruthStore


def record(request_id: str = "r", **fields: object) -> TruthRecord:
    base = TruthRecord(
        request_id=request_id,
        endpoint="e",
        flavor="openai",
        api="chat_completions",
        stream=True,
        received_ns=1_000_000_000,
    )
    for name, value in fields.items():
        setattr(base, name, value)
    return base


def test_ttft_runs_from_first_byte_received_to_first_content_sent() -> None:
    truth = record(first_content_sent_ns=1_250_000_000).snapshot()

    assert truth.ttft_seconds == pytest.approx(0.25)


def test_speed_counts_tokens_after_the_first_chunk_design_section_2() -> None:
    # 40 tokens in 20 chunks: 38 tokens after the first chunk, over 0.5 s.
    truth = record(
        first_content_sent_ns=2_000_000_000,
        last_content_sent_ns=2_500_000_000,
        content_chunks=20,
        first_write_chunks=1,
        output_tokens=40,
    ).snapshot()

    assert truth.output_tokens_per_second == pytest.approx(76.0)


def test_speed_counts_the_chunks_of_a_burst_as_arriving_together() -> None:
    # 40 tokens in 20 chunks sent 4 at a time: 32 tokens after the first write, over 0.5 s.
    truth = record(
        first_content_sent_ns=2_000_000_000,
        last_content_sent_ns=2_500_000_000,
        content_chunks=20,
        first_write_chunks=4,
        output_tokens=40,
    ).snapshot()

    assert truth.output_tokens_per_second == pytest.approx(64.0)


@pytest.mark.parametrize("chunks", [0, 1])
def test_speed_is_none_below_two_chunks(chunks: int) -> None:
    truth = record(
        first_content_sent_ns=2, last_content_sent_ns=3, content_chunks=chunks, output_tokens=5
    ).snapshot()

    assert truth.output_tokens_per_second is None


def test_no_content_means_no_ttft() -> None:
    assert record().snapshot().ttft_seconds is None


def test_store_finds_records_by_alias_and_forgets_the_oldest() -> None:
    store = TruthStore(capacity=2)
    store.add(record("a", aliases=("a-alias",)))
    store.add(record("b"))

    assert store.get("a-alias") is not None
    store.add(record("c"))

    assert store.get("a") is None
    assert store.get("a-alias") is None
    assert [truth.request_id for truth in store.recent(10)] == ["c", "b"]
    assert len(store) == 2


def test_recent_filters_by_endpoint_and_limits() -> None:
    store = TruthStore(capacity=10)
    for index in range(5):
        store.add(record(f"r{index}", endpoint="x" if index % 2 else "y"))

    assert [truth.request_id for truth in store.recent(1, "x")] == ["r3"]
    assert [truth.request_id for truth in store.recent(10, "y")] == ["r4", "r2", "r0"]


def test_snapshot_is_a_copy() -> None:
    live = record()
    truth = live.snapshot()
    live.output_tokens = 9

    assert truth.output_tokens == 0
    assert truth.to_json()["aliases"] == []
