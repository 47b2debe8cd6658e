"""The customer's language (bot/language.py): on each customer message whose language could be told, and on
the conversation (the language it was last told in; the bot answers and the agents read it in that one).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 20:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ALTER TABLE ... ADD / DROP COLUMN in place on both engines (SQLite 3.35+): no copy of the table, so
    # the analytics views over messages and conversations stay as they are
    op.add_column('conversations', sa.Column('language', sa.String(length=8), nullable=True))
    op.add_column('messages', sa.Column('language', sa.String(length=8), nullable=True))


def downgrade() -> None:
    op.drop_column('messages', 'language')
    op.drop_column('conversations', 'language')
