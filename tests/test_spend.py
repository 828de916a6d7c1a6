"""What probing costs a day (docs/design.md#probe-spend): the estimate is the pricing arithmetic,
``check-config`` prints it per endpoint and in all, and a config over its
``probe.budget_usd_per_day`` is refused with the numbers."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import warnings
from pathlib import Path

import pytest
import yaml

from monitor.config import parse_config
from monitor.core.errors import ConfigError
from monitor.core.spend import PROMPT_PREFIX, estimate_spend, prompt_tokens, total_per_day

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # bpe-openai's own import warning
    import bpe_openai

PRICED = {"id": "nano", "pricing": {"input_per_million": 0.10, "output_per_million": 0.40}}


def _raw(**probe: object) -> dict[str, object]:
    return {
        "probe": probe,
        "models": [PRICED, {"id": "unpriced"}],
        "endpoints": [
            {"id": "fast", "model": "nano", "provider": "openai", "base_url": "https://x/v1",
             "api_key_env": "K", "interval": "10s", "timeout": "5s"},
            {"id": "long", "model": "nano", "provider": "openai", "base_url": "https://x/v1",
             "api_key_env": "K", "interval": "60s", "max_tokens": 500,
             "prompt": "Write a haiku about latency."},
            {"id": "free", "model": "unpriced", "provider": "openai", "base_url": "https://x/v1",
             "api_key_env": "K"},
        ],
    }  # fmt: skip


def test_the_estimate_is_probes_a_day_times_the_price_of_one_probe() -> None:
    config = parse_config(yaml.safe_dump(_raw()), environ={"K": "k"})
    fast, long, free = estimate_spend(config.endpoints)
    # 8,640 probes a day, each at most its prompt's tokens in and max_tokens (96) out.
    assert fast.probes_per_day == 8640 and fast.output_tokens == 96
    assert fast.usd_per_day == pytest.approx(
        8640 * (fast.input_tokens * 0.10 + 96 * 0.40) / 1e6, rel=1e-12
    )
    assert long.probes_per_day == 1440 and long.output_tokens == 500
    assert long.usd_per_day == pytest.approx(
        1440 * (long.input_tokens * 0.10 + 500 * 0.40) / 1e6, rel=1e-12
    )
    assert free.usd_per_day is None  # no pricing: unknown, not free
    assert total_per_day([fast, long, free]) == pytest.approx(
        (fast.usd_per_day or 0) + (long.usd_per_day or 0)
    )


@pytest.mark.parametrize("encoding", ["cl100k_base", "o200k_base"])
@pytest.mark.parametrize(
    "prompt",
    ["Count from 1 to 40, separated by spaces.", "Write a haiku about latency.",
     "Summarise the following paragraph in one sentence: " + "the quick brown fox " * 50],
)  # fmt: skip
def test_the_input_estimate_is_near_the_tokenizers_count(prompt: str, encoding: str) -> None:
    # What OpenAI's tokenizers make of the prompt as a probe sends it, plus the message's
    # framing: the estimate (made without a tokenizer) stays within a quarter of it.
    real = len(bpe_openai.get_encoding(encoding).encode(PROMPT_PREFIX + prompt)) + 7
    assert prompt_tokens(prompt) == pytest.approx(real, rel=0.25)


def test_a_config_over_its_budget_is_refused_with_the_numbers() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml.safe_dump(_raw(budget_usd_per_day=0.1)), environ={"K": "k"})
    (problem,) = caught.value.problems
    assert problem.startswith("probe.budget_usd_per_day: the probes would cost up to $0.")
    assert "over the budget of $0.10" in problem and "fast $0." in problem
    # Under it (or without one), the same config is valid.
    parse_config(yaml.safe_dump(_raw(budget_usd_per_day=5)), environ={"K": "k"})
    with pytest.raises(ConfigError, match="budget_usd_per_day"):
        parse_config(yaml.safe_dump(_raw(budget_usd_per_day=0)), environ={"K": "k"})


async def test_check_config_prints_each_endpoints_spend_and_the_total(tmp_path: Path) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(_raw(budget_usd_per_day=5)), encoding="utf-8")
    config = parse_config(path.read_text(), environ={"K": "k"})
    fast, long, _free = estimate_spend(config.endpoints)
    env = {k: v for k, v in os.environ.items() if k != "LLM_MONITOR_CONFIG"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "check-config", str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**env, "K": "k"},
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    row = {line.split()[0]: line.split() for line in lines if line.split()}
    assert row["fast"][1:4] == ["nano", "8,640", f"{fast.input_tokens}/96"]
    assert row["fast"][4] == f"${fast.usd_per_day:,.2f}"
    assert row["long"][4] == f"${long.usd_per_day:,.2f}"
    assert row["free"][4:] == ["unknown", "(no", "pricing)"]
    total = (fast.usd_per_day or 0) + (long.usd_per_day or 0)
    assert lines[-1] == (
        f"Total: ${total:,.2f} a day at most (not counted, their models have no pricing: free);"
        " budget $5.00 a day (probe.budget_usd_per_day)"
    )


def test_reports_show_the_last_24_hours_spend_against_the_budget(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from monitor.reports.build import build_report
    from monitor.reports.formats import render_json, render_markdown
    from monitor.store import open_store
    from tests.store.factories import make_probe

    raw = _raw(budget_usd_per_day=5)
    raw["storage"] = {"url": f"sqlite:///{tmp_path / 'm.db'}"}
    config = parse_config(yaml.safe_dump(raw), environ={"K": "k"})
    store = open_store(config.schema.storage.url)
    store.upgrade()
    now = datetime(2026, 12, 5, 12, 41, tzinfo=UTC)
    end = datetime(2026, 12, 5, 12, 30, tzinfo=UTC)  # the end of the last complete window
    store.add_probes(
        [
            make_probe(endpoint="fast", started_at=end - timedelta(hours=2), cost_usd=4.0),
            make_probe(endpoint="long", started_at=end - timedelta(hours=23), cost_usd=2.5),
            make_probe(endpoint="long", started_at=end - timedelta(hours=25), cost_usd=9.0),
            make_probe(endpoint="fast", started_at=end + timedelta(minutes=5), cost_usd=9.0),
        ]
    )
    report = build_report(config, store, now=now)
    store.close()
    assert report.until == end
    # $6.50 from the 24 h before the end: not the older probe, not the one after the end.
    assert "Probe spend in the 24 h to the end: $6.50 of the $5.00 budget a day (reached:" in (
        render_markdown(report)
    )
    spend = json.loads(render_json(report))["probe_spend"]
    assert spend == {"spent_usd": 6.5, "budget_usd_per_day": 5.0, "exhausted": True}
