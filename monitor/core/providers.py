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
