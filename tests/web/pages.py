"""The page tests' world: its models and endpoints, the HTTP app over it (in process, through
``httpx.ASGITransport``) and a reader of its pages; the fixtures ``world`` and ``client`` are in
conftest.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from monitor.api.app import create_app
from monitor.config import Config
from tests.web.markup import Element, check_page
from tests.web.world import NOW, View, world_config

MODELS: list[dict[str, Any]] = [
    {
        "id": "gpt-4.1-nano",
        "name": "OpenAI: GPT-4.1 Nano",
        "creator": "openai",
        "release_date": "2025-04-14",
        "pricing": {
            "input_per_million": 0.10,
            "output_per_million": 0.40,
            "cached_input_per_million": 0.025,
        },
        "context_window": 1047576,
        "max_output_tokens": 32768,
        "modality": "text+image+file->text",
        "capabilities": ["tool_use", "vision"],
        "metadata": {"mmlu": 0.801, "family": "GPT-4.1"},
    },
    {"id": "gpt-4o-mini", "name": "OpenAI: GPT-4o mini"},
    {"id": "llama", "name": "Llama through a gateway"},
    {"id": "fresh-model"},
]
ENDPOINTS: list[dict[str, Any]] = [
    {
        "id": "openai",
        "model": "gpt-4.1-nano",
        "provider": "openai",
        "base_url": "http://127.0.0.1:9/v1",
        "api_key_env": "K",
    },
    {
        "id": "azure-eastus",
        "model": "gpt-4.1-nano",
        "provider": "azure",
        "base_url": "http://127.0.0.1:9",
        "deployment": "nano",
        "region": "eastus",
        "api_key_env": "K",
    },
    {
        "id": "mini-openai",
        "model": "gpt-4o-mini",
        "provider": "openai",
        "base_url": "http://127.0.0.1:9/v1",
        "api_key_env": "K",
    },
    {
        "id": "mini-azure",
        "model": "gpt-4o-mini",
        "provider": "azure",
        "base_url": "http://127.0.0.1:9",
        "deployment": "mini",
        "region": "swedencentral",
        "api_key_env": "K",
    },
    {
        "id": "gateway",
        "model": "llama",
        "provider": "openai_compatible",
        "base_url": "http://127.0.0.1:9/v1",
        "auth": "none",
    },
    {
        "id": "fresh",
        "model": "fresh-model",
        "provider": "openai",
        "base_url": "http://127.0.0.1:9/v1",
        "api_key_env": "K",
    },
]
#: mini-azure failed its last window and its last probe; the gateway never succeeded; the
#: fresh endpoint was never probed (its model has no data at all).
FAILING = ("mini-azure", "gateway")
NEVER = ("gateway",)
UNPROBED = ("fresh",)


def config_at(tmp_path: Path, **sections: Any) -> Config:
    """The world's config over a store in ``tmp_path``."""
    return world_config(f"sqlite:///{tmp_path / 'pages.db'}", ENDPOINTS, MODELS, **sections)


async def client_of(view: View) -> httpx.AsyncClient:
    app = create_app(view, clock=lambda: NOW)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://monitor")


async def page(client: httpx.AsyncClient, url: str, status: int = 200) -> Element:
    """The page at ``url``, checked (``check_page``) and parsed."""
    response = await client.get(url)
    assert response.status_code == status, (url, response.status_code, response.text[:2000])
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    return check_page(response.text)
