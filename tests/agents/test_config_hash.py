"""The config hash an agent writes with its heartbeat follows its config: computed once per
config (a config of 5,000 endpoints takes tens of milliseconds to hash), and anew after a
reload puts another config in its place."""

from __future__ import annotations

from pathlib import Path

import yaml

from monitor.config import Config, parse_config
from monitor.service.membership import Membership, config_hash
from monitor.store import open_store


def _config(endpoints: list[str]) -> Config:
    raw = {
        "agent": {"name": "solo", "location": "here"},
        "models": [{"id": "gpt-4.1-nano"}],
        "endpoints": [
            {"id": e, "model": "gpt-4.1-nano", "provider": "openai_compatible",
             "base_url": "http://127.0.0.1:9/v1", "auth": "none"}
            for e in endpoints
        ],
    }  # fmt: skip
    return parse_config(yaml.safe_dump(raw))


def _written_hash(store_url: str) -> str:
    store = open_store(store_url)
    try:
        (record,) = store.agents()
        return record.config_hash
    finally:
        store.close()


def test_the_heartbeat_carries_the_hash_of_the_config_in_force(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'monitor.db'}"
    first, reloaded = _config(["a"]), _config(["a", "b"])
    assert config_hash(first) != config_hash(reloaded)
    store = open_store(url)
    try:
        store.upgrade()
        membership = Membership(config=first, store=store)
        membership.beat()
        assert _written_hash(url) == config_hash(first)
        membership.beat()
        assert _written_hash(url) == config_hash(first)
        membership.config = reloaded  # what a reload does
        membership.beat()
        assert _written_hash(url) == config_hash(reloaded)
    finally:
        store.close()
