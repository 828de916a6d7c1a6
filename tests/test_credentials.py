"""Credentials: API keys from the config, Entra ID tokens cached until near expiry."""

from __future__ import annotations

import time
from dataclasses import dataclass

from monitor.config import parse_config
from monitor.probing.credentials import AZURE_SCOPE, Credentials

CONFIG = """
models: [{id: m}]
endpoints:
  - {id: key, model: m, provider: azure, base_url: "https://r", deployment: d, api_key_env: K}
  - {id: entra, model: m, provider: azure, base_url: "https://r", deployment: d, auth: entra_id}
  - {id: open, model: m, provider: openai_compatible, base_url: "http://h/v1"}
"""


@dataclass
class _Token:
    token: str
    expires_on: float


class _FakeEntra:
    """Stands in for azure-identity, which needs Microsoft Entra ID (unreachable here)."""

    def __init__(self, lifetime: float) -> None:
        self.lifetime = lifetime
        self.calls: list[tuple[str, ...]] = []

    async def get_token(self, *scopes: str) -> _Token:
        self.calls.append(scopes)
        return _Token(f"token-{len(self.calls)}", time.time() + self.lifetime)


async def test_api_key_and_keyless_endpoints() -> None:
    key, _entra, open_ = parse_config(CONFIG, environ={"K": "the-key"}).endpoints
    credentials = Credentials()
    assert await credentials.credential(key) == "the-key"
    assert await credentials.credential(open_) is None


async def test_entra_tokens_are_cached_until_near_expiry() -> None:
    _key, entra, _open = parse_config(CONFIG, environ={"K": "k"}).endpoints
    source = _FakeEntra(lifetime=3600)
    credentials = Credentials(source)
    assert await credentials.credential(entra) == "token-1"
    assert await credentials.credential(entra) == "token-1"
    assert source.calls == [(AZURE_SCOPE,)]

    expiring = _FakeEntra(lifetime=60)  # inside the refresh margin: fetched every time
    credentials = Credentials(expiring)
    await credentials.credential(entra)
    assert await credentials.credential(entra) == "token-2"
