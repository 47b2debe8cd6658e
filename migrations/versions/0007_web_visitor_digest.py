"""web visitor ids kept apart from customer ids: the browser chat's visitor id is the browser's
secret, so a web customer is stored under its digest (channels/web.py public_id) and the raw id
already stored (customers, conversations, inbox and outbox rows) is replaced by it

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 04:00:00
"""
from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

CUSTOMERS = sa.table("customers", sa.column("id"), sa.column("channel"), sa.column("external_id"))
CONVERSATIONS = sa.table("conversations", sa.column("id"), sa.column("channel"), sa.column("thread_key"))
INBOX = sa.table("inbox_events", sa.column("id"), sa.column("channel"), sa.column("external_id"),
                 sa.column("thread_key"), sa.column("payload", sa.JSON))
OUTBOX = sa.table("outbox_messages", sa.column("id"), sa.column("channel"), sa.column("recipient", sa.JSON))


def digest(visitor: str) -> str:
    """channels.web.public_id as of this revision (copied: a migration must not change with the code)."""
    return hashlib.sha256(b"supportbot web visitor\0" + visitor.encode()).hexdigest()[:32]


def _ids(payload: dict | None) -> dict | None:
    if not isinstance(payload, dict):
        return payload
    out = dict(payload)
    for key in ("customer_id", "conversation_key"):
        if isinstance(out.get(key), str) and out[key]:
            out[key] = digest(out[key])
    return out


def upgrade() -> None:
    bind = op.get_bind()
    for row in bind.execute(sa.select(CUSTOMERS.c.id, CUSTOMERS.c.external_id).where(CUSTOMERS.c.channel == "web")):
        bind.execute(CUSTOMERS.update().where(CUSTOMERS.c.id == row.id).values(external_id=digest(row.external_id)))
    for row in bind.execute(sa.select(CONVERSATIONS.c.id, CONVERSATIONS.c.thread_key)
                            .where(CONVERSATIONS.c.channel == "web")):
        bind.execute(CONVERSATIONS.update().where(CONVERSATIONS.c.id == row.id)
                     .values(thread_key=digest(row.thread_key)))
    for row in bind.execute(sa.select(INBOX.c.id, INBOX.c.external_id, INBOX.c.thread_key, INBOX.c.payload)
                            .where(INBOX.c.channel == "web")):
        visitor, _, msg_id = row.external_id.partition(":")
        bind.execute(INBOX.update().where(INBOX.c.id == row.id).values(
            external_id=f"{digest(visitor)}:{msg_id}", thread_key=digest(row.thread_key), payload=_ids(row.payload)))
    for row in bind.execute(sa.select(OUTBOX.c.id, OUTBOX.c.recipient).where(OUTBOX.c.channel == "web")):
        bind.execute(OUTBOX.update().where(OUTBOX.c.id == row.id).values(recipient=_ids(row.recipient)))


def downgrade() -> None:
    pass  # a digest cannot be turned back into the browser's id; the rows stay as they are
