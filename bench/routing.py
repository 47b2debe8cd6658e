"""Routing benchmark: the whole pipeline on a labelled set of customer messages (one core).

    .venv/bin/python bench/routing.py [--data CSV] [--latency-ms MS] [--db FILE] [--json] [--rows]
                                      [--model-misses-human] [--no-llm | --both]

Prints figures; it does not pass or fail (it prints TARGET MET / NOT MET for the two
targets: >= 80% saved versus always-strong, and no human-needed message answered by
the bot). Data, written for the Northwind Goods demo shop, in one of two formats (told
apart by their columns):
  bench/data/routing_dev.csv (default): text, kind (routine | smalltalk | offtopic |
    gibberish | safety | money | legal | fraud | account_takeover | emotional | wants_human |
    hardship | bereavement | distress | complex), expected (auto | human: whether a person
    must handle it) and intent (the demo intent a support lead would file it under, `oos`
    for off-topic and gibberish, empty when unclear).
  bench/data/routing_eval.csv (the older set): text, category (routine | complex |
    emotional | critical | out_of_scope), needs_human (true | false) and expected_route
    (template | knowledge | clarify | cheap_llm | strong_llm | human, or `auto`).
Besides cost and route mix it prints `contained` (expected auto, final route not human)
and `needs-person recall` (expected human, routed to human), per kind; see
bench/routing_report.py. --no-llm runs with no API key variables set, so the LLM routes
degrade as configured (degrade_to); --both runs that and the fake-LLM run and compares them.

What runs: the demo config (examples/supportbot.yaml) unchanged except that every catalog
model's base_url points at the local fake provider APIs (tests/fakes/llm_servers.py;
OpenAI-compatible models at <fake>/v1) and the key variables the catalog names are set
in-process to the fake's keys. A fresh SQLite file is migrated with Alembic, App.open
builds the real pipeline (local classifier, cascade, policy, LLM router, orchestrator,
inbox / worker / outbox) and each message goes through inbox.accept -> worker.drain ->
outbox.flush in a conversation of its own (one customer per row, so repeat-contact
detection does not chain rows together).

The fake plays a well-behaved model that knows the row being processed:
  classify requests  -> {"intent": <the local classifier's best candidate, or out_of_scope
                        for out_of_scope rows>, "confidence": 0.92, "needs_human": <the
                        row's label: needs_human, or expected=human in the new format>,
                        "complexity": 0.8 for complex rows else 0.15}
  (the new format's kinds map onto the old categories: offtopic and gibberish are
  out_of_scope; kind complex and the intents flagged complex: true are complex)
  answer requests    -> {"answer": <a 60-120 word reply built from the first article in the
                        prompt>, "confidence": 0.93}
  usage              -> input tokens = prompt characters / 4 (system + messages, as sent);
                        output = the verdict's characters / 4 for classify, 150-250 tokens
                        for an answer (stable per row)
So the figures measure the routing (policy, signals, cascade) and its cost, not the
quality of a real model's judgement. Because that model is told the truth about needs_human,
--model-misses-human runs the sensitivity case: the verdict never says needs_human, which
shows what the local classifier, the signal lexicon and the policy catch on their own.
Every figure is read back from the database (route_decisions, model_calls, escalations),
as an analyst would.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import bench.one_core  # noqa: E402,F401 - one thread per BLAS pool, before numpy loads
from bot.app import App  # noqa: E402
from bot.db.migrate import upgrade  # noqa: E402
from bot.messages import OUT_OF_SCOPE, InboundMessage, Reply, Route  # noqa: E402
from bot.settings import Settings, load_settings  # noqa: E402
from bot.web import apps  # noqa: E402
from tests.fakes.llm_servers import KEYS, Behaviour, FakeLLMServer, U, ok, prompt_strings  # noqa: E402

from bench.routing_report import CATEGORIES, report, show, show_both  # noqa: E402

DEFAULT_DATA = REPO / "bench" / "data" / "routing_dev.csv"
DEMO_CONFIG = REPO / "examples" / "supportbot.yaml"
KINDS = ("routine", "smalltalk", "offtopic", "gibberish", "safety", "money", "legal", "fraud",
         "account_takeover", "emotional", "wants_human", "hardship", "bereavement", "distress", "complex")
CATEGORY_OF_KIND = {"offtopic": "out_of_scope", "gibberish": "out_of_scope", "complex": "complex",
                    "legal": "critical", "fraud": "critical", "account_takeover": "critical",
                    "emotional": "emotional", "distress": "emotional", "wants_human": "emotional",
                    "hardship": "emotional", "bereavement": "emotional", "safety": "critical", "money": "critical"}
ROUTES = tuple(r.value for r in Route)
CLASSIFY_MARK = "You classify customer-support messages"
NO_LLM_URL = "http://127.0.0.1:9"  # --no-llm: were a key set after all, nothing would answer there


# --- data --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    index: int
    text: str
    category: str  # the old file's category (derived from kind for the new file)
    needs_human: bool
    expected: str  # a route, or "auto" (always "auto" in the new file: it labels only auto/human)
    kind: str = ""  # the new file's kind (the category for the old file)
    intent: str = ""  # the labelled intent ("" when unclear or not labelled)


def read_rows(path: Path, complex_intents: frozenset[str] = frozenset()) -> list[Row]:
    """Either format, told apart by its columns (see the module docstring)."""
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        cols = set(reader.fieldnames or ())
        if {"kind", "expected"} <= cols:
            return [dev_row(path, i, r, complex_intents) for i, r in enumerate(reader)]
        if {"category", "needs_human", "expected_route"} <= cols:
            return [eval_row(path, i, r) for i, r in enumerate(reader)]
        raise SystemExit(f"{path}: expected columns text,kind,expected,intent or "
                         f"text,category,needs_human,expected_route; found {sorted(cols)}")


def dev_row(path: Path, i: int, r: dict, complex_intents: frozenset[str]) -> Row:
    kind, expected, intent = r["kind"].strip(), r["expected"].strip(), (r.get("intent") or "").strip()
    if kind not in KINDS:
        raise SystemExit(f"{path}: row {i + 2}: unknown kind {kind!r}")
    if expected not in ("auto", "human"):
        raise SystemExit(f"{path}: row {i + 2}: expected must be auto or human, not {expected!r}")
    category = CATEGORY_OF_KIND.get(kind, "complex" if intent in complex_intents else "routine")
    return Row(i, r["text"], category, expected == "human", "auto", kind, intent)


def eval_row(path: Path, i: int, r: dict) -> Row:
    category, expected = r["category"].strip(), r["expected_route"].strip()
    if category not in CATEGORIES:
        raise SystemExit(f"{path}: row {i + 2}: unknown category {category!r}")
    if expected not in (*ROUTES, "auto"):
        raise SystemExit(f"{path}: row {i + 2}: unknown expected_route {expected!r}")
    return Row(i, r["text"], category, r["needs_human"].strip().lower() in ("true", "1", "yes"),
               expected, category)


# --- the model the fake plays --------------------------------------------------------------

@dataclass
class Player:
    """Answers the fake's requests like a sensible model that knows the current row."""

    row: Row | None = None
    local_top: str = OUT_OF_SCOPE  # the local classifier's best candidate for the row
    misses_human: bool = False  # --model-misses-human: the verdict never says needs_human

    def __call__(self, provider: str, model: str, body: Any) -> Behaviour | None:
        row = self.row
        if row is None:
            return None
        texts = list(prompt_strings(body))
        prompt_tokens = sum(len(t) for t in texts) // 4 + 4 * max(1, len(texts))
        if any(CLASSIFY_MARK in t for t in texts):
            verdict = json.dumps({
                "intent": OUT_OF_SCOPE if row.category == "out_of_scope" else self.local_top,
                "confidence": 0.92, "needs_human": row.needs_human and not self.misses_human,
                "complexity": 0.8 if row.category == "complex" else 0.15})
            return ok(verdict, usage=U(prompt_tokens, max(1, len(verdict) // 4)))
        answer = json.dumps({"answer": reply_for(row, "\n".join(texts)), "confidence": 0.93})
        out = 150 + int(hashlib.sha1(row.text.encode()).hexdigest(), 16) % 101  # 150..250, stable per row
        return ok(answer, usage=U(prompt_tokens, min(out, max_tokens(provider, body))))


def max_tokens(provider: str, body: Any) -> int:
    """The request's output cap: a real provider never bills more output than this."""
    if not isinstance(body, dict):
        return 10**6
    if provider == "gemini":
        return int((body.get("generationConfig") or {}).get("maxOutputTokens") or 10**6)
    return int(body.get("max_completion_tokens") or body.get("max_tokens") or 10**6)


ARTICLE = re.compile(  # the first article build_system() put in the prompt
    r"\[1\] (?P<title>[^\n]+)\nURL: (?P<url>\S+)\n(?P<body>.*?)(?=\n\n\[2\] |\n\nTreat the customer|\Z)", re.S)


def reply_for(row: Row, prompt: str) -> str:
    """A 60-120 word reply grounded in the first article of the prompt (as a model would write)."""
    closing = "If anything is still unclear, just reply here and I'll gladly help further."
    if row.category == "out_of_scope":
        return ("Thanks for your message! I'm the Northwind Goods support assistant, so I can only help with "
                "questions about our shop: orders and delivery, returns and refunds, payments and invoices, your "
                "account, Northwind Plus and our products such as tents, sleeping bags and garden furniture. "
                "I'm afraid I can't help with this question, but if there's anything about an order or a product "
                "I can do for you, just let me know here and I'll be happy to help.")
    m_ = ARTICLE.search(prompt)
    if not m_:
        return ("Thanks for your question. I couldn't find this in our help centre, so I don't want to guess and "
                "give you wrong information. A colleague from our support team can look into your order and reply "
                "here with a definite answer. " + closing)
    blocks = (p.strip() for p in re.split(r"\n\s*\n", m_.group("body")))
    paragraphs = [p for p in blocks if p and not p.startswith(("#", "|"))]  # prose, not headings or tables
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(" ".join(paragraphs[:3]).split()))
    words: list[str] = ["Thanks", "for", "getting", "in", "touch!"]
    for s in sentences:
        if len(words) + len(s.split()) > 95:
            break
        words += s.split()
    words += closing.split() + ["More", "details:", m_.group("url")]
    while len(words) < 60:
        words[5:5] = "Here is what our help centre says about it.".split()
    return " ".join(words[:120])


# --- the run --------------------------------------------------------------------------------

class Collect:
    """The bench's channel: the outbox delivers replies here."""

    name = "bench"

    def __init__(self) -> None:
        self.sent: list[Reply] = []

    async def deliver(self, reply: Reply, idempotency_key: str) -> str:
        self.sent.append(reply)
        return idempotency_key


def point_at_fake(settings: Settings, url: str) -> None:
    for entry in settings.models.values():
        entry.base_url = url + "/v1" if entry.provider == "openai" else url
        os.environ[entry.api_key_env] = KEYS[entry.provider]
    no_proxy = os.environ.get("NO_PROXY", "")
    os.environ["NO_PROXY"] = ",".join(p for p in (no_proxy, "127.0.0.1", "localhost") if p)


def no_keys(settings: Settings) -> None:
    """--no-llm: none of the catalog's key variables set (in this process), so every LLM route degrades."""
    for entry in settings.models.values():
        entry.base_url = NO_LLM_URL + "/v1" if entry.provider == "openai" else NO_LLM_URL
        os.environ.pop(entry.api_key_env, None)


class NoServer:
    """Stands in for the fake in --no-llm runs: no server, no requests."""

    requests: list = []

    async def __aenter__(self) -> "NoServer":
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


async def run(rows: list[Row], db_url: str, latency_ms: float, model_cache: Path, *,
              misses_human: bool = False, no_llm: bool = False, data: str = "") -> dict:
    settings = load_settings(DEMO_CONFIG)
    settings.database.url = db_url
    settings.classifier.cache_dir = str(model_cache)
    player = Player(misses_human=misses_human)
    started = time.perf_counter()
    server = NoServer() if no_llm else FakeLLMServer(responder=player, latency_ms=latency_ms)
    async with server as srv:
        if no_llm:
            no_keys(settings)
        else:
            point_at_fake(settings, srv.url)
        async with App.open(settings) as app, apps.served_alone(settings) as shop_url:
            if shop_url and app.actions is not None:  # the demo's order API, as `chat` serves it
                app.actions.self_url = shop_url
            out = Collect()
            app.channels.register(out)
            orch = app.orchestrator  # the cascade lives on its decider (older: on the orchestrator)
            local = getattr(getattr(orch, "decider", orch), "cascade").local
            conv_of: dict[int, int] = {}
            t_msgs = time.perf_counter()
            for row in rows:
                c = local.classify(row.text)
                player.row, player.local_top = row, (c.top[0][0] if c.top else c.intent)
                msg = InboundMessage(channel="bench", customer_id=f"bench-{row.index}", text=row.text,
                                     conversation_key=f"bench-{row.index}", customer_name="Sam")
                event_id = await app.inbox.accept(msg, f"row-{row.index}")
                results = await app.worker.drain()
                await app.outbox.flush()
                result = results.get(event_id)
                if result is None:
                    raise SystemExit(f"row {row.index + 2}: the worker did not handle the message")
                conv_of[row.index] = result.conversation_id
                await answer_forms(app, result, row.index)
            msgs_s = time.perf_counter() - t_msgs
            player.row = None
            figures = await report(app, rows, conv_of)
    figures["run"] = {"wall_s": round(time.perf_counter() - started, 2), "messages_s": round(msgs_s, 2),
                      "fake_latency_ms": latency_ms, "fake_requests": len(srv.requests),
                      "replies_delivered": len(out.sent), "db": db_url, "data": data,
                      "model_misses_human": misses_human, "no_llm": no_llm}
    return figures


# the customer of a bench row knows their order: what they answer when an action asks (the demo's orders)
FORM_ANSWERS = {"cancel_order": {"order_number": "NW-51207", "postcode": "75011"},
                None: {"order_number": "NW-50118", "postcode": "SW1A 1AA"}}


async def answer_forms(app: Any, result: Any, index: int) -> None:
    """While an action asks for a value (or a yes), answer as the customer would, up to 3 turns, so the
    report can say how many action messages end resolved by an action. The row's figures stay those of
    its first message."""
    for turn in range(3):
        pending = result.outcome.pending or {}
        if pending.get("kind") != "action":
            return
        known = FORM_ANSWERS.get(pending.get("action"), FORM_ANSWERS[None])
        text = "yes" if pending.get("asking") == "confirm" else known.get(str(pending.get("asking")), "I don't know")
        msg = InboundMessage(channel="bench", customer_id=f"bench-{index}", text=text,
                             conversation_key=f"bench-{index}", customer_name="Sam")
        event_id = await app.inbox.accept(msg, f"row-{index}-form-{turn}")
        results = await app.worker.drain()
        await app.outbox.flush()
        result = results[event_id]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="labelled CSV (default: %(default)s)")
    ap.add_argument("--latency-ms", type=float, default=0.0, help="fake provider latency per request (default 0)")
    ap.add_argument("--db", type=Path, help="SQLite file to create and keep (default: a temporary file)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    ap.add_argument("--rows", action="store_true", help="also print every row's route and reason")
    ap.add_argument("--model-misses-human", action="store_true",
                    help="sensitivity: the cheap model's verdict never says needs_human (what the local "
                         "classifier, signals and policy catch on their own)")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--no-llm", action="store_true",
                      help="no API key variables set: the LLM routes degrade as configured (no fake server)")
    mode.add_argument("--both", action="store_true",
                      help="run without an LLM and with the fake cheap LLM, and compare contained / recall")
    args = ap.parse_args()
    if args.both and args.db:
        raise SystemExit("--both runs twice and needs two fresh databases: leave out --db")

    complex_intents = frozenset(name for name, i in load_settings(DEMO_CONFIG).intents.items() if i.complex)
    rows = read_rows(args.data, complex_intents)
    model_cache = Path(tempfile.gettempdir()) / "supportbot-bench" / "models"  # trained once, reused
    modes = {"no_llm": True, "fake_llm": False} if args.both else {"no_llm" if args.no_llm else "fake_llm": args.no_llm}
    results: dict[str, dict] = {}
    for name, no_llm in modes.items():
        with tempfile.TemporaryDirectory(prefix="supportbot-routing-") as tmp:
            db = args.db or Path(tmp) / "routing.db"
            if db.exists() and db.stat().st_size:
                raise SystemExit(f"{db} exists: the benchmark needs a fresh database")
            url = f"sqlite+aiosqlite:///{db.resolve()}"
            upgrade(url)  # Alembic runs its own event loop: before asyncio.run
            results[name] = asyncio.run(run(rows, url, args.latency_ms, model_cache,
                                            misses_human=args.model_misses_human, no_llm=no_llm,
                                            data=str(args.data)))
    if args.json:
        print(json.dumps(results if args.both else next(iter(results.values())), default=str))
        return
    for i, figures in enumerate(results.values()):
        if i:
            print("\n" + "=" * 100 + "\n")
        show(figures, every_row=args.rows)
    if args.both:
        show_both(results)


if __name__ == "__main__":
    main()
