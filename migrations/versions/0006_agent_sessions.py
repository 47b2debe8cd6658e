"""agent sessions and login failures: revocable server-side sessions for the web console, and
the failed logins counted for the lockout (bot/web/auth.py, bot/handoff/agents.py)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 23:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agent_sessions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_agent_sessions_agent_id_agents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_sessions'))
    )
    op.create_index(op.f('ix_agent_sessions_agent_id'), 'agent_sessions', ['agent_id'], unique=False)
    op.create_table('login_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account', sa.String(length=100), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failures'))
    )
    op.create_index(op.f('ix_login_failures_account'), 'login_failures', ['account'], unique=False)
    op.create_index(op.f('ix_login_failures_address'), 'login_failures', ['address'], unique=False)
    op.create_index(op.f('ix_login_failures_created_at'), 'login_failures', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_login_failures_created_at'), table_name='login_failures')
    op.drop_index(op.f('ix_login_failures_address'), table_name='login_failures')
    op.drop_index(op.f('ix_login_failures_account'), table_name='login_failures')
    op.drop_table('login_failures')
    op.drop_index(op.f('ix_agent_sessions_agent_id'), table_name='agent_sessions')
    op.drop_table('agent_sessions')
