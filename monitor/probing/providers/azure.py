"""Azure OpenAI: deployment URLs with ``api-version``, the v1 API, keys or Entra ID tokens."""

from __future__ import annotations

from urllib.parse import quote

from monitor.config import Endpoint
from monitor.core.providers import (
    AZURE_FIRST_VERSION_WITH_STREAM_USAGE,
    AZURE_V1_API,
    azure_version_at_least,
)
from monitor.probing.providers.base import ProbeRequest, common_headers, request_body


def azure_url(endpoint: Endpoint) -> str:
    """The URL a probe posts to."""
    base = endpoint.base_url
    if endpoint.api_version == AZURE_V1_API:
        base = base.removesuffix("/openai/v1").removesuffix("/openai")
        path = "/responses" if endpoint.api == "responses" else "/chat/completions"
        return f"{base}/openai/v1{path}"
    base = base.removesuffix("/openai")
    deployment = quote(endpoint.deployment or "", safe="")
    version = quote(endpoint.api_version or "", safe="")
    return f"{base}/openai/deployments/{deployment}/chat/completions?api-version={version}"


def supports_stream_usage(api_version: str | None) -> bool:
    """Whether this api-version takes ``stream_options: {include_usage: true}``."""
    if api_version is None:
        return False
    return azure_version_at_least(api_version, AZURE_FIRST_VERSION_WITH_STREAM_USAGE)


class AzureProvider:
    """Azure OpenAI Service."""

    def build_request(
        self, endpoint: Endpoint, *, prompt: str, probe_id: str, credential: str | None
    ) -> ProbeRequest:
        """The request that probes ``endpoint`` once."""
        if credential is None:
            raise ValueError(f"endpoint {endpoint.id} has no credential")
        headers = common_headers(endpoint, probe_id)
        headers["x-ms-client-request-id"] = probe_id
        if endpoint.auth == "entra_id":
            headers["authorization"] = f"Bearer {credential}"
        else:
            headers["api-key"] = credential
        include_usage = endpoint.probe.stream_usage and supports_stream_usage(endpoint.api_version)
        return ProbeRequest(
            url=azure_url(endpoint),
            headers=headers,
            body=request_body(endpoint, prompt, include_usage=include_usage),
            include_usage=include_usage,
        )
