"""A monitored world for the page tests: a config of endpoints across models, a real SQLite
store holding their rollups (and a few probes), and the daemon's view of it at a fixed moment.

Rollups are written directly (what the window job would have written), so that a world of a
thousand endpoints and days of windows is built in seconds; the last probe of each endpoint is
stored too, and kept in the view's memory as the daemon keeps it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from monitor.config import Config, parse_config
from monitor.core.outcomes import Outcome
from monitor.core.result import ProbeResult
from monitor.core.rollup import Distribution, EndpointRollup
from monitor.service.aggregator import Snapshot, snapshot
from monitor.store import Store, open_store
from tests.store.factories import bare_probe, make_probe

#: The moment the world is read at: 12:31 UTC, so 12:00–12:30 is the last complete window.
NOW = datetime(2025, 6, 1, 12, 31, tzinfo=UTC)
LAST_WINDOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=30)


@dataclass
class View:
    """A ``MonitorView`` like the daemon's: a real store, a snapshot, the last probes."""

    config: Config
    store: Store
    current: Snapshot | None
    last: dict[str, ProbeResult] = field(default_factory=dict)
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def snapshot(self) -> Snapshot | None:
        return self.current

    def last_probes(self) -> Mapping[str, ProbeResult]:
        return self.last

    def budget(self) -> None:
        return None

    def problems(self) -> list[str]:
        return []


def endpoint_spec(index: int, model: str) -> dict[str, Any]:
    """The config entry of the ``index``-th endpoint: OpenAI and Azure in turn."""
    if index % 2 == 0:
        return {
            "id": f"ep-{index:04d}",
            "model": model,
            "provider": "openai",
            "base_url": "http://127.0.0.1:9/v1",
            "api_key_env": "K",
        }
    return {
        "id": f"ep-{index:04d}",
        "model": model,
        "provider": "azure",
        "base_url": "http://127.0.0.1:9",
        "deployment": "d",
        "region": "eastus",
        "api_key_env": "K",
    }


def world_config(
    url: str,
    endpoints: Sequence[dict[str, Any]],
    models: Sequence[dict[str, Any]],
    **sections: Any,
) -> Config:
    """A config of these models and endpoints over the store at ``url``."""
    raw: dict[str, Any] = {
        "storage": {"url": url},
        "probe": {"interval": "60s", "timeout": "10s"},
        "rollup": {"window": "30m"},
        "models": list(models),
        "endpoints": list(endpoints),
        **sections,
    }
    return parse_config(yaml.safe_dump(raw), resolve_secrets=False)


def rollup(
    endpoint: str,
    model: str,
    provider: str,
    region: str | None,
    start: datetime,
    *,
    successes: int,
    failures: Mapping[str, int] | None = None,
    ttft: float = 0.5,
    speed: float = 100.0,
) -> EndpointRollup:
    """A rollup of one 30-minute window with these counts and p50s (p95 = 1.5 × p50)."""
    outcomes = {"success": successes, **(failures or {})}
    outcomes = {k: v for k, v in sorted(outcomes.items()) if v}
    down = sum(v for k, v in outcomes.items() if k in ("timeout", "server_error", "rate_limited"))
    counted = successes + down
    return EndpointRollup(
        endpoint=endpoint,
        model=model,
        provider=provider,
        region=region,
        window_start=start,
        window_seconds=1800,
        probes=sum(outcomes.values()),
        successes=successes,
        outcomes=outcomes,
        uptime_ratio=successes / counted if counted else None,
        ttft=_distribution(successes, ttft),
        speed=_distribution(successes, speed),
        latency=_distribution(successes, ttft + 1.0),
        output_tokens=64 * successes,
        input_tokens=20 * sum(outcomes.values()),
        cost_usd=0.0,
        computed_at=start + WINDOW,
    )


def _distribution(count: int, p50: float) -> Distribution:
    """Successes' statistics around ``p50`` (none without a success)."""
    if not count:
        return Distribution()
    return Distribution(count, p50, p50 * 1.3, p50 * 1.5, p50 * 1.8, p50 * 0.8, p50 * 2.0, p50)


def history(
    config: Config,
    windows: int,
    *,
    seed: int = 7,
    failing: Sequence[str] = (),
    never: Sequence[str] = (),
) -> Iterator[EndpointRollup]:
    """``windows`` windows of rollups up to the last complete one for every endpoint: mostly
    up with a failure now and then; ``failing`` endpoints fail their last window whole;
    ``never`` endpoints never succeeded."""
    rng = random.Random(seed)
    for e in config.endpoints:
        base = 0.3 + rng.random() * 0.6
        speed = 60 + rng.random() * 120
        for k in range(windows):
            start = LAST_WINDOW - (windows - 1 - k) * WINDOW
            if e.id in never:
                ok, bad = 0, {"server_error": 30}
            elif e.id in failing and k == windows - 1:
                ok, bad = 0, {"timeout": 30}
            else:
                errors = rng.choice([0] * 12 + [1, 2])
                ok, bad = 30 - errors, {"server_error": errors}
            yield rollup(
                e.id,
                e.model.id,
                e.provider,
                e.region,
                start,
                successes=ok,
                failures=bad,
                ttft=base * (0.9 + rng.random() * 0.2),
                speed=speed * (0.9 + rng.random() * 0.2),
            )


def last_probe(
    e_id: str, model: str, provider: str, region: str | None, *, ok: bool
) -> ProbeResult:
    """A probe of the endpoint a minute before ``NOW``."""
    at = NOW - timedelta(minutes=1)
    if ok:
        return make_probe(
            endpoint=e_id,
            model=model,
            provider=provider,
            region=region,
            started_at=at,
            error=None,
            ttft_seconds=0.5,
        )
    return bare_probe(
        endpoint=e_id,
        model=model,
        provider=provider,
        region=region,
        started_at=at,
        outcome=Outcome.SERVER_ERROR,
        http_status=503,
        error="HTTP 503: the deployment is overloaded",
        duration_seconds=0.2,
    )


def build(
    config: Config,
    rollups: Iterator[EndpointRollup] | Sequence[EndpointRollup],
    *,
    failing: Sequence[str] = (),
    unprobed: Sequence[str] = (),
    now: datetime = NOW,
    probes: bool = True,
    published: bool = True,
) -> View:
    """The store of ``config`` filled with ``rollups`` (none of the ``unprobed`` endpoints')
    and each endpoint's last probe (a failure for the ``failing`` ones, none for the
    ``unprobed`` ones), and the view the daemon would give of it at ``now`` (without a
    published snapshot unless ``published``)."""
    store = open_store(config.schema.storage.url)
    store.upgrade()
    batch: list[EndpointRollup] = []
    for r in rollups:
        if r.endpoint in unprobed:
            continue
        batch.append(r)
        if len(batch) >= 5000:
            store.upsert_rollups(batch)
            batch = []
    store.upsert_rollups(batch)
    last: dict[str, ProbeResult] = {}
    if probes:
        for e in config.endpoints:
            if e.id in unprobed:
                continue
            last[e.id] = last_probe(e.id, e.model.id, e.provider, e.region, ok=e.id not in failing)
        store.add_probes(list(last.values()))
    current = snapshot(config, store, now) if published else None
    return View(config, store, current, last)
