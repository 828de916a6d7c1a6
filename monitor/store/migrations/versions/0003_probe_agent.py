"""Probes: ``agent`` and ``location``, who made each probe and where it probed from.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

Rows written before this revision were made by the one agent that used the store then: they get
the defaults an agent has without configuration, the name of this host (the one that upgrades
the store, normally the one that probed) and the location ``local``. Hand-written and frozen:
the default name is computed here, not imported, so that later changes to it do not change
what this revision did.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _host_name() -> str:
    host = socket.gethostname().split(".")[0]
    return host if re.match(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$", host) else "agent"


def upgrade() -> None:
    """Add ``probes.agent`` and ``probes.location``; fill them in the rows already stored."""
    op.add_column("probes", sa.Column("agent", sa.String()))
    op.add_column("probes", sa.Column("location", sa.String()))
    probes = sa.table("probes", sa.column("agent", sa.String()), sa.column("location", sa.String()))
    op.execute(probes.update().values(agent=_host_name(), location="local"))


def downgrade() -> None:
    """Drop ``probes.agent`` and ``probes.location`` (and what they held)."""
    with op.batch_alter_table("probes") as batch:
        batch.drop_column("location")
        batch.drop_column("agent")
