"""outbox rows remember which process is sending them (locked_by), so a restarted process takes
back at once the replies its previous life had claimed, and a renewal (heartbeat) or a failure
only touches rows the process still holds

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 04:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("locked_by", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_column("locked_by")
