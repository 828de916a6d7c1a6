"""What every provider module offers, and the request bodies the APIs share."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from monitor import __version__
from monitor.config import Endpoint

#: The ``User-Agent`` of probes made without an agent identity (the runner sets its agent's).
USER_AGENT = f"llm-monitor/{__version__}"


@dataclass(frozen=True, slots=True)
class ProbeRequest:
    """An HTTP request ready to send; ``headers`` may hold a credential, so never log them."""

    url: str
    headers: dict[str, str]
    body: bytes
    include_usage: bool


class Provider(Protocol):
    """Builds the probe request of one provider's API."""

    def build_request(
        self, endpoint: Endpoint, *, prompt: str, probe_id: str, credential: str | None
    ) -> ProbeRequest:
        """The request that probes ``endpoint`` once."""


def probe_prompt(endpoint: Endpoint, probe_id: str) -> str:
    """The configured prompt behind a unique prefix, so no provider answers from a prompt cache."""
    return f"[probe {probe_id[:12]}] {endpoint.probe.prompt}"


def common_headers(endpoint: Endpoint, probe_id: str) -> dict[str, str]:
    """Headers every probe sends, before the provider adds its credential."""
    return {
        **endpoint.probe.headers,
        "content-type": "application/json",
        "accept": "text/event-stream",
        # Timing is stamped on raw socket bytes: a compressed body would hide the chunks.
        "accept-encoding": "identity",
        "user-agent": USER_AGENT,
        "x-client-request-id": probe_id,
    }


def request_body(endpoint: Endpoint, prompt: str, *, include_usage: bool) -> bytes:
    """The JSON body of a streaming probe for the endpoint's API."""
    settings = endpoint.probe
    body: dict[str, Any] = {"model": endpoint.request_model}
    if endpoint.api == "responses":
        body.update(
            input=prompt,
            stream=True,
            max_output_tokens=settings.max_tokens,
            # Probes are throw-away: do not keep them on the provider's side.
            store=False,
        )
    else:
        body.update(messages=[{"role": "user", "content": prompt}], stream=True)
        if include_usage:
            body["stream_options"] = {"include_usage": True}
        body[settings.max_tokens_param] = settings.max_tokens
    if settings.temperature is not None:
        body["temperature"] = settings.temperature
    return json.dumps(body, separators=(",", ":")).encode()
