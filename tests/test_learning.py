"""Learning from people: `label`, feedback examples, `train --include-feedback`, versions and `--activate`.

Real database (SQLite; the feedback query also on PostgreSQL), real LocalClassifier on the mini
config, the real CLI in-process (typer's CliRunner; stdin scripted for `label`).
"""

from __future__ import annotations

import asyncio
import shutil

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.app import App, build_classifier
from bot.cli.main import app as cli
from bot.db import models as m
from bot.db.engine import make_engine, session_factory
from bot.quality.labelling import Candidate, feedback_examples, parse_choice
from bot.messages import Classification, InboundMessage, Reply
from bot.classify.models_store import ACTIVE_FILE, ModelStore, load_classifier
from bot.settings import load_settings
from tests.helpers import MINI


class Scripted:
    RULES = {"unsure": ("order_status", 0.55), "weather": ("out_of_scope", 0.1), "order": ("order_status", 0.97)}
    model_version = "scripted"

    def classify(self, text: str) -> Classification:
        for word, (intent, p) in self.RULES.items():
            if word in text.lower():
                return Classification(intent, p, ((intent, p), ("return_item", 0.2)), model_version="scripted")
        return Classification("out_of_scope", 0.05, (("order_status", 0.05),), model_version="scripted")


class Collect:
    name = "test"

    async def deliver(self, reply: Reply, key: str) -> str:
        return key


@pytest.fixture
def config(tmp_path, sqlite_db, monkeypatch):
    """The mini config with its own models dir and classifier cache, on a migrated SQLite database."""
    shutil.copytree(MINI.parent, tmp_path / "cfg")
    path = tmp_path / "cfg" / MINI.name
    path.write_text(path.read_text() + f"classifier:\n  models_dir: {tmp_path / 'trained'}\n"
                                       f"  cache_dir: {tmp_path / 'cache'}\n")
    monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", sqlite_db)
    monkeypatch.delenv("TEST_KEY_SMALL", raising=False)
    monkeypatch.delenv("TEST_KEY_BIG", raising=False)
    return path


async def handle(settings, texts: list[str], classifier=None) -> None:  # noqa: ANN001
    async with App.open(settings, classifier=classifier) as a:
        a.channels.register(Collect())
        for i, text in enumerate(texts):
            await a.inbox.accept(InboundMessage(channel="test", customer_id=f"c{i}-{text[:5]}", text=text),
                                 f"e-{i}-{text}")
        await a.worker.drain()
        await a.outbox.flush()


async def rows(url: str, model, *where):  # noqa: ANN001, ANN201
    engine = make_engine(url)
    try:
        async with session_factory(engine)() as s:
            return (await s.scalars(select(model).where(*where).order_by(model.id))).all()
    finally:
        await engine.dispose()


def invoke(*args: str, stdin: str | None = None):  # noqa: ANN201
    return CliRunner().invoke(cli, list(args), input=stdin)


def test_parse_choice():
    c = Candidate(1, "x", "order_status", 0.5, (("order_status", 0.5), ("return_item", 0.3)))
    intents = ["fraud_report", "greeting", "order_status", "return_item"]
    assert parse_choice("2", c, intents) == ("label", "return_item")
    assert parse_choice("gree", c, intents) == ("label", "greeting")
    assert parse_choice("o", c, intents) == ("label", "out_of_scope")
    assert parse_choice("", c, intents) == ("skip", None)
    assert parse_choice("q", c, intents) == ("quit", None)
    assert parse_choice("7", c, intents)[0] == "error"
    assert parse_choice("nope", c, intents)[0] == "error"


def test_label_shows_unsure_messages_and_stores_the_choice(config, sqlite_db):
    settings = load_settings(config)
    asyncio.run(handle(settings, ["I'm unsure what to do", "what's the weather", "where is my order"], Scripted()))
    # newest first: the out-of-scope one, then the unsure one; the confident one is not shown
    out = invoke("label", "--config", str(config), stdin="nonsense\nret\n1\n")
    assert out.exit_code == 0, out.output
    assert "2 messages the classifier was unsure of" in out.stdout
    assert "unknown intent 'nonsense'" in out.stdout and "where is my order" not in out.stdout
    labelled = asyncio.run(rows(sqlite_db, m.LabelledExample))
    assert [(x.text, x.intent, x.source) for x in labelled] == [
        ("what's the weather", "return_item", "label"), ("I'm unsure what to do", "order_status", "label")]
    again = invoke("label", "--config", str(config), stdin="")
    assert "nothing to label" in again.stdout  # labelled messages are not shown twice


async def test_feedback_examples_from_reviews_labels_and_approved_drafts(db_url):
    engine = make_engine(db_url)
    try:
        sessions = session_factory(engine)
        async with sessions.begin() as s:
            cust = m.Customer(channel="t", external_id="c")
            s.add(cust)
            await s.flush()
            conv = m.Conversation(customer_id=cust.id, channel="t", thread_key="k", status="bot")
            s.add(conv)
            await s.flush()
            msgs = [m.Message(conversation_id=conv.id, direction="in", author="customer", text=t)
                    for t in ("draft ok", "draft edited", "draft rejected", "labelled twice")]
            s.add_all(msgs)
            await s.flush()
            for msg, intent in zip(msgs, ("order_status", "return_item", "greeting", "greeting")):
                s.add(m.Classification(message_id=msg.id, stage="local", model_version="v", intent=intent,
                                       confidence=0.6))
            for msg, outcome in zip(msgs[:3], ("approved", "edited", "rejected")):
                s.add(m.Escalation(conversation_id=conv.id, message_id=msg.id, reason_kind="review", reason="r",
                                   status="resolved", review_outcome=outcome, draft="d"))
            s.add(m.LabelledExample(text="labelled twice", intent="greeting", source="label", message_id=msgs[3].id))
            s.add(m.LabelledExample(text="labelled twice", intent="order_status", source="review",
                                    message_id=msgs[3].id))
            s.add(m.LabelledExample(text="old intent", intent="gone_intent", source="agent"))
        examples, dropped = await feedback_examples(sessions, {"order_status", "return_item", "greeting"})
    finally:
        await engine.dispose()
    assert dropped == 1
    assert sorted((e.text, e.intent, e.source) for e in examples) == [
        ("draft edited", "return_item", "approved"), ("draft ok", "order_status", "approved"),
        ("labelled twice", "order_status", "review")]  # the later label of a message wins


FEEDBACK = [("my parcel is lost in transit", "order_status"), ("where's the package I bought", "order_status"),
            ("I'd like my money back for this jacket", "return_item"), ("send back the shoes", "return_item"),
            ("good evening", "greeting"), ("hey", "greeting"), ("my card was stolen and used", "fraud_report")]


def test_train_include_feedback_versions_and_activation(config, sqlite_db):
    async def seed() -> None:
        engine = make_engine(sqlite_db)
        try:
            async with session_factory(engine).begin() as s:
                s.add_all([m.LabelledExample(text=t, intent=i, source="label") for t, i in FEEDBACK])
        finally:
            await engine.dispose()

    asyncio.run(seed())
    settings = load_settings(config)
    store = ModelStore.for_settings(settings)
    before = build_classifier(settings)  # trained from the intents file (no active version yet)

    out = invoke("train", "--include-feedback", "--config", str(config))
    assert out.exit_code == 0, out.output
    [v] = store.versions()
    assert "feedback: 7 examples (label 7); 1 held out for the comparison" in out.output
    assert "held-out comparison on 1 feedback examples" in out.output and f"old {before.model_version}" in out.output
    assert "not activated" in out.output and store.active() is None
    assert (store.path(v["name"]) / "heldout.csv").read_text().startswith("text,intent,source")
    assert v["training"]["feedback_examples"] == 6 and v["n_examples"] == before.meta["n_examples"] + 6
    assert build_classifier(settings).model_version == before.model_version  # not served until activated

    out = invoke("train", "--include-feedback", "--activate", "--config", str(config))
    assert out.exit_code == 0, out.output
    assert store.active() == v["name"] and len(store.versions()) == 1  # same data: same version
    assert (store.root / ACTIVE_FILE).read_text().strip() == v["name"]
    listed = invoke("models", "list", "--config", str(config))
    assert f"* {v['name']}" in listed.stdout

    # the bot now serves the activated version, and every classification row says so
    asyncio.run(handle(settings, ["where is my order"]))
    [row] = asyncio.run(rows(sqlite_db, m.Classification))
    assert row.model_version == v["name"] != before.model_version


def test_bad_train_and_activate_options_exit_2(config, tmp_path):
    out = invoke("train", "--out", str(tmp_path / "x"), "--activate", "--config", str(config))
    assert out.exit_code == 2 and "--activate works on the model store" in out.output
    out = invoke("models", "activate", "no-such-version", "--config", str(config))
    assert out.exit_code == 2 and "no model version 'no-such-version'" in out.output
    out = invoke("train", "--kind", "bert", "--config", str(config))
    assert out.exit_code == 2 and "use tfidf or embeddings" in out.output


def test_train_csv_to_a_folder_still_works(config, tmp_path):
    data = tmp_path / "train.csv"
    data.write_text("text,intent\nwhere is my order,order_status\nhello,greeting\nhi,greeting\ntrack it,order_status\n")
    out = invoke("train", str(data), "--out", str(tmp_path / "model"), "--config", str(config))
    assert out.exit_code == 0, out.output
    assert (tmp_path / "model" / "meta.json").exists() and (tmp_path / "model" / "training.json").exists()
    assert invoke("eval", str(data), "--config", str(config), "--model", str(tmp_path / "model")).exit_code == 0


def test_train_learns_what_a_model_built_at_start_learns(config):
    """Without a DATA file, `train` fits the same data and calibration as the model built at start: the
    intents' examples *and* the off-topic ones as out_of_scope, so a promoted version does not forget
    what is off-topic."""
    text = config.read_text()
    config.write_text(text.replace("classifier:\n", "classifier:\n  kind: tfidf\n  out_of_scope_examples:\n"
                                   "    - what's the weather in paris\n    - who won the football last night\n"
                                   "    - tell me a joke about cats\n    - how tall is the eiffel tower\n", 1))
    settings = load_settings(config)
    at_start = build_classifier(settings)
    out = invoke("train", "--config", str(config))
    assert out.exit_code == 0, out.output
    [v] = ModelStore.for_settings(settings).versions()
    assert v["n_examples"] == at_start.meta["n_examples"]
    trained = load_classifier(ModelStore.for_settings(settings).path(v["name"]))
    assert "out_of_scope" in trained.intents
    # calibrated the same way (the mini config may be too small to fold: then neither is)
    assert (trained.calibrator is None) == (at_start.calibrator is None)
    if trained.calibrator is not None:
        assert trained.calibrator.to_dict() == at_start.calibrator.to_dict()
    assert trained.classify("what's the weather in paris").intent == at_start.classify("what's the weather in paris").intent
