"""The initial schema: probes, rollups and model profile snapshots.

Revision ID: 0001
Revises:
Create Date: 2025-11-25

Hand-written and frozen: it defines its own column types instead of importing
``monitor.store.schema``, so later edits of the schema module cannot change what this
revision created.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Aware UTC timestamps: TIMESTAMP WITH TIME ZONE, or microseconds since the epoch on SQLite.
_TIMESTAMP = sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")
_STATS = ("p50", "p90", "p95", "p99", "min", "max", "mean")


def _distribution(prefix: str) -> list[sa.Column[Any]]:
    return [sa.Column(f"{prefix}_count", sa.BigInteger(), nullable=False)] + [
        sa.Column(f"{prefix}_{stat}", sa.Double()) for stat in _STATS
    ]


def upgrade() -> None:
    """Create the three tables and their indexes."""
    op.create_table(
        "probes",
        sa.Column("probe_id", sa.String(), nullable=False),
        sa.Column("endpoint", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("api", sa.String(), nullable=False),
        sa.Column("region", sa.String()),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("started_at", _TIMESTAMP, nullable=False),
        sa.Column("http_status", sa.Integer()),
        sa.Column("ttft_seconds", sa.Double()),
        sa.Column("total_seconds", sa.Double()),
        sa.Column("first_byte_seconds", sa.Double()),
        sa.Column("output_tokens", sa.BigInteger()),
        sa.Column("input_tokens", sa.BigInteger()),
        sa.Column("reasoning_tokens", sa.BigInteger()),
        sa.Column("cached_input_tokens", sa.BigInteger()),
        sa.Column("tokens_estimated", sa.Boolean(), nullable=False),
        sa.Column("output_tokens_per_second", sa.Double()),
        sa.Column("inter_token_latency_seconds", sa.Double()),
        sa.Column("content_chunks", sa.BigInteger(), nullable=False),
        sa.Column("connect_seconds", sa.Double()),
        sa.Column("connection_reused", sa.Boolean()),
        sa.Column("finish_reason", sa.String()),
        sa.Column("response_model", sa.String()),
        sa.Column("provider_request_id", sa.String()),
        sa.Column("retry_after_seconds", sa.Double()),
        sa.Column("cost_usd", sa.Double()),
        sa.Column("error", sa.Text()),
        sa.PrimaryKeyConstraint("probe_id", name="pk_probes"),
    )
    op.create_index("ix_probes_started_at", "probes", ["started_at"])
    op.create_index("ix_probes_endpoint_started_at", "probes", ["endpoint", "started_at"])

    op.create_table(
        "rollups",
        sa.Column("endpoint", sa.String(), nullable=False),
        sa.Column("window_seconds", sa.Integer(), nullable=False),
        sa.Column("window_start", _TIMESTAMP, nullable=False),
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
        sa.PrimaryKeyConstraint("endpoint", "window_seconds", "window_start", name="pk_rollups"),
    )
    op.create_index(
        "ix_rollups_model_window_seconds_window_start",
        "rollups",
        ["model", "window_seconds", "window_start"],
    )
    op.create_index(
        "ix_rollups_window_seconds_window_start", "rollups", ["window_seconds", "window_start"]
    )

    op.create_table(
        "model_profiles",
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("window_seconds", sa.Integer(), nullable=False),
        sa.Column("window_start", _TIMESTAMP, nullable=False),
        sa.Column("refreshed_at", _TIMESTAMP, nullable=False),
        sa.Column("live", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint(
            "model", "window_seconds", "window_start", name="pk_model_profiles"
        ),
    )


def downgrade() -> None:
    """Drop the three tables (and every stored probe, rollup and profile with them)."""
    op.drop_table("model_profiles")
    op.drop_table("rollups")
    op.drop_table("probes")
