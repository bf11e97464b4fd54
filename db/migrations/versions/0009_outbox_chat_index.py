"""outbox: an index for "is an earlier row of this chat still waiting?" (per-chat order)

The sender asks it for every candidate row; without this index it walks the contact's whole
outbox history (``ix_outbox_contact_id``), which grows with every message the contact got.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 22:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(
            'ix_outbox_chat_status_id', ['contact_id', 'channel_id', 'status', 'id'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_chat_status_id')
