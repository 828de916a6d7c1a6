"""OpenAI: ``POST {base_url}/chat/completions`` or ``/responses`` with a bearer key."""

from __future__ import annotations

from monitor.config import Endpoint
from monitor.probing.providers.base import ProbeRequest, common_headers, request_body


class OpenAIProvider:
    """The OpenAI API (and servers that copy it exactly, with ``openai_compatible``)."""

    def __init__(self, *, key_required: bool = True) -> None:
        self._key_required = key_required

    def build_request(
        self, endpoint: Endpoint, *, prompt: str, probe_id: str, credential: str | None
    ) -> ProbeRequest:
        """The request that probes ``endpoint`` once."""
        if credential is None and self._key_required:
            raise ValueError(f"endpoint {endpoint.id} has no API key")
        headers = common_headers(endpoint, probe_id)
        if credential is not None:
            headers["authorization"] = f"Bearer {credential}"
        include_usage = endpoint.probe.stream_usage
        path = "/responses" if endpoint.api == "responses" else "/chat/completions"
        return ProbeRequest(
            url=endpoint.base_url + path,
            headers=headers,
            body=request_body(endpoint, prompt, include_usage=include_usage),
            include_usage=include_usage,
        )
