"""Who probes, and from where: an agent's name and location (docs/design.md#agents).

An agent is one running ``llm-monitor run``. Its ``location`` is where it probes from (not an
endpoint's ``region``, which is where the provider serves). Both go on every probe it makes, in
its ``User-Agent`` and in the store, so several agents can share one store and one config.
"""

from __future__ import annotations

import hashlib
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from monitor import __version__

#: The environment variables that override the config's ``agent.name`` and ``agent.location``
#: (``llm-monitor run --agent/--location`` set them for the process).
AGENT_ENV = "LLM_MONITOR_AGENT"
LOCATION_ENV = "LLM_MONITOR_LOCATION"
DEFAULT_LOCATION = "local"
#: Names and locations: what an endpoint id may be, so they fit a label, a URL and a User-Agent.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"
_NAME = re.compile(NAME_PATTERN)


def default_agent_name() -> str:
    """The host's name (its first label), or ``agent`` when it is not a valid agent name."""
    host = socket.gethostname().split(".")[0]
    return host if _NAME.match(host) else "agent"


def name_problem(value: str) -> str | None:
    """Why ``value`` is not a valid agent name or location, or None."""
    if _NAME.match(value):
        return None
    return (
        f"{value!r} is not a valid name: 1 to 100 letters, digits, '_', '.', ':' or '-',"
        " starting with a letter or digit"
    )


@dataclass(frozen=True, slots=True)
class AgentIdentity:
    """An agent's name and the location it probes from."""

    name: str
    location: str = DEFAULT_LOCATION

    def __post_init__(self) -> None:
        for what, value in (("agent name", self.name), ("location", self.location)):
            problem = name_problem(value)
            if problem:
                raise ValueError(f"{what}: {problem}")

    @property
    def user_agent(self) -> str:
        """The ``User-Agent`` of this agent's probes."""
        return f"llm-monitor/{__version__} (agent {self.name}; location {self.location})"

    @classmethod
    def local(cls) -> AgentIdentity:
        """The defaults: the host's name, location ``local``."""
        return cls(default_agent_name(), DEFAULT_LOCATION)


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """An agent as the store knows it: written at every heartbeat, read by ``GET
    /api/v1/agents`` and by the other agents (a config that differs, a clock that is off)."""

    agent: str
    location: str
    host: str
    pid: int
    version: str
    #: A digest of the parts of the config that agents must share (docs/design.md#agents).
    config_hash: str
    started_at: datetime
    #: The store's clock at the last heartbeat.
    last_seen: datetime
    #: This agent's clock minus the store's, in seconds (positive: the agent is ahead).
    clock_offset_seconds: float | None
    #: How many endpoints it probes.
    endpoints: int


@dataclass(frozen=True, slots=True)
class Lease:
    """Who holds a lease (``rollup``: who rolls windows up), until when by the store's clock,
    and its epoch, which grows by one each time the lease changes hands."""

    name: str
    holder: str | None
    epoch: int
    acquired_at: datetime | None
    expires_at: datetime | None

    def held_by(self, agent: str, now: datetime) -> bool:
        """Whether ``agent`` holds it at ``now`` (the store's clock)."""
        return self.holder == agent and self.expires_at is not None and now < self.expires_at


def shard_owner(endpoint_id: str, members: Iterable[str]) -> str | None:
    """Which of ``members`` (agent names) probes ``endpoint_id`` under ``assignment: shard``:
    rendezvous hashing, so that every agent computes the same owner from the same members, and
    a member that joins or leaves moves only the endpoints it gains or had (docs/design.md#shards).
    None without members."""
    best: tuple[int, str] | None = None
    for member in members:
        digest = hashlib.blake2b(f"{member}\0{endpoint_id}".encode(), digest_size=8).digest()
        score = (int.from_bytes(digest, "big"), member)
        if best is None or score > best:
            best = score
    return best[1] if best is not None else None


def my_share(endpoint_ids: Iterable[str], members: Iterable[str], me: str) -> set[str]:
    """The endpoints that ``me`` probes among ``members`` (``me`` counts as one of them)."""
    everyone = set(members) | {me}
    return {e for e in endpoint_ids if shard_owner(e, everyone) == me}
