"""The provider APIs the monitor probes: their ids in the config and how people name them
(pure). The config's validation, the probes' provider registry and the HTTP API's documents
read them here."""

from __future__ import annotations

from typing import Literal, get_args

#: A provider's id, as the config's ``provider:`` key writes it.
ProviderId = Literal["openai", "azure", "openai_compatible"]
#: Every provider id, in the order the README lists them.
PROVIDER_IDS: tuple[ProviderId, ...] = get_args(ProviderId)
#: How people name each provider (a profile's "available via OpenAI, Azure").
PROVIDER_DISPLAY_NAMES: dict[str, str] = {
    "openai": "OpenAI",
    "azure": "Azure",
    "openai_compatible": "OpenAI-compatible",
}
#: The providers whose endpoints may have no key (a local server or a gateway that needs none).
KEY_OPTIONAL: frozenset[str] = frozenset({"openai_compatible"})

# --- Azure OpenAI api-versions ------------------------------------------------------------------

#: The api-version of an Azure endpoint whose config names none (a GA version).
AZURE_DEFAULT_API_VERSION = "2024-10-21"
#: The ``api_version`` that selects Azure's v1 API: ``/openai/v1/...``, no deployment in the path.
AZURE_V1_API = "v1"
#: The first api-version (2024-09-01-preview) that takes ``stream_options``; older ones answer
#: it with a 400.
AZURE_FIRST_VERSION_WITH_STREAM_USAGE = "2024-09-01"
#: The first api-version (2024-09-01-preview) that takes ``max_completion_tokens``.
AZURE_FIRST_VERSION_WITH_MAX_COMPLETION_TOKENS = "2024-09-01"


def azure_version_at_least(api_version: str, first: str) -> bool:
    """Whether ``api_version`` is ``first`` or newer. Dated versions compare as strings (a
    ``-preview`` suffix sorts after its date); ``v1``, ``preview`` or ``latest`` are newer than
    any date."""
    return not api_version[:1].isdigit() or api_version >= first
