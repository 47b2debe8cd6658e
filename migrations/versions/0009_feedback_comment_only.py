"""feedback.rating may be empty: words after the rating question ("took way too long, but ok")
are stored at once as a comment, and a number given later fills in the rating of that row.
The views count ratings (count(rating)), not rows, so a comment alone is not a 0 in CSAT.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 13:00:00
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# (text at 0005, text from here on): the two places the views count feedback rows
_COUNTS = (
    ("CAST(avg(rating) AS {real}) AS csat, count(*) AS n FROM feedback",
     "CAST(avg(rating) AS {real}) AS csat, count(rating) AS n FROM feedback"),
    ("CAST(avg(f.rating) AS {real}) AS csat, count(*) AS csat_count",
     "CAST(avg(f.rating) AS {real}) AS csat, count(f.rating) AS csat_count"),
)


def _rev_0005():
    """0005's module (its file name is not an importable module name)."""
    path = Path(__file__).with_name("0005_resolution_views.py")
    spec = importlib.util.spec_from_file_location("supportbot_migration_0005", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def all_view_sql(dialect: str) -> dict[str, str]:
    """Every analytics view at this revision: 0005's, counting ratings instead of feedback rows."""
    real = "DOUBLE PRECISION"  # as 0002 writes it on both engines
    views = dict(_rev_0005().all_view_sql(dialect))
    for old, new in _COUNTS:
        old, new = old.replace("{real}", real), new.replace("{real}", real)
        hits = [name for name, sql in views.items() if old in sql]
        if not hits:
            raise RuntimeError(f"0009: the view text {old!r} is not in 0005's views")
        for name in hits:
            views[name] = views[name].replace(old, new)
    return views


def _create(views: dict[str, str]) -> None:
    for name, sql in views.items():
        op.execute(f"CREATE VIEW {name} AS {sql.strip()}")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _rev_0005().drop_views()  # SQLite rebuilds the table below; its views must not point at it then
    with op.batch_alter_table("feedback") as batch:
        batch.alter_column("rating", existing_type=sa.Integer(), nullable=True)
    _create(all_view_sql(dialect))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    _rev_0005().drop_views()
    op.execute("DELETE FROM feedback WHERE rating IS NULL")
    with op.batch_alter_table("feedback") as batch:
        batch.alter_column("rating", existing_type=sa.Integer(), nullable=False)
    _create(_rev_0005().all_view_sql(dialect))
