"""agent_notes: private notes between agents on a conversation (the console's note box, a Slack thread
message starting with "note:"); they are never queued for the customer.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 14:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agent_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('escalation_id', sa.Integer(), nullable=True),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('external_key', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_agent_notes_agent_id_agents')),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'],
                            name=op.f('fk_agent_notes_conversation_id_conversations')),
    sa.ForeignKeyConstraint(['escalation_id'], ['escalations.id'],
                            name=op.f('fk_agent_notes_escalation_id_escalations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_notes')),
    sa.UniqueConstraint('external_key', name=op.f('uq_agent_notes_external_key'))
    )
    op.create_index(op.f('ix_agent_notes_conversation_id'), 'agent_notes', ['conversation_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_agent_notes_conversation_id'), table_name='agent_notes')
    op.drop_table('agent_notes')
