"""Where a probe's credential comes from: the endpoint's API key, or an Entra ID token."""

from __future__ import annotations

import time
from typing import Any, Protocol

from monitor.config import Endpoint
from monitor.core.errors import ConfigError

#: The scope of Azure OpenAI (Cognitive Services) access tokens.
AZURE_SCOPE = "https://cognitiveservices.azure.com/.default"
#: Refresh a token this long before it expires, so no probe waits on a refresh mid-flight.
REFRESH_MARGIN_SECONDS = 300


class TokenSource(Protocol):
    """Anything with azure-identity's async ``get_token(scope)``."""

    async def get_token(self, *scopes: str) -> Any:
        """An access token object with ``.token`` and ``.expires_on`` (epoch seconds)."""


class Credentials:
    """Hands each probe its credential; Entra ID tokens are cached until near expiry."""

    def __init__(self, token_source: TokenSource | None = None) -> None:
        self._token_source = token_source
        self._token: str | None = None
        self._expires_on = 0.0

    async def credential(self, endpoint: Endpoint) -> str | None:
        """The secret to send, or None for an endpoint without authentication."""
        if endpoint.auth == "entra_id":
            return await self._entra_token()
        return endpoint.api_key.get_secret_value() if endpoint.api_key else None

    async def _entra_token(self) -> str:
        if self._token is not None and time.time() < self._expires_on - REFRESH_MARGIN_SECONDS:
            return self._token
        if self._token_source is None:
            self._token_source = default_token_source()
        token = await self._token_source.get_token(AZURE_SCOPE)
        self._token = str(token.token)
        self._expires_on = float(token.expires_on)
        return self._token


def default_token_source() -> TokenSource:
    """azure-identity's DefaultAzureCredential (the ``entra`` extra)."""
    try:
        from azure.identity.aio import DefaultAzureCredential  # type: ignore[import-not-found]
    except ImportError:
        raise ConfigError(
            [
                "auth: entra_id needs the azure-identity package:"
                " pip install 'llm-endpoint-monitor[entra]'"
            ]
        ) from None
    source: TokenSource = DefaultAzureCredential()
    return source
