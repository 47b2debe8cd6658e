"""action_calls: every call an action made to the shop's API (bot/actions/), and the route
`action` counted in the analytics views: an answer in v_resolutions, its own share in v_intent_stats.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 09:00:00
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

REAL = "DOUBLE PRECISION"  # as 0002 writes it on both engines


def _rev(name: str):
    """An earlier revision's module (their file names are not importable module names)."""
    path = Path(__file__).with_name(name)
    spec = importlib.util.spec_from_file_location(f"supportbot_migration_{name[:4]}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _share(route: str) -> str:
    return f"CAST(sum(CASE WHEN route = '{route}' THEN 1 ELSE 0 END) AS {REAL}) / count(*)"


# (text at 0009, text from here on)
_EDITS = (
    ("route IN ('template', 'knowledge', 'cheap_llm', 'strong_llm')",
     "route IN ('template', 'knowledge', 'action', 'cheap_llm', 'strong_llm')"),
    ("s.knowledge_share, s.clarify_share", "s.knowledge_share, s.action_share, s.clarify_share"),
    (f"{_share('clarify')} AS clarify_share", f"{_share('action')} AS action_share,\n             "
                                              f"{_share('clarify')} AS clarify_share"),
)


def all_view_sql(dialect: str) -> dict[str, str]:
    """Every analytics view at this revision: 0009's, with the action route."""
    views = dict(_rev("0009_feedback_comment_only.py").all_view_sql(dialect))
    for old, new in _EDITS:
        hits = [name for name, sql in views.items() if old in sql]
        if not hits:
            raise RuntimeError(f"0010: the view text {old!r} is not in 0009's views")
        for name in hits:
            views[name] = views[name].replace(old, new)
    return views


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table('action_calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('params', sa.JSON(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('latency_ms', sa.Float(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('approved_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['approved_by'], ['agents.id'], name=op.f('fk_action_calls_approved_by_agents')),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'],
                            name=op.f('fk_action_calls_conversation_id_conversations')),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_action_calls_message_id_messages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_action_calls'))
    )
    op.create_index(op.f('ix_action_calls_action'), 'action_calls', ['action'], unique=False)
    op.create_index(op.f('ix_action_calls_conversation_id'), 'action_calls', ['conversation_id'], unique=False)
    op.create_index(op.f('ix_action_calls_status'), 'action_calls', ['status'], unique=False)
    _rev("0005_resolution_views.py").drop_views()
    _rev("0009_feedback_comment_only.py")._create(all_view_sql(dialect))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    _rev("0005_resolution_views.py").drop_views()
    rev_0009 = _rev("0009_feedback_comment_only.py")
    rev_0009._create(rev_0009.all_view_sql(dialect))
    op.drop_index(op.f('ix_action_calls_status'), table_name='action_calls')
    op.drop_index(op.f('ix_action_calls_conversation_id'), table_name='action_calls')
    op.drop_index(op.f('ix_action_calls_action'), table_name='action_calls')
    op.drop_table('action_calls')
