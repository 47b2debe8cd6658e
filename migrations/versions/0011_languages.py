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
    with op.batch_alter_table('conversations') as batch:
        batch.add_column(sa.Column('language', sa.String(length=8), nullable=True))
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('language', sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('language')
    with op.batch_alter_table('conversations') as batch:
        batch.drop_column('language')
