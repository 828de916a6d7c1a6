"""Probes: ``answer_ttft_seconds``, the time to the first visible answer token.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05

Rows written before this revision keep NULL (it was not measured). Hand-written and frozen.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the nullable ``probes.answer_ttft_seconds`` column."""
    op.add_column("probes", sa.Column("answer_ttft_seconds", sa.Double()))


def downgrade() -> None:
    """Drop ``probes.answer_ttft_seconds`` (and what it held)."""
    # Batch mode: SQLite before 3.35 cannot drop a column and gets the table copied instead.
    with op.batch_alter_table("probes") as batch:
        batch.drop_column("answer_ttft_seconds")
