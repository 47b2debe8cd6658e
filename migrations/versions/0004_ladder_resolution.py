"""the ladder and resolution: conversations.pending (a clarify question or an answer awaiting its
verdict), resolutions (confirmed / more_help per bot answer), feedback comments are already there

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (no batch rebuild): the analytics views of 0002 name conversations
    op.add_column('conversations', sa.Column('pending', sa.JSON(), nullable=True))
    op.create_table('resolutions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_resolutions_conversation_id_conversations')),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_resolutions_message_id_messages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_resolutions'))
    )
    op.create_index(op.f('ix_resolutions_conversation_id'), 'resolutions', ['conversation_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_resolutions_conversation_id'), table_name='resolutions')
    op.drop_table('resolutions')
    op.drop_column('conversations', 'pending')
