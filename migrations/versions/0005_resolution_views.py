"""resolution views: v_resolutions (hard / soft resolution per conversation, documented in
docs/analytics.md) and v_intent_stats again, now with clarify_share

v_resolutions has one row per conversation: how often the bot answered (a route decision on a
bot route: template, knowledge, cheap_llm, strong_llm; a clarify question is not an answer), the customer's verdicts from
`resolutions` (confirmed / more_help), escalations, and a `status`:

  hard                      a confirmed verdict, with no more_help and no escalation after it
  more_help_then_escalated  a more_help verdict, then an escalation
  escalated                 escalated otherwise (also: straight to a person, no bot answer)
  no_answer                 the bot never answered and nobody escalated (e.g. only /start)
  pending                   the last bot answer is younger than the soft window: not counted yet
  unresolved                the window passed, but with a more_help or another customer message
                            within the window after the last bot answer
  soft                      the window passed with no further customer message, no more_help,
                            no escalation

A view cannot read the YAML config: the window is fixed here at SOFT_WINDOW_HOURS (24, the
default of resolution.soft_window_hours). `supportbot report` and the dashboard compute the
status from this view's columns with the configured window (bot/analytics/figures.py, RESOLUTION_STATUS).

Like 0002, `drop_views()` / `create_views()` here drop and create every analytics view (0002's,
this revision's v_intent_stats, v_resolutions) for a later revision that rebuilds a table on
SQLite in batch mode.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 23:00:00
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SOFT_WINDOW_HOURS = 24
# the routes that answer: a "did you mean" (clarify) asks, it does not answer, so one left unpicked
# is not a soft resolution
BOT_ROUTES = ("template", "knowledge", "cheap_llm", "strong_llm")


def _rev_0002():
    """0002's module (its file name is not an importable module name)."""
    path = Path(__file__).with_name("0002_analytics_views.py")
    spec = importlib.util.spec_from_file_location("supportbot_migration_0002", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def view_sql(dialect: str) -> dict[str, str]:
    """The views this revision creates or replaces."""
    pg = dialect == "postgresql"
    real = "DOUBLE PRECISION"
    now = "CURRENT_TIMESTAMP"  # UTC on both engines

    def day(col: str) -> str:
        return f"CAST(({col} AT TIME ZONE 'UTC') AS DATE)" if pg else f"date({col})"

    def seconds(later: str, earlier: str) -> str:  # NULL when either is NULL
        if pg:
            return f"CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) AS DOUBLE PRECISION)"
        return f"((julianday({later}) - julianday({earlier})) * 86400.0)"

    def after(a: str, b: str) -> str:  # a later than b (SQLite stores timestamps as text)
        return f"{a} > {b}" if pg else f"julianday({a}) > julianday({b})"

    def share(route: str) -> str:
        return f"CAST(sum(CASE WHEN route = '{route}' THEN 1 ELSE 0 END) AS {real}) / count(*)"

    routes = ", ".join(f"'{r}'" for r in BOT_ROUTES)
    answers = (f"SELECT conversation_id, count(*) AS n, max(created_at) AS last_at FROM route_decisions "
               f"WHERE route IN ({routes}) GROUP BY conversation_id")
    window = SOFT_WINDOW_HOURS * 3600
    return {
        "v_intent_stats": f"""
SELECT s.intent, s.messages, s.mean_confidence,
       s.template_share, s.knowledge_share, s.clarify_share, s.cheap_llm_share, s.strong_llm_share,
       s.human_share,
       s.escalations, CAST(s.escalations AS {real}) / s.messages AS escalation_rate,
       fs.csat, COALESCE(fs.csat_count, 0) AS csat_count
FROM (SELECT intent, count(*) AS messages, CAST(avg(confidence) AS {real}) AS mean_confidence,
             {share("template")} AS template_share, {share("knowledge")} AS knowledge_share,
             {share("clarify")} AS clarify_share,
             {share("cheap_llm")} AS cheap_llm_share, {share("strong_llm")} AS strong_llm_share,
             {share("human")} AS human_share,
             count(escalation_id) AS escalations
      FROM v_messages WHERE intent IS NOT NULL GROUP BY intent) s
LEFT JOIN (SELECT x.intent, CAST(avg(f.rating) AS {real}) AS csat, count(*) AS csat_count
           FROM (SELECT DISTINCT intent, conversation_id FROM route_decisions WHERE intent IS NOT NULL) x
           JOIN feedback f ON f.conversation_id = x.conversation_id GROUP BY x.intent) fs
       ON fs.intent = s.intent""",
        # one row per conversation
        "v_resolutions": f"""
SELECT x.*,
       {SOFT_WINDOW_HOURS} AS soft_window_hours,
       CASE WHEN x.hard = 1 THEN 'hard'
            WHEN x.more_help_then_escalated = 1 THEN 'more_help_then_escalated'
            WHEN x.escalated = 1 THEN 'escalated'
            WHEN x.bot_answers = 0 THEN 'no_answer'
            WHEN x.answer_age_s < {window} THEN 'pending'
            WHEN x.more_help > 0 OR x.next_customer_message_s <= {window} THEN 'unresolved'
            ELSE 'soft' END AS status
FROM (
SELECT c.id AS conversation_id, c.channel, c.customer_id, c.started_at, {day("c.started_at")} AS day,
       COALESCE(a.n, 0) AS bot_answers, a.last_at AS last_bot_answer_at,
       {seconds(now, "a.last_at")} AS answer_age_s,
       nx.next_at AS next_customer_message_at,
       {seconds("nx.next_at", "a.last_at")} AS next_customer_message_s,
       COALESCE(r.confirmed, 0) AS confirmed, COALESCE(r.more_help, 0) AS more_help,
       r.last_confirmed_at, r.first_more_help_at, r.last_more_help_at,
       CASE WHEN e.n > 0 THEN 1 ELSE 0 END AS escalated, e.last_at AS last_escalation_at,
       CASE WHEN r.confirmed > 0
             AND (r.last_more_help_at IS NULL OR {seconds("r.last_more_help_at", "r.last_confirmed_at")} < 0)
             AND (e.last_at IS NULL OR {seconds("e.last_at", "r.last_confirmed_at")} < 0)
            THEN 1 ELSE 0 END AS hard,
       CASE WHEN r.first_more_help_at IS NOT NULL AND e.last_at IS NOT NULL
             AND {seconds("e.last_at", "r.first_more_help_at")} >= 0
            THEN 1 ELSE 0 END AS more_help_then_escalated
FROM conversations c
LEFT JOIN ({answers}) a ON a.conversation_id = c.id
LEFT JOIN (SELECT la.conversation_id, min(m.created_at) AS next_at
           FROM messages m JOIN ({answers}) la ON la.conversation_id = m.conversation_id
           WHERE m.direction = 'in' AND {after("m.created_at", "la.last_at")}
           GROUP BY la.conversation_id) nx ON nx.conversation_id = c.id
LEFT JOIN (SELECT conversation_id,
                  sum(CASE WHEN outcome = 'confirmed' THEN 1 ELSE 0 END) AS confirmed,
                  sum(CASE WHEN outcome = 'more_help' THEN 1 ELSE 0 END) AS more_help,
                  max(CASE WHEN outcome = 'confirmed' THEN created_at END) AS last_confirmed_at,
                  min(CASE WHEN outcome = 'more_help' THEN created_at END) AS first_more_help_at,
                  max(CASE WHEN outcome = 'more_help' THEN created_at END) AS last_more_help_at
           FROM resolutions GROUP BY conversation_id) r ON r.conversation_id = c.id
LEFT JOIN (SELECT conversation_id, count(*) AS n, max(created_at) AS last_at FROM escalations
           GROUP BY conversation_id) e ON e.conversation_id = c.id
) x""",
    }


def all_view_sql(dialect: str) -> dict[str, str]:
    """Every analytics view at this revision, in creation order."""
    views = dict(_rev_0002().view_sql(dialect))
    views.update(view_sql(dialect))  # v_intent_stats replaced in place, v_resolutions last
    return views


def create_views() -> None:
    for name, sql in all_view_sql(op.get_bind().dialect.name).items():
        op.execute(f"CREATE VIEW {name} AS {sql.strip()}")


def drop_views() -> None:
    op.execute("DROP VIEW IF EXISTS v_resolutions")
    _rev_0002().drop_views()


def upgrade() -> None:
    sql = view_sql(op.get_bind().dialect.name)
    op.execute("DROP VIEW IF EXISTS v_intent_stats")
    op.execute(f"CREATE VIEW v_intent_stats AS {sql['v_intent_stats'].strip()}")
    op.execute(f"CREATE VIEW v_resolutions AS {sql['v_resolutions'].strip()}")


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS v_resolutions")
    op.execute("DROP VIEW IF EXISTS v_intent_stats")
    old = _rev_0002().view_sql(op.get_bind().dialect.name)["v_intent_stats"]
    op.execute(f"CREATE VIEW v_intent_stats AS {old.strip()}")
