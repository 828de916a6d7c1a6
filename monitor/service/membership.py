"""This agent among the others that share its store: heartbeats, the rollup lease, the clock
check and the config check (docs/design.md#agents).

Every ``agent.heartbeat`` seconds the agent writes its row (``agents``), compares its clock with
the store's, and takes or renews the ``rollup`` lease for three heartbeats. One agent at a time
holds the lease and rolls windows up; the others publish what the store holds. When the holder
dies, its lease expires within three heartbeats and the next agent to beat takes it, then rolls
up every window the store has probes but no rollup for (``Aggregator.backfill``), so no window is
skipped; rollups are recomputed from raw probes and upserted, so a window rolled twice gets the
same numbers. An agent that cannot reach the store, or whose clock is off by more than
``MAX_CLOCK_OFFSET_SECONDS``, does not hold the lease (windows are wall-clock UTC: a wrong clock
would file probes in the wrong window).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from monitor import __version__
from monitor.config import Config
from monitor.core.agent import AgentRecord, Lease, my_share
from monitor.store import Store

log = structlog.get_logger("llm_monitor.agents")

ROLLUP_LEASE = "rollup"
#: Heartbeats an agent may miss before it is counted gone (and its lease has expired).
MISSED_HEARTBEATS = 3
#: Beyond this difference from the store's clock, an agent warns and does not roll up.
MAX_CLOCK_OFFSET_SECONDS = 5.0


def config_hash(config: Config) -> str:
    """A digest of what agents sharing a store must agree on: the models, the endpoints and
    how they are probed, rolled up and profiled (not the agent, the store, the server or logs)."""
    shared = config.schema.model_dump(
        mode="json", include={"models", "endpoints", "probe", "rollup", "profile"}
    )
    text = json.dumps(shared, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass
class Membership:
    """Heartbeats and the rollup lease of this agent; ``beat()`` runs on a maintenance thread."""

    config: Config
    store: Store
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    monotonic: Callable[[], float] = time.monotonic
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: The last measured offset of this agent's clock from the store's, in seconds.
    clock_offset: float | None = None
    #: The agents heard from at the last heartbeat (this one included).
    peers: list[AgentRecord] = field(default_factory=list)
    #: How many endpoints this agent probes (its share under ``assignment: shard``).
    probing: int | None = None
    _leader_until: float = -1.0
    _epoch: int | None = None
    _warned_configs: set[tuple[str, str]] = field(default_factory=set)
    #: ``config_hash`` of the config it was computed for: dumping and hashing a config of
    #: 5,000 endpoints takes 43 ms (machine C), and a heartbeat needs it twice. A config is
    #: frozen; a new one is hashed anew.
    _hashed: tuple[Config, str] | None = field(default=None, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def name(self) -> str:
        """This agent's name."""
        return self.config.agent.name

    @property
    def lease_seconds(self) -> float:
        """How long a taken or renewed lease lasts: three heartbeats."""
        return MISSED_HEARTBEATS * self.config.schema.agent.heartbeat

    @property
    def leader(self) -> bool:
        """Whether this agent holds the rollup lease now, by its own monotonic clock (a stalled
        agent whose lease ran out does not roll up on waking)."""
        return self.monotonic() < self._leader_until

    def beat(self) -> bool:
        """Write the heartbeat, check the clock and the others' configs, take or renew the
        lease; return whether this agent has just become the rollup leader (then it backfills).
        Raises the store's error when the store cannot be reached (then it leads no longer)."""
        with self._lock:
            try:
                return self._beat()
            except Exception:
                self._leader_until = -1.0
                raise

    def _beat(self) -> bool:
        before = self.clock()
        db_now = self.store.db_now()
        after = self.clock()
        offset = ((before - db_now) + (after - db_now)).total_seconds() / 2
        self.clock_offset = offset
        self.store.heartbeat(self._record(db_now, offset))
        self._check_configs(db_now)
        if abs(offset) > MAX_CLOCK_OFFSET_SECONDS:
            if self.leader:
                self.store.release_lease(ROLLUP_LEASE, self.name)
            self._leader_until = -1.0
            log.warning(
                "clock off: not rolling up",
                clock_offset_seconds=round(offset, 3),
                limit_seconds=MAX_CLOCK_OFFSET_SECONDS,
            )
            return False
        started = self.monotonic()
        lease, now = self.store.acquire_lease(ROLLUP_LEASE, self.name, self.lease_seconds)
        was_leader = self.leader
        if lease.held_by(self.name, now) and lease.expires_at is not None:
            # Valid until its expiry by the store's clock, counted from before the request.
            self._leader_until = started + (lease.expires_at - now).total_seconds()
        else:
            self._leader_until = -1.0
        became = self.leader and (not was_leader or lease.epoch != self._epoch)
        if became:
            log.info("rollup lease taken", epoch=lease.epoch, agent=self.name)
        elif was_leader and not self.leader:
            log.warning("rollup lease lost", holder=lease.holder, epoch=lease.epoch)
        self._epoch = lease.epoch if self.leader else None
        return became

    def release(self) -> None:
        """Give the lease up at shutdown, so another agent takes it at its next heartbeat."""
        with self._lock:
            if self.leader:
                self.store.release_lease(ROLLUP_LEASE, self.name)
            self._leader_until = -1.0

    def _record(self, db_now: datetime, offset: float) -> AgentRecord:
        agent = self.config.agent
        return AgentRecord(
            agent=agent.name,
            location=agent.location,
            host=socket.gethostname(),
            pid=os.getpid(),
            version=__version__,
            config_hash=self.config_hash(),
            started_at=self.started_at,
            last_seen=db_now,
            clock_offset_seconds=round(offset, 6),
            endpoints=len(self.config.endpoints) if self.probing is None else self.probing,
        )

    def config_hash(self) -> str:
        """``config_hash`` of this agent's config, computed once per config."""
        if self._hashed is None or self._hashed[0] is not self.config:
            self._hashed = (self.config, config_hash(self.config))
        return self._hashed[1]

    def share(self) -> set[str]:
        """The ids of the endpoints this agent probes: every one, or under ``assignment:
        shard`` its share among the live agents of its location (itself when it knows none)."""
        ids = [e.id for e in self.config.endpoints]
        if self.config.schema.agent.assignment == "all":
            return set(ids)
        location = self.config.agent.location
        members = [p.agent for p in self.peers if p.location == location]
        return my_share(ids, members, self.name)

    def _check_configs(self, db_now: datetime) -> None:
        mine = self.config_hash()
        self.peers = alive(self.store.agents(), db_now, self.config.schema.agent.heartbeat)
        for other in self.peers:
            key = (other.agent, other.config_hash)
            if other.config_hash != mine and key not in self._warned_configs:
                self._warned_configs.add(key)
                log.warning(
                    "another agent runs another config",
                    other=other.agent,
                    other_location=other.location,
                    other_config=other.config_hash,
                    other_version=other.version,
                    config=mine,
                    version=__version__,
                )


def alive(records: list[AgentRecord], now: datetime, heartbeat: float) -> list[AgentRecord]:
    """The agents heard from within the last three heartbeats (by the store's clock)."""
    return [
        r for r in records if (now - r.last_seen).total_seconds() <= MISSED_HEARTBEATS * heartbeat
    ]


def lease_holder(lease: Lease | None, now: datetime) -> str | None:
    """Who holds the lease at ``now``, if anyone."""
    if lease is None or lease.holder is None or not lease.held_by(lease.holder, now):
        return None
    return lease.holder
