"""Customers in their language (issue 19): the language of each message (bot/language.py), stored on the
message and the conversation; canned answers in German and French from the demo; a notice before a reply the
bot has only in English; a `language_in` rule; the agent sees the language; a model is told to answer in it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bot.app import App
from bot.db import models as m
from bot.language import LanguageDetector
from bot.settings import ConfigError, load_settings
from tests.conftest import EXAMPLE_CONFIG
from tests.fakes.doubles import Collect
from tests.fakes.llm_servers import llm_server  # noqa: F401 - fixture
from tests.helpers import demo_config_copy
from tests.harness.pipeline import rows, say


def test_the_detector_tells_the_shops_languages_apart_and_keeps_quiet_on_scraps():
    detect = LanguageDetector(["en", "de", "fr"])
    assert detect("Hallo, wo ist meine Bestellung?") == "de"
    assert detect("Bonjour, où est ma commande ?") == "fr"
    assert detect("where is my order, please?") == "en"
    for scrap in ("ok", "hi", "NW-51234", "danke", "👍"):  # too little to tell: the conversation's language stays
        assert detect(scrap) is None, scrap
    assert LanguageDetector(["en"])("Hallo, wo ist meine Bestellung?") is None  # one language: detection is off


@pytest.mark.parametrize("language,key", [
    ({"default": "en", "detect": ["de", "fr"]}, "language"),  # the default is not among the detected
    ({"detect": ["en", "de"], "answers": {"fr": "answers.fr.yaml"}}, "language"),  # answers for an undetected one
    ({"detect": ["en", "German"]}, "language.detect"),
])
def test_a_bad_language_section_names_the_file_and_key(tmp_path, language, key):
    path = demo_config_copy(tmp_path, tmp_path / "cache", lambda cfg: cfg.update(language=language))
    with pytest.raises(ConfigError) as e:
        load_settings(path)
    assert "supportbot.yaml" in str(e.value) and key in str(e.value)


def test_a_translation_with_an_unknown_placeholder_names_its_own_file(tmp_path):
    german = {"answers": {"payment_methods": "Wir nehmen {zahlarten}."}}
    (tmp_path / "answers.de.yaml").write_text(yaml.safe_dump(german), encoding="utf-8")

    def tweak(cfg):  # noqa: ANN001, ANN202
        cfg["language"] = {"detect": ["en", "de"], "answers": {"de": str(tmp_path / "answers.de.yaml")}}

    with pytest.raises(ConfigError, match=r"answers\.de\.yaml.*answers\.payment_methods.*unknown placeholder"):
        load_settings(demo_config_copy(tmp_path, tmp_path / "cache", tweak))


def test_the_demo_ships_every_canned_answer_in_german_and_french():
    s = load_settings(EXAMPLE_CONFIG)
    assert set(s.translations) == {"de", "fr"}
    for code in ("de", "fr"):
        assert set(s.translations[code]) == set(s.answers), code


@pytest.fixture
async def demo(db_url, demo_settings_factory, monkeypatch):  # noqa: ANN201
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "DEEPSEEK_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    settings = demo_settings_factory(db_url)
    async with App.open(settings) as a:
        a.out = Collect()
        a.channels.register(a.out)
        yield a


def german(app, intent: str) -> str:  # noqa: ANN001
    return render_answer(app, intent, "de")


async def test_a_german_conversation_is_answered_in_german_from_the_canned_answers(demo):
    r = await say(demo, "Kann ich mit Klarna bezahlen?", "e1")
    assert (r.decision.route.value, r.decision.rule) == ("template", "canned")
    assert demo.out.sent[-1].text == german(demo, "payment_methods")
    # a scrap keeps the conversation's language; the stored rows say which language was told when
    await say(demo, "ok", "e2")
    [conv] = await rows(demo, m.Conversation)
    assert conv.language == "de"
    told = [(x.text, x.language) for x in await rows(demo, m.Message) if x.direction == "in"]
    assert told == [("Kann ich mit Klarna bezahlen?", "de"), ("ok", None)]
    r = await say(demo, "Wie lange dauert die Lieferung nach Frankreich?", "e3")
    if r.decision.route.value == "template":
        assert demo.out.sent[-1].text == german(demo, r.classification.intent)


async def test_a_reply_the_bot_has_only_in_english_says_so_in_the_customers_language(demo):
    del demo.settings.action_words["fr"]  # the action's question only in English (the demo ships it in French)
    await say(demo, "Bonjour, où en est ma commande ? Je l'attends depuis lundi.", "e1")
    sent = demo.out.sent[-1].text
    assert sent == f"{demo.settings.language.unavailable['fr']}\n\n{demo.settings.actions['order_status'].params['order_number'].ask}"


async def test_the_action_asks_in_french_with_the_french_file(demo):
    await say(demo, "Bonjour, où en est ma commande ? Je l'attends depuis lundi.", "e1")
    assert demo.out.sent[-1].text == demo.settings.action_words["fr"].actions["order_status"].params["order_number"].ask


async def test_a_french_message_is_routed_by_a_language_in_rule_and_the_agent_sees_the_language(
        db_url, demo_settings_factory, monkeypatch):
    from bot.settings import Rule, When
    from bot.messages import Route

    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "DEEPSEEK_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    settings = demo_settings_factory(db_url)
    settings.policy.rules.insert(0, Rule(name="french_team", when=When(language_in=["fr"]), route=Route.HUMAN))
    async with App.open(settings) as a:
        a.out = Collect()
        a.channels.register(a.out)
        r = await say(a, "Bonjour, où est ma commande ? Elle devait arriver hier.", "e1")
        assert (r.decision.route.value, r.decision.rule) == ("human", "french_team")
        assert "language fr" in r.decision.reason
        [esc] = await rows(a, m.Escalation)
        assert "Language: French (fr)" in (esc.summary or "")
        [queued] = await a.handoff.queue()  # the console's queue and the Slack card show it beside the customer
        assert queued.language == "fr"
        from bot.messages import utcnow
        from channels.slack_desk import card_blocks

        assert "(writes in fr)" in json.dumps(card_blocks(queued, utcnow()))
        r = await say(a, "where is my order NW-51234?", "e2", customer="c2", thread="t2")
        assert r.decision.rule != "french_team"


async def test_a_model_is_told_to_answer_in_the_customers_language(db_url, llm_server, monkeypatch):  # noqa: F811
    from bot.settings_language import LanguageCfg
    from tests.fakes.llm_servers import ok
    from tests.harness.llm_app import answer, llm_app, verdict

    def german(settings):  # noqa: ANN001, ANN202
        settings.language = LanguageCfg(default="en", detect=["en", "de"], unavailable={"de": "NUR AUF ENGLISCH:"})

    async with llm_app(db_url, llm_server, monkeypatch, adjust=german) as app:
        app.llm.script("small", verdict(), ok(answer("Wir sagen das Wetter leider nicht voraus.", 0.95)))
        r = await say(app, "Wie wird das Wetter morgen in Berlin? Ich frage nur so.", "e1")
        assert r.decision.route.value == "cheap_llm"
        assert app.out.sent[-1].text == "Wir sagen das Wetter leider nicht voraus."  # written in German: no notice
        _, answer_req = app.llm.requests_for("small")
        assert "write the answer in German" in json.dumps(answer_req.body)


def test_the_demo_intents_teach_german_and_french_examples():
    intents = yaml.safe_load((Path(EXAMPLE_CONFIG).parent / "intents.yaml").read_text(encoding="utf-8"))["intents"]
    german = LanguageDetector(["en", "de", "fr"])
    for name, body in intents.items():
        langs = {german(e) for e in body["examples"]}
        assert {"de", "fr"} <= langs, name


async def test_the_bots_own_words_and_buttons_come_in_german_and_a_german_press_is_understood(demo):
    texts = demo.settings.language.texts["de"]
    await say(demo, "Kann ich mit Klarna bezahlen?", "e1")
    assert demo.out.sent[-1].buttons == (texts["resolution.helped"], texts["resolution.more_help"])
    r = await say(demo, texts["resolution.helped"], "e2")
    assert r.decision.rule == "helped" and demo.out.sent[-1].text == texts["resolution.helped_reply"]
    [res] = await rows(demo, m.Resolution)
    assert res.outcome == "confirmed"


async def test_a_french_did_you_mean_is_asked_in_french_and_its_pick_understood(demo):
    from bot.messages import Classification, Decision, Route, Signals
    from bot.pipeline import guardrails
    from bot.pipeline.decide import clarify_options
    from bot.pipeline.pending import pick
    from bot.pipeline.respond import Context

    s = demo.settings
    labels, texts = s.language.labels["fr"], s.language.texts["fr"]
    unsure = Classification("return_item", 0.6, (("return_item", 0.6), ("exchange_item", 0.3)))
    options = clarify_options(unsure, s, "fr")
    assert options == (("return_item", labels["return_item"]), ("exchange_item", labels["exchange_item"]))
    assert clarify_options(unsure, s)[0][1] == s.intents["return_item"].label  # no language: the default's
    text = "je voudrais renvoyer ou échanger quelque chose"
    ctx = Context(text=text, redaction=guardrails.redact(text), classification=unsure, signals=Signals(), hits=[],
                  transcript=[], options=options, rung="clarify", language="fr")
    said = await demo.orchestrator.responder.respond(Decision(Route.CLARIFY, "clarify", "unsure"), ctx)
    assert said.text == texts["clarify.prompt"]  # in French, so no "only in English" notice before it
    assert said.buttons == (labels["return_item"], labels["exchange_item"], texts["clarify.something_else"])
    chosen = pick(labels["exchange_item"], said.pending, s)
    assert chosen is not None and chosen.intent == "exchange_item"
    other = pick(texts["clarify.something_else"], said.pending, s)
    assert other is not None and other.intent is None


@pytest.mark.parametrize("text,category", [
    ("Die Lampe hat Funken gesprüht und es riecht verschmort", "fire"),
    ("Mein Sohn hat eine Batterie verschluckt", "child_or_pet"),
    ("Jemand hat mein Passwort geändert, mein Konto wurde gehackt", "account_takeover"),
    ("La bouilloire a pris feu hier soir", "fire"),
    ("Je vais porter plainte, mon avocat vous contactera", "legal_threat"),
    ("J'ai perdu mon emploi et je ne peux pas payer la prochaine échéance", "financial_hardship"),
])
def test_german_and_french_safety_cases_are_found_by_their_words(text, category):
    from bot.classify.safety import SafetyDetector

    hit = SafetyDetector().check(text)
    assert hit is not None and hit.category == category and hit.score >= 0.5, (text, hit)


@pytest.mark.parametrize("text", [
    "Tente pour une personne, elle est légère ?",  # "une personne" is a tent's size, not a request for one
    "Ist der Akku tot? Die Lampe geht nicht mehr",  # a flat battery, not a death
    "Welches Gericht kann ich im großen Topf kochen?",  # a dish, not a court
    "On emmène l'ancien canapé à la décharge ?",  # a dump, not a shock
])
def test_their_look_alikes_are_not(text):
    from bot.classify.safety import SafetyDetector
    from bot.pipeline.signals import detect

    hit = SafetyDetector().check(text)
    assert hit is None or hit.score < 0.5, (text, hit)
    assert not detect(text, None, load_settings(EXAMPLE_CONFIG)).wants_human


async def test_an_answer_missing_in_their_language_comes_in_the_default_one_after_the_notice(
        db_url, demo_settings_factory, monkeypatch):
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "DEEPSEEK_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    settings = demo_settings_factory(db_url)
    del settings.translations["de"]["payment_methods"]
    async with App.open(settings) as a:
        a.out = Collect()
        a.channels.register(a.out)
        r = await say(a, "Kann ich mit Klarna bezahlen?", "e1")
        assert (r.decision.route.value, r.decision.rule) == ("template", "canned")
        english = render_answer(a, "payment_methods")
        assert a.out.sent[-1].text == f"{settings.language.unavailable['de']}\n\n{english}"


def render_answer(app, intent: str, language: str = "") -> str:  # noqa: ANN001
    """The canned answer as the demo sends it to "Ann" (the test customer), in `language` ("" the default)."""
    from bot.pipeline.respond import render

    answers = app.settings.translations[language] if language else app.settings.answers
    return render(answers[intent], {**app.settings.company_vars(), "customer_name": "Ann"})


async def test_an_english_conversation_carries_no_language_tag_for_the_agents(demo):
    r = await say(demo, "I'd like to speak to a real person about my order please", "e1")
    assert r.decision.route.value == "human"
    [esc] = await rows(demo, m.Escalation)
    assert "Language:" not in (esc.summary or "")
    [queued] = await demo.handoff.queue()
    assert queued.language is None  # stored as "en" on the conversation, the shop's default: no tag
    [conv] = await rows(demo, m.Conversation)
    assert conv.language == "en"


async def test_a_german_customer_waits_rates_and_is_handed_back_in_german(demo):
    from bot.handoff.agents import add_agent

    r = await say(demo, "Ich möchte bitte mit einem Mitarbeiter sprechen, nicht mit einem Bot.", "e1")
    assert r.decision.route.value == "human"
    told = demo.out.sent[-1].text
    assert told.startswith(demo.settings.text("handoff.passing_on", "de"))
    assert not told.startswith(demo.settings.language.unavailable["de"])  # said in German: no notice first
    assert "passing you" not in told
    added = await say(demo, "Es geht um die Sache von vorhin, mit dem Nachbarn und dem Zettel.", "e2")
    assert added.decision.rule == "with_human"  # not a question the bot is sure of: added to the request, in German
    assert demo.out.sent[-1].text.startswith(demo.settings.text("handoff.added_to_request", "de"))
    agent = await add_agent(demo.sessions, "ann", "correct horse battery")
    assert (await demo.handoff.claim(r.escalation_id, agent)).won
    await demo.handoff.resolve(r.escalation_id, agent)
    await demo.outbox.flush()
    assert demo.out.sent[-1].text == demo.settings.text("handoff.rating_prompt", "de")
    await say(demo, "5", "e3")
    assert demo.out.sent[-1].text == demo.settings.text("handoff.rating_thanks", "de")


def test_the_wait_outside_support_hours_is_said_in_the_customers_language():
    from datetime import datetime, timezone

    from bot.pipeline.respond import wait_text

    s = load_settings(EXAMPLE_CONFIG)
    saturday_night = datetime(2026, 12, 5, 22, 0, tzinfo=timezone.utc)
    assert "ab Montag um 08:00" in wait_text(s, saturday_night, "handoff.passing_on", "de")
    assert "de retour lundi à 08:00" in wait_text(s, saturday_night, "handoff.passing_on", "fr")
    english = wait_text(s, saturday_night)
    assert "back on Monday at 08:00" in english and english.startswith("I'm passing you")
