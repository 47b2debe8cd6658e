"""Assignment (issue 18): agents set themselves available / away, escalations are assigned round robin
under a cap or handed to another agent or a team, and customers keep the Telegram last name and username.

agents.available (away by default) and agents.last_assigned_at (round robin's tie-break: the one given
an escalation least recently); escalations.team (the team it is routed or handed to) and
escalations.assigned_by (how its holder got it: take | auto | transfer); customers.last_name and
customers.username (what Telegram tells of a user besides the first name).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 10:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD / DROP COLUMN in place on both engines (SQLite 3.35+): the analytics views stay as they are
    op.add_column('agents', sa.Column('available', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('agents', sa.Column('last_assigned_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('escalations', sa.Column('team', sa.String(length=64), nullable=True))
    op.add_column('escalations', sa.Column('assigned_by', sa.String(length=16), nullable=True))
    op.add_column('customers', sa.Column('last_name', sa.String(length=255), nullable=True))
    op.add_column('customers', sa.Column('username', sa.String(length=255), nullable=True))


def downgrade() -> None:
    op.drop_column('customers', 'username')
    op.drop_column('customers', 'last_name')
    op.drop_column('escalations', 'assigned_by')
    op.drop_column('escalations', 'team')
    op.drop_column('agents', 'last_assigned_at')
    op.drop_column('agents', 'available')
