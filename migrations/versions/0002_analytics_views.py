"""analytics views: v_messages, v_model_calls, v_conversation_summary, v_daily_cost, v_intent_stats,
v_escalations, v_guardrail_events (documented in docs/analytics.md)

The same views on SQLite and PostgreSQL. Where the engines differ (the UTC day of a timestamp,
seconds between two timestamps, string aggregation, percentiles) the SQL is built per dialect
below; every other line is shared. Flags are integers 0/1 on both engines so they can be summed.
Percentile columns (v_daily_cost.p50_latency_ms / p95_latency_ms) are NULL on SQLite, which has
no percentile_cont; `supportbot report` computes percentiles itself on both engines.

A later revision that rebuilds a table on SQLite (batch mode) must drop these views first and
create them again afterwards: SQLite refuses to rename a table while a view names a missing one.
`drop_views()` and `create_views()` here are written for that.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 10:00:00
"""
from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The SLA the views measure escalations against: handoff.sla_seconds' default. A view cannot read
# the YAML config; `supportbot report` and the dashboard use the configured value (waiting_s > it).
SLA_SECONDS = 300

# In creation order (v_intent_stats reads v_messages, v_daily_cost reads v_model_calls); dropped in reverse.
VIEWS = ("v_messages", "v_model_calls", "v_conversation_summary", "v_daily_cost", "v_intent_stats",
         "v_escalations", "v_guardrail_events")


def view_sql(dialect: str) -> dict[str, str]:
    pg = dialect == "postgresql"

    def day(col: str) -> str:  # the UTC calendar day: a DATE on PostgreSQL, 'YYYY-MM-DD' text on SQLite
        return f"CAST(({col} AT TIME ZONE 'UTC') AS DATE)" if pg else f"date({col})"

    def seconds(later: str, earlier: str) -> str:  # NULL when either is NULL
        if pg:
            return f"CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) AS DOUBLE PRECISION)"
        return f"((julianday({later}) - julianday({earlier})) * 86400.0)"

    def percentile(p: float, col: str, where: str) -> str:
        if pg:
            return (f"CAST(percentile_cont({p}) WITHIN GROUP (ORDER BY {col}) FILTER (WHERE {where}) "
                    "AS DOUBLE PRECISION)")
        return "CAST(NULL AS DOUBLE PRECISION)"

    # distinct intents of a conversation, sorted, comma-separated
    if pg:
        intents = ("SELECT conversation_id, string_agg(DISTINCT intent, ',' ORDER BY intent) AS intents "
                   "FROM route_decisions WHERE intent IS NOT NULL GROUP BY conversation_id")
    else:
        intents = ("SELECT conversation_id, group_concat(intent, ',') AS intents FROM ("
                   "SELECT DISTINCT conversation_id, intent FROM route_decisions WHERE intent IS NOT NULL "
                   "ORDER BY conversation_id, intent) GROUP BY conversation_id")
    real = "DOUBLE PRECISION"  # SQLite gives CAST(... AS DOUBLE PRECISION) REAL affinity
    now = "CURRENT_TIMESTAMP"  # UTC on both engines
    sla = SLA_SECONDS

    def share(route: str) -> str:
        return f"CAST(sum(CASE WHEN route = '{route}' THEN 1 ELSE 0 END) AS {real}) / count(*)"

    return {
        # one row per handled customer message (one per route decision)
        "v_messages": f"""
SELECT rd.message_id, rd.conversation_id, c.channel, c.customer_id,
       rd.created_at, {day("rd.created_at")} AS day,
       m.text, rd.intent, rd.confidence, rd.stage, rd.route, rd.rule, rd.reason, rd.degraded_from,
       cl.latency_ms AS classify_latency_ms, rd.latency_ms AS latency_ms,
       rd.cost_usd, rd.counterfactual_usd,
       e.id AS escalation_id, e.reason_kind AS escalation_reason,
       CASE WHEN rd.intent = 'out_of_scope' OR e.reason_kind IN ('out_of_scope', 'confidence', 'degraded')
            THEN 1 ELSE 0 END AS unhandled
FROM route_decisions rd
JOIN conversations c ON c.id = rd.conversation_id
JOIN messages m ON m.id = rd.message_id
LEFT JOIN classifications cl ON cl.message_id = rd.message_id
LEFT JOIN escalations e ON e.message_id = rd.message_id""",
        # one row per conversation
        "v_conversation_summary": f"""
SELECT c.id AS conversation_id, c.channel, c.customer_id,
       COALESCE(cu.display_name, cu.external_id) AS customer,
       c.started_at, c.ended_at, {day("c.started_at")} AS day, c.status,
       COALESCE(t.turns, 0) AS turns,
       i.intents,
       (SELECT rd.route FROM route_decisions rd WHERE rd.conversation_id = c.id
        ORDER BY rd.id DESC LIMIT 1) AS final_route,
       CASE WHEN e.n > 0 THEN 1 ELSE 0 END AS escalated,
       COALESCE(e.n, 0) AS escalations,
       CASE WHEN e.n > 0 THEN 0 ELSE 1 END AS contained,
       c.resolved_by,
       f.csat, COALESCE(f.n, 0) AS csat_count,
       COALESCE(d.cost_usd, 0.0) AS cost_usd, COALESCE(d.counterfactual_usd, 0.0) AS counterfactual_usd
FROM conversations c
JOIN customers cu ON cu.id = c.customer_id
LEFT JOIN (SELECT conversation_id, count(*) AS turns FROM messages
           WHERE direction = 'in' GROUP BY conversation_id) t ON t.conversation_id = c.id
LEFT JOIN (SELECT conversation_id, count(*) AS n FROM escalations GROUP BY conversation_id) e
       ON e.conversation_id = c.id
LEFT JOIN (SELECT conversation_id, CAST(avg(rating) AS {real}) AS csat, count(*) AS n FROM feedback
           GROUP BY conversation_id) f ON f.conversation_id = c.id
LEFT JOIN (SELECT conversation_id, sum(cost_usd) AS cost_usd, sum(counterfactual_usd) AS counterfactual_usd
           FROM route_decisions GROUP BY conversation_id) d ON d.conversation_id = c.id
LEFT JOIN ({intents}) i ON i.conversation_id = c.id""",
        # one row per model call attempt
        "v_model_calls": f"""
SELECT mc.id AS call_id, mc.conversation_id, mc.message_id, c.channel,
       mc.created_at, {day("mc.created_at")} AS day,
       mc.purpose, mc.provider, mc.model, mc.tier, mc.outcome,
       mc.input_tokens AS tokens_in, mc.output_tokens AS tokens_out, mc.cached_tokens, mc.reasoning_tokens,
       mc.cost_usd, mc.latency_ms, mc.error
FROM model_calls mc
LEFT JOIN conversations c ON c.id = mc.conversation_id""",
        # day x channel x model x tier (sum over channel for day x model x tier)
        "v_daily_cost": f"""
SELECT mc.day, mc.channel, mc.model, mc.tier, mc.provider,
       count(*) AS calls,
       sum(CASE WHEN mc.outcome = 'ok' THEN 1 ELSE 0 END) AS ok_calls,
       sum(CASE WHEN mc.outcome IN ('failed', 'retried') THEN 1 ELSE 0 END) AS failures,
       sum(CASE WHEN mc.outcome IN ('circuit_open', 'budget_blocked') THEN 1 ELSE 0 END) AS blocked,
       sum(mc.tokens_in) AS tokens_in, sum(mc.tokens_out) AS tokens_out,
       sum(mc.cost_usd) AS cost_usd,
       CAST(avg(CASE WHEN mc.outcome = 'ok' THEN mc.latency_ms END) AS {real}) AS avg_latency_ms,
       {percentile(0.5, "mc.latency_ms", "mc.outcome = 'ok'")} AS p50_latency_ms,
       {percentile(0.95, "mc.latency_ms", "mc.outcome = 'ok'")} AS p95_latency_ms
FROM v_model_calls mc
GROUP BY mc.day, mc.channel, mc.model, mc.tier, mc.provider""",
        # one row per intent, all time
        "v_intent_stats": f"""
SELECT s.intent, s.messages, s.mean_confidence,
       s.template_share, s.knowledge_share, s.cheap_llm_share, s.strong_llm_share, s.human_share,
       s.escalations, CAST(s.escalations AS {real}) / s.messages AS escalation_rate,
       fs.csat, COALESCE(fs.csat_count, 0) AS csat_count
FROM (SELECT intent, count(*) AS messages, CAST(avg(confidence) AS {real}) AS mean_confidence,
             {share("template")} AS template_share, {share("knowledge")} AS knowledge_share,
             {share("cheap_llm")} AS cheap_llm_share, {share("strong_llm")} AS strong_llm_share,
             {share("human")} AS human_share,
             count(escalation_id) AS escalations
      FROM v_messages WHERE intent IS NOT NULL GROUP BY intent) s
LEFT JOIN (SELECT x.intent, CAST(avg(f.rating) AS {real}) AS csat, count(*) AS csat_count
           FROM (SELECT DISTINCT intent, conversation_id FROM route_decisions WHERE intent IS NOT NULL) x
           JOIN feedback f ON f.conversation_id = x.conversation_id GROUP BY x.intent) fs
       ON fs.intent = s.intent""",
        # one row per escalation
        "v_escalations": f"""
SELECT e.id AS escalation_id, e.conversation_id, c.channel, e.created_at, {day("e.created_at")} AS day,
       e.reason_kind, e.reason, e.status, e.agent_id, a.name AS agent,
       e.claimed_at, e.first_response_at, e.resolved_at,
       {seconds("e.claimed_at", "e.created_at")} AS wait_to_claim_s,
       {seconds("e.first_response_at", "e.created_at")} AS first_response_s,
       {seconds("e.resolved_at", "e.created_at")} AS time_to_resolve_s,
       COALESCE({seconds("e.claimed_at", "e.created_at")}, {seconds(now, "e.created_at")}) AS waiting_s,
       {sla} AS sla_seconds,
       CASE WHEN COALESCE({seconds("e.claimed_at", "e.created_at")}, {seconds(now, "e.created_at")}) > {sla}
            THEN 1 ELSE 0 END AS sla_breached
FROM escalations e
JOIN conversations c ON c.id = e.conversation_id
LEFT JOIN agents a ON a.id = e.agent_id""",
        # day x channel x kind
        "v_guardrail_events": f"""
SELECT {day("g.created_at")} AS day, c.channel, g.kind,
       count(*) AS events, count(DISTINCT g.conversation_id) AS conversations
FROM guardrail_events g
LEFT JOIN conversations c ON c.id = g.conversation_id
GROUP BY {day("g.created_at")}, c.channel, g.kind""",
    }


def create_views() -> None:
    for name, sql in view_sql(op.get_bind().dialect.name).items():
        op.execute(f"CREATE VIEW {name} AS {sql.strip()}")


def drop_views() -> None:
    for name in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {name}")


def upgrade() -> None:
    create_views()


def downgrade() -> None:
    drop_views()
