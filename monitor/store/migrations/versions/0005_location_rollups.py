"""Rollups by location and quorum uptime across them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05

``rollups`` gains ``locations`` (how many locations probed in the window; the rows from before
had one, the only agent's) and ``slots_up``/``slots_down`` (the quorum's slots when more than one
location probed; NULL otherwise). ``location_rollups`` holds each location's own rollup of an
endpoint's window. Hand-written and frozen: its own column types, nothing imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIMESTAMP = sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")
_STATS = ("p50", "p90", "p95", "p99", "min", "max", "mean")


def _distribution(prefix: str) -> list[sa.Column[Any]]:
    return [sa.Column(f"{prefix}_count", sa.BigInteger(), nullable=False)] + [
        sa.Column(f"{prefix}_{stat}", sa.Double()) for stat in _STATS
    ]


def upgrade() -> None:
    """Add the rollups' location columns and create ``location_rollups``."""
    op.add_column(
        "rollups",
        sa.Column("locations", sa.BigInteger(), nullable=False, server_default=sa.text("1")),
    )
    op.add_column("rollups", sa.Column("slots_up", sa.BigInteger()))
    op.add_column("rollups", sa.Column("slots_down", sa.BigInteger()))
    op.create_table(
        "location_rollups",
        sa.Column("endpoint", sa.String(), nullable=False),
        sa.Column("window_seconds", sa.Integer(), nullable=False),
        sa.Column("window_start", _TIMESTAMP, nullable=False),
        sa.Column("location", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("region", sa.String()),
        sa.Column("probes", sa.BigInteger(), nullable=False),
        sa.Column("successes", sa.BigInteger(), nullable=False),
        sa.Column("outcomes", sa.JSON(), nullable=False),
        sa.Column("uptime_ratio", sa.Double()),
        *_distribution("ttft"),
        *_distribution("speed"),
        *_distribution("latency"),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Double(), nullable=False),
        sa.Column("computed_at", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint(
            "endpoint", "window_seconds", "window_start", "location", name="pk_location_rollups"
        ),
    )
    op.create_index(
        "ix_location_rollups_window_seconds_window_start",
        "location_rollups",
        ["window_seconds", "window_start"],
    )


def downgrade() -> None:
    """Drop ``location_rollups`` and the rollups' location columns."""
    op.drop_index("ix_location_rollups_window_seconds_window_start", "location_rollups")
    op.drop_table("location_rollups")
    with op.batch_alter_table("rollups") as batch:
        batch.drop_column("slots_down")
        batch.drop_column("slots_up")
        batch.drop_column("locations")
