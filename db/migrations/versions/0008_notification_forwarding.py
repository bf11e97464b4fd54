"""notification forwarding: when a notification went to the project's Telegram admin chat (R9)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 22:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('forwarded_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_notifications_forwarded_at_id', ['forwarded_at', 'id'], unique=False)
        batch_op.create_index('ix_notifications_run_id', ['run_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_run_id')
        batch_op.drop_index('ix_notifications_forwarded_at_id')
        batch_op.drop_column('forwarded_at')
