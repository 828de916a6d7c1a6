"""Rollups: the distribution of the time to first answer token (``answer_ttft_*`` columns).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05

Rollups written before this revision count 0 answer TTFTs (their percentiles are NULL) until
their window is rolled up again. Hand-written and frozen.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("rollups", "location_rollups")
_STATS = ("p50", "p90", "p95", "p99", "min", "max", "mean")


def upgrade() -> None:
    """Add ``answer_ttft_count`` (0 in existing rows) and its statistics to both tables."""
    for table in _TABLES:
        op.add_column(
            table,
            sa.Column(
                "answer_ttft_count", sa.BigInteger(), nullable=False, server_default=sa.text("0")
            ),
        )
        for stat in _STATS:
            op.add_column(table, sa.Column(f"answer_ttft_{stat}", sa.Double()))


def downgrade() -> None:
    """Drop the ``answer_ttft_*`` columns (and what they held)."""
    for table in _TABLES:
        # Batch mode: SQLite before 3.35 cannot drop a column and gets the table copied.
        with op.batch_alter_table(table) as batch:
            for stat in ("count", *_STATS):
                batch.drop_column(f"answer_ttft_{stat}")
