"""Routing benchmark, the figures a support lead reads and their printing (bench/routing.py runs it).

contained           of the rows a person is not needed for (expected=auto, or needs_human=false in the
                    old file), the share whose final route is not `human` (template, knowledge, clarify,
                    cheap_llm, strong_llm all count as contained)
needs-person recall of the rows a person is needed for, the share routed to `human`
Both are broken down per kind (the new file's `kind` column; the old file's category).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import select

from bot.db import models as m
from bot.messages import Route

ROUTES = tuple(r.value for r in Route)
CATEGORIES = ("routine", "complex", "emotional", "critical", "out_of_scope")
SAVINGS_TARGET = 0.80


def share(a: int, b: int) -> float | None:
    return round(a / b, 3) if b else None


def containment(per_row: list[dict]) -> dict:
    """contained / needs-person recall, overall and per kind, and the rows that missed either."""
    auto = [r for r in per_row if not r["needs_human"]]
    need = [r for r in per_row if r["needs_human"]]
    contained = [r for r in auto if r["route"] != "human"]
    caught = [r for r in need if r["route"] == "human"]
    kinds: dict[str, dict] = {}
    for kind in dict.fromkeys(r["kind"] for r in per_row):  # first-seen order
        a = [r for r in auto if r["kind"] == kind]
        h = [r for r in need if r["kind"] == kind]
        kinds[kind] = {"n": len(a) + len(h),
                       "auto": len(a), "contained": sum(r["route"] != "human" for r in a),
                       "contained_share": share(sum(r["route"] != "human" for r in a), len(a)),
                       "human": len(h), "routed_to_human": sum(r["route"] == "human" for r in h),
                       "recall": share(sum(r["route"] == "human" for r in h), len(h)),
                       "routes": dict(Counter(r["route"] for r in per_row if r["kind"] == kind))}
    labelled = [r for r in per_row if r["label_intent"]]
    intent_ok = sum(r["intent"] == r["label_intent"] for r in labelled)
    return {
        "contained": {"n": len(auto), "contained": len(contained), "share": share(len(contained), len(auto))},
        "needs_person_recall": {"n": len(need), "routed_to_human": len(caught), "share": share(len(caught), len(need))},
        "by_kind": kinds,
        "intent_agreement": {"labelled": len(labelled), "agree": intent_ok, "share": share(intent_ok, len(labelled))},
        "misses": [miss(r) for r in per_row if (r["route"] == "human") != r["needs_human"]],
    }


def miss(r: dict) -> dict:
    return {"csv_line": r["csv_line"], "text": r["text"], "kind": r["kind"],
            "expected": "human" if r["needs_human"] else "auto", "route": r["route"], "rule": r["rule"],
            "intent": r["intent"], "label_intent": r["label_intent"], "confidence": r["confidence"]}


# --- figures, all from the database ---------------------------------------------------------

def pct(a: float, b: float) -> float:
    return round(100 * a / b, 1) if b else 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def actions(per_row: list[dict], action_intents: dict[str, str], ok_conversations: set[int]) -> dict:
    """Of the rows labelled with an intent that has an action (order_status, return_item, cancel_order in
    the demo): how many the action took up (asked for its values, or called at once), and how many ended
    resolved by it (a call that answered ok, after the bench's customer gave what was asked)."""
    sub = [r for r in per_row if r["label_intent"] in action_intents]
    taken = [r for r in sub if r["rule"] == "action"]
    resolved = [r for r in sub if r["conversation_id"] in ok_conversations]
    return {"rows": len(sub), "taken_up": len(taken), "resolved": len(resolved),
            "taken_up_share": share(len(taken), len(sub)), "resolved_share": share(len(resolved), len(sub)),
            "by_intent": {i: {"rows": sum(r["label_intent"] == i for r in sub),
                              "taken_up": sum(r["label_intent"] == i for r in taken),
                              "resolved": sum(r["label_intent"] == i for r in resolved)} for i in action_intents}}


async def report(app: Any, rows: list, conv_of: dict[int, int]) -> dict:
    """Every figure, read back from the database (route_decisions, model_calls, escalations)."""
    async with app.sessions() as s:
        decisions: dict[int, Any] = {}  # a row's first message (a form's follow-up answers come after it)
        for d in (await s.scalars(select(m.RouteDecision).order_by(m.RouteDecision.id))).all():
            decisions.setdefault(d.conversation_id, d)
        action_calls = (await s.scalars(select(m.ActionCall))).all()
        calls = (await s.scalars(select(m.ModelCall))).all()
        escalations = (await s.scalars(select(m.Escalation))).all()
    esc_by_conv = {e.conversation_id: e for e in escalations}
    n = len(rows)
    per_row = []
    for row in rows:
        d = decisions[conv_of[row.index]]
        e = esc_by_conv.get(d.conversation_id)
        per_row.append({"csv_line": row.index + 2, "conversation_id": d.conversation_id, "text": row.text, "category": row.category,
                        "kind": row.kind, "label_intent": row.intent, "needs_human": row.needs_human, "expected": row.expected, "route": d.route,
                        "rule": d.rule, "reason": d.reason, "degraded_from": d.degraded_from,
                        "intent": d.intent, "confidence": round(d.confidence or 0, 3), "stage": d.stage,
                        "signals": d.signals or [], "cost_usd": d.cost_usd,
                        "counterfactual_usd": d.counterfactual_usd, "latency_ms": d.latency_ms,
                        "escalation": e.reason_kind if e else None})

    route_counts = Counter(r["route"] for r in per_row)
    by_category: dict[str, dict] = {}
    for cat in CATEGORIES:
        sub = [r for r in per_row if r["category"] == cat]
        if sub:
            by_category[cat] = {"n": len(sub), "routes": dict(Counter(r["route"] for r in sub))}

    per_model: dict[tuple, dict] = defaultdict(lambda: {"calls": 0, "ok": 0, "input_tokens": 0,
                                                        "output_tokens": 0, "cost_usd": 0.0})
    for c in calls:
        agg = per_model[(c.model, c.tier, c.purpose)]
        agg["calls"] += 1
        agg["ok"] += c.outcome == "ok"
        agg["input_tokens"] += c.input_tokens
        agg["output_tokens"] += c.output_tokens
        agg["cost_usd"] += c.cost_usd

    actual = sum(r["cost_usd"] for r in per_row)
    cost_by_route = {route: {"actual_usd": round(sum(r["cost_usd"] for r in per_row if r["route"] == route), 6),
                             "counterfactual_usd": round(sum(r["counterfactual_usd"] for r in per_row
                                                             if r["route"] == route), 6)}
                     for route in ROUTES if route_counts.get(route)}
    counterfactual = sum(r["counterfactual_usd"] for r in per_row)
    bot_rows = [r for r in per_row if r["route"] != "human"]
    bot_actual = sum(r["cost_usd"] for r in bot_rows)
    bot_cf = sum(r["counterfactual_usd"] for r in bot_rows)

    needs = [r for r in per_row if r["needs_human"]]
    to_human = [r for r in needs if r["route"] == "human"]
    answered = [r for r in needs if r["route"] != "human"]
    not_needs = [r for r in per_row if not r["needs_human"]]
    false_esc = [r for r in not_needs if r["route"] == "human"]
    scored = [r for r in per_row if r["expected"] != "auto"]
    disagree = [r for r in scored if r["route"] != r["expected"]]
    missing_esc = [r for r in per_row if r["route"] == "human" and not r["escalation"]]
    latencies = [r["latency_ms"] for r in per_row]
    savings = 1 - actual / counterfactual if counterfactual else 0.0
    llm_stage = sum(1 for r in per_row if r["stage"] == "llm")
    model_cost = sum(c.cost_usd for c in calls)

    return {
        "n": n,
        "routes": {r: {"n": route_counts.get(r, 0), "pct": pct(route_counts.get(r, 0), n)} for r in ROUTES},
        "by_category": by_category,
        "classified_by_llm": {"n": llm_stage, "pct": pct(llm_stage, n)},
        "model_calls": [{"model": k[0], "tier": k[1], "purpose": k[2], **{**v, "cost_usd": round(v["cost_usd"], 6)}}
                        for k, v in sorted(per_model.items())],
        "cost": {"actual_usd": round(actual, 6), "model_calls_usd": round(model_cost, 6),
                 "counterfactual_usd": round(counterfactual, 6), "savings_pct": round(100 * savings, 1),
                 "per_message_actual_usd": round(actual / n, 6) if n else 0.0,
                 "per_message_counterfactual_usd": round(counterfactual / n, 6) if n else 0.0,
                 "bot_answered_savings_pct": round(100 * (1 - bot_actual / bot_cf), 1) if bot_cf else 0.0,
                 "by_route": cost_by_route},
        "escalation": {
            "needs_human": len(needs), "routed_to_human": len(to_human),
            "recall": round(len(to_human) / len(needs), 3) if needs else None,
            "answered_although_human_needed": len(answered),
            "false_escalations": len(false_esc),
            "false_escalation_rate": round(len(false_esc) / len(not_needs), 3) if not_needs else None,
            "escalation_rows": len(escalations),
            "escalation_kinds": dict(Counter(e.reason_kind for e in escalations)),
            "human_route_without_escalation_row": len(missing_esc),
        },
        "expected_route": {"scored": len(scored), "agree": len(scored) - len(disagree),
                           "agreement": round((len(scored) - len(disagree)) / len(scored), 3) if scored else None},
        "latency_ms": {"mean": round(sum(latencies) / n, 2) if n else 0.0,
                       "p95": round(percentile(latencies, 0.95), 2)},
        "targets": {"savings_met": savings >= SAVINGS_TARGET, "no_human_needed_answered_met": not answered},
        "misses": {"answered_although_human_needed": answered, "false_escalations": false_esc,
                   "expected_route_disagreements": disagree},
        "containment": containment(per_row),
        "actions": actions(per_row, {i: name for name, a in app.settings.actions.items() for i in a.intents},
                           {c.conversation_id for c in action_calls if c.status == "ok"}),
        "rows": per_row,
    }


# --- printing -----------------------------------------------------------------------------

def fmt_share(v: float | None) -> str:
    return "    -" if v is None else f"{v:5.3f}"


def short(r: dict) -> str:
    text = r["text"] if len(r["text"]) <= 90 else r["text"][:87] + "..."
    sig = ",".join(r["signals"]) or "-"
    expected = "human" if r["needs_human"] and r["expected"] == "auto" else r["expected"]
    return (f"  line {r['csv_line']:>3} [{r['kind']}] {text!r}\n"
            f"          -> {r['route']} (rule {r['rule']}; intent {r['intent']} {r['confidence']:.2f} "
            f"by {r['stage']}; signals {sig}; expected {expected})\n"
            f"          reason: {(r['reason'] or '')[:160]}")


def show_containment(f: dict, every_row: bool) -> None:
    c = f["containment"]
    ct, rc = c["contained"], c["needs_person_recall"]
    print(f"\nContained (expected auto, final route not human)   {ct['contained']}/{ct['n']} = {fmt_share(ct['share'])}")
    print(f"Needs-person recall (expected human -> human)      {rc['routed_to_human']}/{rc['n']} = {fmt_share(rc['share'])}")
    ia = c["intent_agreement"]
    print(f"Decided intent = labelled intent                   {ia['agree']}/{ia['labelled']} = {fmt_share(ia['share'])}")
    print(f"\n  {'kind':<17}{'n':>4}{'auto':>6}{'contained':>11}{'human':>7}{'recall':>8}   "
          + " ".join(f"{r[:9]:>9}" for r in ROUTES))
    for kind, v in c["by_kind"].items():
        print(f"  {kind:<17}{v['n']:>4}{v['auto']:>6}{fmt_share(v['contained_share']):>11}{v['human']:>7}"
              f"{fmt_share(v['recall']):>8}   " + " ".join(f"{v['routes'].get(r, 0):>9}" for r in ROUTES))
    if every_row:
        print(f"\nMisses (contained or recall): {len(c['misses'])}")
        print(f"  {'line':>4}  {'kind':<16} {'expected':<8} {'route':<10} {'rule':<20} {'intent':<24} conf  text")
        for r in c["misses"]:
            text = r["text"] if len(r["text"]) <= 70 else r["text"][:67] + "..."
            print(f"  {r['csv_line']:>4}  {r['kind']:<16} {r['expected']:<8} {r['route']:<10} {str(r['rule']):<20} "
                  f"{str(r['intent']):<24} {r['confidence']:.2f}  {text}")


def show_actions(f: dict) -> None:
    a = f.get("actions")
    if not a or not a["rows"]:
        return
    per = ", ".join(f"{i} {v['resolved']}/{v['taken_up']}/{v['rows']}" for i, v in a["by_intent"].items())
    print(f"\nActions: of {a['rows']} messages labelled with an action's intent, {a['taken_up']} were taken up by "
          f"it and {a['resolved']} = {fmt_share(a['resolved_share']).strip()} ended resolved by it (a call answered "
          f"ok, the bench's customer giving the order number, postcode and yes it asked for); per intent "
          f"resolved/taken up/rows: {per}")


def show(f: dict, every_row: bool = False) -> None:
    n = f["n"]
    run_ = f["run"]
    variant = ", the model never says needs_human" if run_["model_misses_human"] else ""
    mode = "no LLM configured (no API keys)" if run_["no_llm"] else \
        f"fake providers (latency {run_['fake_latency_ms']:g} ms{variant})"
    print(f"Routing benchmark: {n} messages from {run_['data']}, demo config, {mode}\n")
    print("Share of messages per route")
    for route, v in f["routes"].items():
        print(f"  {route:<11} {v['n']:>4}  {v['pct']:>5.1f}%")
    print(f"  (the cascade asked the cheap LLM to classify {f['classified_by_llm']['n']} "
          f"= {f['classified_by_llm']['pct']:.1f}% of messages)")

    routes = list(f["routes"])
    print("\nRoute mix per category")
    print(f"  {'category':<13}{'n':>4}  " + "  ".join(f"{r:>10}" for r in routes))
    for cat, v in f["by_category"].items():
        print(f"  {cat:<13}{v['n']:>4}  " + "  ".join(f"{v['routes'].get(r, 0):>10}" for r in routes))

    print("\nModel calls")
    print(f"  {'model':<20}{'tier':<8}{'purpose':<10}{'calls':>6}{'ok':>5}{'in tok':>9}{'out tok':>9}{'cost $':>11}")
    for c in f["model_calls"]:
        print(f"  {c['model']:<20}{c['tier']:<8}{c['purpose']:<10}{c['calls']:>6}{c['ok']:>5}"
              f"{c['input_tokens']:>9}{c['output_tokens']:>9}{c['cost_usd']:>11.5f}")
    if not f["model_calls"]:
        print("  (none)")

    c = f["cost"]
    print("\nCost")
    print(f"  actual (route_decisions)          ${c['actual_usd']:.5f}  (${c['per_message_actual_usd']:.6f}/message;"
          f" model_calls sum ${c['model_calls_usd']:.5f})")
    print(f"  always-strong counterfactual      ${c['counterfactual_usd']:.5f}  "
          f"(${c['per_message_counterfactual_usd']:.6f}/message)")
    print(f"  savings                           {c['savings_pct']:.1f}%")
    print(f"  savings on bot-answered messages  {c['bot_answered_savings_pct']:.1f}%  "
          "(messages handed to a person left out of both sides)")
    print(f"  {'by route':<13}{'actual $':>11}{'always-strong $':>17}")
    for route, v in c["by_route"].items():
        print(f"  {route:<13}{v['actual_usd']:>11.5f}{v['counterfactual_usd']:>17.5f}")

    e = f["escalation"]
    print("\nEscalation")
    print(f"  recall (needs_human -> human)     {e['routed_to_human']}/{e['needs_human']} = {fmt_share(e['recall'])}")
    print(f"  answered although human-needed    {e['answered_although_human_needed']}")
    print(f"  false escalations                 {e['false_escalations']}/{n - e['needs_human']} "
          f"= {fmt_share(e['false_escalation_rate'])}")
    print(f"  escalation rows                   {e['escalation_rows']}  {e['escalation_kinds']}")
    if e["human_route_without_escalation_row"]:
        print(f"  human route without an escalation row: {e['human_route_without_escalation_row']}")

    show_containment(f, every_row)
    show_actions(f)

    x = f["expected_route"]
    if x["scored"]:
        print(f"\nAgreement with expected_route (not auto): {x['agree']}/{x['scored']} = {x['agreement']:.3f}")
    lat = f["latency_ms"]
    print(f"\nOrchestration latency (route_decisions.latency_ms): mean {lat['mean']:.1f} ms, p95 {lat['p95']:.1f} ms")
    print(f"Run: {run_['wall_s']:.1f} s wall ({run_['messages_s']:.1f} s for the messages), "
          f"{run_['fake_requests']} provider requests, {run_['replies_delivered']} replies delivered")

    for title, key in (("Answered automatically although a person was needed", "answered_although_human_needed"),
                       ("False escalations (no person needed, sent to one)", "false_escalations"),
                       ("Route differs from expected_route", "expected_route_disagreements")):
        rows = f["misses"][key]
        if key == "expected_route_disagreements" and not x["scored"]:
            continue
        print(f"\n{title}: {len(rows)}")
        for r in rows if every_row or key != "false_escalations" else rows[:15]:
            print(short(r))
        if not every_row and key == "false_escalations" and len(rows) > 15:
            print(f"  ... and {len(rows) - 15} more (--rows lists them all)")

    if every_row:
        print(f"\nEvery row: {n}")
        for r in f["rows"]:
            print(short(r))

    t = f["targets"]
    print(f"\nTARGET savings >= {SAVINGS_TARGET:.0%} versus always-strong: "
          f"{'MET' if t['savings_met'] else 'NOT MET'} ({c['savings_pct']:.1f}%)")
    print(f"TARGET no human-needed message answered automatically: "
          f"{'MET' if t['no_human_needed_answered_met'] else 'NOT MET'} ({e['answered_although_human_needed']})")


def show_both(both: dict[str, dict]) -> None:
    """--both: contained and needs-person recall per kind, no LLM beside the fake cheap LLM."""
    modes = list(both)
    print("\n=== Contained / needs-person recall, " + " vs ".join(modes) + " ===")
    head = "".join(f"{m + ' cont':>16}{m + ' rec':>15}" for m in modes)
    print(f"  {'kind':<17}{'n':>4}{head}")
    kinds = list(both[modes[0]]["containment"]["by_kind"])
    for kind in kinds:
        vs = [both[m]["containment"]["by_kind"][kind] for m in modes]
        cells = "".join(f"{fmt_share(v['contained_share']):>16}{fmt_share(v['recall']):>15}" for v in vs)
        print(f"  {kind:<17}{vs[0]['n']:>4}{cells}")
    cells = "".join(f"{fmt_share(both[m]['containment']['contained']['share']):>16}"
                    f"{fmt_share(both[m]['containment']['needs_person_recall']['share']):>15}" for m in modes)
    print(f"  {'ALL':<17}{both[modes[0]]['n']:>4}{cells}")
