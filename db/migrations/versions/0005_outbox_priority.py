"""outbox priority: broadcast rows are bulk and yield send slots to funnel messages

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-29 19:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bulk', sa.Boolean(), server_default=sa.false(), nullable=False))
    # rows of broadcasts queued before this revision
    op.execute("UPDATE outbox SET bulk = TRUE WHERE idempotency_key LIKE 'broadcast:%'")
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_status_bulk_not_before', ['status', 'bulk', 'not_before', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_status_bulk_not_before')
        batch_op.drop_column('bulk')
