"""Apply Alembic migrations programmatically (what `supportbot migrate` runs)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

ROOT = Path(__file__).resolve().parents[2]


def alembic_config(url: str | None = None) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(url: str, revision: str = "head") -> list[str]:
    """Upgrade the database at url; the revisions applied, oldest first, by file name
    (e.g. ['0008_outbox_locked_by', '0009_feedback_comment_only']; [] when it was up to date).
    Runs its own event loop: call it from sync code only."""
    cfg = alembic_config(url)
    applied: list[str] = []
    cfg.attributes["applied"] = applied  # migrations/env.py appends each revision as it is applied
    command.upgrade(cfg, revision)
    return applied
