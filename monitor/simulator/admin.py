"""``/_simulator/…`` routes: health, ground truth, recent requests and run-time mode changes.

They need no key but answer only loopback clients::

    GET  /_simulator/health
    GET  /_simulator/endpoints
    POST /_simulator/endpoints/{id}/mode      {"mode": "server_error"}   ({"mode": null} resets)
         (with "user_agent": "location b", only requests whose User-Agent contains it)
    GET  /_simulator/requests?limit=50&endpoint={id}
    GET  /_simulator/requests/{request_id}
"""

from __future__ import annotations

import ipaddress
import json
from typing import TYPE_CHECKING

from monitor.simulator.config import Behaviour
from monitor.simulator.http11 import Request
from monitor.simulator.wire import compact

if TYPE_CHECKING:
    from monitor.simulator.server import Simulator


def is_loopback(address: str) -> bool:
    """Whether a peer address is on this machine (IPv4, IPv6 or IPv4-mapped IPv6)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def _error(status: int, message: str) -> tuple[int, bytes]:
    return status, compact({"error": {"message": message}})


def admin_response(sim: Simulator, request: Request, peer: str) -> tuple[int, bytes]:
    """The status and JSON body of an admin request."""
    if not is_loopback(peer):
        return _error(403, "the simulator admin API answers loopback clients only")
    parts = [part for part in request.path.split("/") if part][1:]
    method = request.method
    if parts == ["health"] and method == "GET":
        return 200, compact(
            {
                "status": "ok",
                "uptime_seconds": round(sim.uptime, 3),
                "endpoints": _endpoints(sim),
            }
        )
    if parts == ["endpoints"] and method == "GET":
        return 200, compact({"endpoints": _endpoints(sim)})
    if len(parts) == 3 and parts[0] == "endpoints" and parts[2] == "mode" and method == "POST":
        return _set_mode(sim, parts[1], request.body)
    if parts == ["requests"] and method == "GET":
        return _recent(sim, request)
    if len(parts) == 2 and parts[0] == "requests" and method == "GET":
        truth = sim.truth(parts[1])
        if truth is None:
            return _error(404, f"no request {parts[1]!r} (unknown, or evicted from history)")
        return 200, compact(truth.to_json())
    return _error(404, f"no admin route {method} {request.path}")


def _endpoints(sim: Simulator) -> list[dict[str, object]]:
    return [
        {
            "id": endpoint.id,
            "flavor": endpoint.flavor.value,
            "model": endpoint.model,
            "mode": sim.mode(endpoint.id).value,
            "mode_for_user_agent": sim.forced_for(endpoint.id),
            "url": sim.endpoint_url(endpoint.id),
        }
        for endpoint in sim.config.endpoints
    ]


def _set_mode(sim: Simulator, endpoint_id: str, body: bytes) -> tuple[int, bytes]:
    try:
        payload = json.loads(body or b"null")
    except ValueError:
        return _error(400, 'the body must be JSON like {"mode": "server_error"}')
    if not isinstance(payload, dict) or "mode" not in payload:
        return _error(400, 'the body must be JSON like {"mode": "server_error"}')
    mode = payload["mode"]
    if mode is not None and mode not in {b.value for b in Behaviour}:
        known = ", ".join(b.value for b in Behaviour)
        return _error(400, f"unknown mode {mode!r}; known: {known}")
    user_agent = payload.get("user_agent")
    if user_agent is not None and (not isinstance(user_agent, str) or not user_agent):
        return _error(400, "user_agent must be a non-empty string (a part of the User-Agent)")
    try:
        sim.set_mode(endpoint_id, mode, user_agent)
    except KeyError:
        return _error(404, f"no endpoint {endpoint_id!r}")
    return 200, compact(
        {
            "endpoint": endpoint_id,
            "mode": sim.mode(endpoint_id).value,
            "mode_for_user_agent": sim.forced_for(endpoint_id),
        }
    )


def _recent(sim: Simulator, request: Request) -> tuple[int, bytes]:
    try:
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        return _error(400, "limit must be an integer")
    if not 1 <= limit <= 10_000:
        return _error(400, "limit must be between 1 and 10000")
    endpoint = request.query.get("endpoint") or None
    found = sim.recent(limit, endpoint)
    return 200, compact({"requests": [truth.to_json() for truth in found]})
