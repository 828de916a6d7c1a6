"""Provider registry: one module per provider API, one entry each in ``PROVIDERS`` for every id
of ``monitor.core.providers``."""

from __future__ import annotations

from monitor.core.providers import ProviderId
from monitor.probing.providers.azure import AzureProvider
from monitor.probing.providers.base import ProbeRequest, Provider, probe_prompt
from monitor.probing.providers.openai import OpenAIProvider

PROVIDERS: dict[ProviderId, Provider] = {
    "openai": OpenAIProvider(),
    "azure": AzureProvider(),
    "openai_compatible": OpenAIProvider(key_required=False),
}

__all__ = ["PROVIDERS", "ProbeRequest", "Provider", "probe_prompt"]
