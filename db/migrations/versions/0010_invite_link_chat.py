"""personal_links.chat_id: the chat a registered one-person invite link opens

Two "chat" personal-link nodes of one funnel for the same product and bot but different
chats share one personal link; their invite links are told apart by the chat.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 23:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('personal_links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chat_id', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('personal_links', schema=None) as batch_op:
        batch_op.drop_column('chat_id')
