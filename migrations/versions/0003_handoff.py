"""handoff: announce, review, labelled examples

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 22:26:53.291589
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE ADD COLUMN (not batch mode): SQLite can do it in place, and a batch
    # rebuild of escalations would trip over the analytics views of 0002
    op.create_table('labelled_examples',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('intent', sa.String(length=100), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_labelled_examples_agent_id_agents')),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_labelled_examples_message_id_messages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_labelled_examples'))
    )
    op.create_index(op.f('ix_labelled_examples_intent'), 'labelled_examples', ['intent'], unique=False)
    op.add_column('escalations', sa.Column('announced_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('escalations', sa.Column('announce_count', sa.Integer(), nullable=False, server_default=sa.text('0')))
    op.add_column('escalations', sa.Column('desk_refs', sa.JSON(), nullable=True))
    op.add_column('escalations', sa.Column('review_outcome', sa.String(length=16), nullable=True))
    op.add_column('escalations', sa.Column('final_text', sa.Text(), nullable=True))
    op.add_column('escalations', sa.Column('agent_intent', sa.String(length=100), nullable=True))


def downgrade() -> None:
    for column in ('agent_intent', 'final_text', 'review_outcome', 'desk_refs', 'announce_count', 'announced_at'):
        op.drop_column('escalations', column)  # SQLite >= 3.35 drops columns in place
    op.drop_index(op.f('ix_labelled_examples_intent'), table_name='labelled_examples')
    op.drop_table('labelled_examples')
