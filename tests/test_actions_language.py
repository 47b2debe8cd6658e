"""Actions in the customer's language (issue 19): the demo's real classifier, its order API and its
German and French actions files (examples/actions.de.yaml, actions.fr.yaml), end to end on both engines;
the files checked at load, every problem named by file and key; a piece a file leaves out said in English
after the notice; dates and amounts written the language's way; the support hours in the wait."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
import yaml

from bot.actions.reply import Formats, render_reply
from bot.settings import ConfigError, load_settings
from tests.conftest import EXAMPLE_CONFIG
from tests.helpers import demo_config_copy, say
from tests.harness.shop import app, calls, settings, shop  # noqa: F401 - the demo app and its shop API

GERMAN_DAYS = ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag")


def _words(app, code: str):  # noqa: ANN001, ANN202
    return app.settings.action_words[code]


async def test_a_german_customer_looks_up_an_order_in_german_end_to_end(app):  # noqa: F811
    de = _words(app, "de").actions["order_status"]
    notice = app.settings.language.unavailable["de"]
    asked = await say(app, "Hallo, wo ist meine Bestellung NW-48213?")
    assert asked.decision.route.value == "clarify" and "asked for postcode" in asked.decision.reason
    assert asked.reply.text == de.params["postcode"].ask  # German, and no "only in English" notice before it
    done = await say(app, "1012 AB")
    text = done.reply.text
    assert done.decision.route.value == "action" and not text.startswith(notice)
    assert text.startswith("Ihre Bestellung NW-48213 hat unser Lager am") and "mit DHL verlassen" in text
    assert "JVGL0593812744" in text and any(f"{day}, " in text for day in GERMAN_DAYS)  # "Dienstag, 1. Dezember"
    assert "left our warehouse" not in text
    assert done.reply.buttons == (app.settings.text("resolution.helped", "de"), app.settings.text("resolution.more_help", "de"))
    (row,) = await calls(app)
    assert (row.action, row.status) == ("order_status", "ok")


async def test_a_german_cancel_is_confirmed_with_the_german_buttons(app):  # noqa: F811
    de = _words(app, "de")
    first = await say(app, "Ich möchte meine Bestellung NW-51207 stornieren.")
    assert first.reply.text == de.actions["cancel_order"].params["postcode"].ask
    ask = await say(app, "75011")
    assert ask.reply.text == "Bestellung NW-51207 stornieren? Das lässt sich nicht rückgängig machen."
    assert ask.reply.buttons == ("Ja, stornieren", "Nein, behalten") and await calls(app) == []
    kept = await say(app, "Nein, behalten")
    assert kept.reply.text == de.texts.cancel_reply and await calls(app) == []
    await say(app, "Ich möchte meine Bestellung NW-51207 stornieren.", thread="t2")
    await say(app, "75011", thread="t2")
    unclear = await say(app, "hm, was heißt das genau", thread="t2")
    assert unclear.reply.text.startswith(de.texts.didnt_catch) and "„Ja, stornieren“ oder „Nein, behalten“" in unclear.reply.text
    done = await say(app, "Ja, stornieren", thread="t2")
    assert done.decision.route.value == "action"
    assert done.reply.text.startswith("Erledigt: Die Bestellung NW-51207 ist storniert.") and "329,00 €" in done.reply.text
    (row,) = await calls(app)
    assert (row.action, row.status) == ("cancel_order", "ok")


async def test_a_french_refund_over_the_limit_waits_in_french_with_the_french_hours(app):  # noqa: F811
    fr = app.settings.text("company.support_hours", "fr")
    first = await say(app, "Je voudrais un remboursement pour ma commande NW-50118.")
    assert first.reply.text == app.settings.action_words["fr"].actions["request_refund"].params["postcode"].ask
    ask = await say(app, "SW1A 1AA")
    assert ask.reply.text.startswith("Rembourser 212,50 € pour la commande NW-50118 (Fjord wool rug")
    assert ask.reply.buttons == ("Oui, rembourser", "Non, laisser")
    waits = await say(app, "Oui, rembourser")
    assert waits.decision.route.value == "human" and waits.escalation_id is not None
    text = waits.reply.text
    assert text.startswith("Un remboursement de 212,50 € dépasse ce que je peux accorder seul")
    assert app.settings.text("handoff.waiting_approval", "fr") in text and f"({fr})" in text
    assert app.settings.company.support_hours not in text and "Mon–Fri" not in text
    assert await calls(app) == []  # nothing refunded before an agent approves
    denied = app.actions.denied(_waiting(await _pending(app, waits.conversation_id)), "déjà remboursé", "fr")
    assert denied.startswith("Un collègue a examiné votre remboursement pour la commande NW-50118") and "déjà remboursé" in denied


async def _pending(app, conversation_id: int) -> dict:  # noqa: ANN001
    from bot.db import models as m

    async with app.sessions() as s:
        return (await s.get(m.Conversation, conversation_id)).pending


def _waiting(pending: dict):  # noqa: ANN202
    from bot.actions.form import Waiting

    found = Waiting.of(pending)
    assert found is not None
    return found


async def test_a_piece_left_out_of_the_file_is_said_in_english_after_the_notice(app):  # noqa: F811
    _words(app, "de").actions["order_status"].reply.ok = None
    await say(app, "Hallo, wo ist meine Bestellung NW-48213?")
    done = await say(app, "1012 AB")
    notice = app.settings.language.unavailable["de"]
    assert done.reply.text.startswith(f"{notice}\n\nYour order NW-48213 left our warehouse on")


def _with_file(tmp_path, german: dict):  # noqa: ANN001, ANN202
    (tmp_path / "actions.de.yaml").write_text(yaml.safe_dump(german, allow_unicode=True), encoding="utf-8")

    def tweak(cfg):  # noqa: ANN001, ANN202
        cfg["language"]["actions"] = {"de": str(tmp_path / "actions.de.yaml")}

    return demo_config_copy(tmp_path, tmp_path / "cache", tweak)


def test_a_bad_actions_file_names_the_file_and_every_key_at_once(tmp_path):
    path = _with_file(tmp_path, {
        "texts": {"answer_buttons": "Bitte {ja} oder {nein}", "weekdays": "Mo Di Mi", "rejected": "Nein: {{ result.grund }}"},
        "actions": {
            "order_status": {"params": {"order_nummer": {"ask": "Nummer?"}}, "confirm": "Sicher?",
                             "reply": {"ok": "Bestellung {{ result.number }}", "not_found": "{% if %}"}},
            "cancel_order": {"reply": {"ok": "{{ result.numbr }} storniert"}, "colour": "blau"},
            "start_return": {"approval": {"waiting": "Moment"}},
            "track_parcel": {"reply": {"ok": "ok"}},
        },
    })
    with pytest.raises(ConfigError) as e:
        load_settings(path)
    text = str(e.value)
    assert "actions.de.yaml" in text
    # the shape first: every unknown key and broken template of the file in one error
    for key in ("texts.weekdays", "actions.order_status.reply.not_found", "actions.cancel_order.colour"):
        assert f"actions.de.yaml: {key}:" in text, key
    (tmp_path / "actions.de.yaml").write_text(yaml.safe_dump({
        "texts": {"answer_buttons": "Bitte {ja} oder {nein}", "rejected": "Nein: {{ result.grund }}"},
        "actions": {
            "order_status": {"params": {"order_nummer": {"ask": "Nummer?"}}, "confirm": "Sicher?",
                             "reply": {"ok": "Bestellung {{ result.number }}"}},
            "cancel_order": {"reply": {"ok": "{{ result.numbr }} storniert"}},
            "start_return": {"approval": {"waiting": "Moment"}},
            "track_parcel": {"reply": {"ok": "ok"}},
        }}), encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_settings(path)
    errors = dict([(e.value.key, e.value.reason), *e.value.more])
    assert "order_nummer" in errors["actions.order_status.params.order_nummer"]
    assert "asks no confirmation" in errors["actions.order_status.confirm"]
    assert "leaves out {{ result.carrier }}" in errors["actions.order_status.reply.ok"]  # first of those it lacks
    assert "uses {{ result.numbr }}" in errors["actions.cancel_order.reply.ok"]
    assert "has no approval" in errors["actions.start_return.approval"]
    assert "no action named 'track_parcel'" in errors["actions.track_parcel"]
    assert "uses {{ result.grund }}" in errors["texts.rejected"]
    assert "unknown placeholder {ja}" in errors["texts.answer_buttons"]
    assert e.value.file.endswith("actions.de.yaml")


def test_the_demo_ships_every_action_in_german_and_french():
    s = load_settings(EXAMPLE_CONFIG)
    for code in ("de", "fr"):
        words = s.action_words[code]
        assert set(words.actions) == set(s.actions), code
        for name, action in s.actions.items():
            own = words.actions[name]
            assert set(own.params) == set(action.params), (code, name)
            assert (own.confirm is not None) == (action.confirm is not None), (code, name)
            assert (own.confirm_buttons is not None) == (action.confirm is not None), (code, name)
            assert (own.approval is not None) == (action.approval is not None), (code, name)
            assert own.reply.ok, (code, name)


def test_dates_and_amounts_are_written_the_languages_way():
    german = Formats(weekdays=GERMAN_DAYS, months=("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli",
                     "August", "September", "Oktober", "November", "Dezember"), day="{weekday}, {day}. {month}",
                     decimal=",", thousands=".")
    template = "{{ result.on | day }}: {{ result.eur | money }} €"
    result = {"on": "2026-12-01", "eur": 1250.5}
    assert render_reply(template, result, {}, _formats=german) == "Dienstag, 1. Dezember: 1.250,50 €"
    assert render_reply(template, result, {}) == "Tuesday 1 December: 1,250.50 €"  # English, as before
    assert render_reply("{{ x | day }}", None, {}, _formats=german, x=date(2026, 3, 2)) == "Montag, 2. März"


def test_the_wait_names_the_support_hours_in_the_customers_language():
    from bot.pipeline.respond import wait_text

    s = load_settings(EXAMPLE_CONFIG)
    tuesday_noon = datetime(2026, 12, 1, 11, 0, tzinfo=timezone.utc)  # 12:00 in Paris: open
    french = wait_text(s, tuesday_noon, "handoff.passing_on", "fr")
    assert french == (f"{s.text('handoff.passing_on', 'fr')}, en général sous 10 minutes "
                      "(du lundi au vendredi de 8 h à 20 h, le samedi de 9 h à 17 h, heure de Paris).")
    german = wait_text(s, tuesday_noon, "handoff.passing_on", "de")
    assert german.endswith("in der Regel innerhalb von 10 Minuten (Mo.–Fr. 8:00–20:00 Uhr, Sa. 9:00–17:00 Uhr MEZ).")
    saturday_night = datetime(2026, 12, 5, 22, 0, tzinfo=timezone.utc)  # closed: back on Monday, the hours too
    assert "(du lundi au vendredi de 8 h à 20 h" in wait_text(s, saturday_night, "handoff.passing_on", "fr")
    assert f"({s.company.support_hours})" in wait_text(s, tuesday_noon)  # English as configured


async def test_an_agents_approve_and_deny_reach_a_french_customer_in_french(app):  # noqa: F811
    from bot.handoff import approvals
    from bot.handoff.agents import add_agent

    agent = await add_agent(app.sessions, "ann", "correct horse battery")
    for approve in (False, True):
        await say(app, "/new")
        await say(app, "Je voudrais un remboursement pour ma commande NW-50118.")
        await say(app, "SW1A 1AA")
        waits = await say(app, "Oui, rembourser")
        assert waits.escalation_id is not None
        told = await approvals.decide(app.handoff, waits.escalation_id, agent, approve=approve, note="déjà remboursé")
        if approve:
            assert told.startswith("C'est fait : 212,50 € pour la commande NW-50118"), told
        else:
            assert told.startswith("Un collègue a examiné votre remboursement") and "déjà remboursé" in told, told
