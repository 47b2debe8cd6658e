"""Actions end to end: the demo company, its real classifier and its real order API
(examples/shop_api.py, served on 127.0.0.1 as `chat` serves it), on both engines.

An order looked up with the number in the message and the postcode asked for; the number asked
for; a wrong postcode refused without a word of the order; "never mind"; a new question in the
middle of a form; a value never given; the shop API down; a restart in the middle of a form; a
return started once however often the call is made; the audit rows.
"""

from __future__ import annotations

import httpx
import pytest

from bot.actions import form
from bot.analytics import figures
from bot.settings import ConfigError, load_settings
from tests.harness.shop import _opened, app, calls, settings, shop  # noqa: F401 - the demo app and its shop API
from tests.helpers import say

ROOT_CONFIG = "examples/supportbot.yaml"


async def test_order_status_with_the_number_in_the_message_asks_the_postcode_then_answers(app):
    r = await say(app, "Where is my order NW-48213?")
    assert r.decision.route.value == "clarify" and "asked for postcode" in r.decision.reason
    assert "postcode" in r.reply.text and not r.reply.buttons  # a question, not "That helped"
    r = await say(app, "1012 ab")
    assert r.decision.route.value == "action" and r.escalation_id is None
    assert "NW-48213" in r.reply.text and "DHL" in r.reply.text and "JVGL0593812744" in r.reply.text
    assert r.reply.buttons  # an answer: "That helped" / "I need more help"
    (row,) = await calls(app)
    assert (row.action, row.status, row.http_status) == ("order_status", "ok", 200)
    assert row.params == {"order_number": "NW-48213", "postcode": "101***"}  # the postcode masked
    assert row.conversation_id == r.conversation_id


async def test_the_number_is_asked_for_and_bare_digits_answer(app):
    r = await say(app, "where is my order?")
    assert "order number" in r.reply.text
    r = await say(app, "it's 50118")
    assert "postcode" in r.reply.text
    r = await say(app, "sw1a 1aa")
    assert "NW-50118" in r.reply.text and "delivered" in r.reply.text


async def test_a_wrong_postcode_learns_nothing_of_the_order(app):
    await say(app, "where is my order NW-48213")
    r = await say(app, "SW1A 1AA")  # another customer's postcode
    assert r.decision.route.value == "action"
    assert "couldn't find" in r.reply.text
    for secret in ("DHL", "JVGL", "lamp", "Tuesday", "1012"):
        assert secret not in r.reply.text
    (row,) = await calls(app)
    assert (row.status, row.http_status) == ("not_found", 404)


async def test_never_mind_leaves_the_form(app):
    await say(app, "where's my order")
    r = await say(app, "never mind")
    assert r.decision.rule == "action_cancelled" and "left it" in r.reply.text
    r = await say(app, "12345")  # no longer an answer to anything
    assert r.decision.rule != "action_form"
    assert await calls(app) == []


async def test_a_new_question_in_the_middle_of_a_form_is_answered(app):
    await say(app, "where is my order")
    r = await say(app, "What payment methods do you take?")
    assert r.decision.route.value == "template" and "Klarna" in r.reply.text


async def test_a_value_never_given_goes_to_a_person(app):
    await say(app, "where is my order")
    r = await say(app, "i dont have it on me")
    assert r.decision.rule == "action_form" and "didn't catch" in r.reply.text
    r = await say(app, "i dont know what it is")
    assert r.decision.route.value == "human" and r.escalation_id is not None
    assert await calls(app) == []


async def test_the_shop_api_down_is_an_apology_and_a_failed_row(settings):
    cm, a = await _opened(settings, "http://127.0.0.1:1")  # nothing listens there
    try:
        await say(a, "Where is my order NW-48213?")
        r = await say(a, "1012AB")
        assert "can't reach our order system" in r.reply.text and "nothing has been changed" in r.reply.text
        (row,) = await calls(a)
        assert row.status == "failed" and row.http_status is None and row.attempts == 2 and row.error
    finally:
        await cm.__aexit__(None, None, None)


async def test_a_restart_in_the_middle_of_a_form_loses_nothing(settings, shop):
    cm, a = await _opened(settings, shop)
    try:
        await say(a, "I'd like to return order NW-50118", thread="r1")
    finally:
        await cm.__aexit__(None, None, None)
    cm, b = await _opened(settings, shop)  # a new process on the same database
    try:
        r = await say(b, "SW1A 1AA", thread="r1")
        assert r.decision.route.value == "action" and "R-50118" in r.reply.text and "label" in r.reply.text
        (row,) = await calls(b)
        assert (row.action, row.status, row.http_status) == ("start_return", "ok", 201)
    finally:
        await cm.__aexit__(None, None, None)


async def test_a_return_is_started_once_however_often_the_call_is_made(shop):
    key = {"Idempotency-Key": "supportbot:77:start_return"}
    async with httpx.AsyncClient(base_url=shop) as http:
        first = await http.post("/demo-shop/orders/NW-50118/returns", json={"postcode": "SW1A1AA"}, headers=key)
        again = await http.post("/demo-shop/orders/NW-50118/returns", json={"postcode": "SW1A1AA"}, headers=key)
        other = await http.post("/demo-shop/orders/NW-50118/returns", json={"postcode": "SW1A1AA"})
        not_delivered = await http.post("/demo-shop/orders/NW-48213/returns", json={"postcode": "1012 AB"})
        bad = await http.post("/demo-shop/orders/NW-50118/returns", content=b"{not json")
        odd = await http.get("/demo-shop/orders/..%2Fadmin")
    assert first.status_code == 201 and again.status_code == 201 and again.json() == first.json()
    assert other.status_code == 200 and other.json()["return_id"] == first.json()["return_id"]
    assert not_delivered.status_code == 409 and "delivered" in not_delivered.json()["reason"]
    assert bad.status_code == 400 and odd.status_code in (400, 404)


async def test_how_returns_work_gets_the_policy_not_a_form(app):
    r = await say(app, "How do I return a jacket that doesn't fit?")
    assert r.decision.route.value in ("template", "clarify") and "order number" not in r.reply.text


def test_values_are_found_where_the_config_says():
    s = load_settings(ROOT_CONFIG)
    status = s.actions["order_status"]
    assert form.extract(status, "where is #nw48213 please") == {"order_number": "NW-48213"}
    assert form.extract(status, "ordered NW 48213 in 2024 is it late") == {"order_number": "NW-48213"}  # no postcode
    assert form.extract(status, "48213") == {}  # bare digits only answer the question
    # the number said again is not read as the postcode the bot asked for
    assert form.extract(status, "where is NW-20417???", {"order_number": "NW-20417"}, asking="postcode") == {
        "order_number": "NW-20417"}
    assert form.extract(status, "48213", {}, asking="order_number") == {"order_number": "NW-48213"}
    assert form.extract(status, "it's sw1a 1aa", {"order_number": "NW-48213"}, asking="postcode") == {
        "order_number": "NW-48213", "postcode": "SW1A 1AA"}
    assert form.is_cancel("Never mind!") and form.is_cancel("no thanks") and not form.is_cancel("no, it's NW-48213")


@pytest.mark.parametrize("patch, key", [
    ({"intents": ["no_such_intent"]}, "actions.order_status.intents.0"),
    ({"http": {"url": "{self_url}/orders/{order_id}"}}, "actions.order_status.http.url"),
    ({"reply": {"ok": "{% if result.status %}unclosed"}}, "actions.order_status.reply"),
    ({"params": {"order_number": {"pattern": "([unclosed", "ask": "?"}}}, "actions.order_status.params.order_number.pattern"),
    ({"params": {"order_number": {"ask": "?"}}}, "actions.order_status.params.order_number"),
    ({"lookup": {"url": "{self_url}/orders/{order_id}"}}, "actions.order_status.lookup.url"),
    ({"lookup": {"url": "{self_url}/x", "method": "POST"}}, "actions.order_status.lookup.method"),
    ({"approval": {"amount": "{{ lookup.total"}}, "actions.order_status.approval.amount"),
    ({"approval": {"amount": "1", "over": -5}}, "actions.order_status.approval.over"),
])
def test_a_bad_action_names_the_file_key_and_reason(tmp_path, patch, key):
    import yaml

    src = yaml.safe_load(open(ROOT_CONFIG, encoding="utf-8"))
    for name in ("intents.yaml", "answers.yaml", "answers.de.yaml", "answers.fr.yaml", "actions.de.yaml", "actions.fr.yaml",
                 "out_of_scope.yaml", "shop_api.py", "shop_orders.json"):
        (tmp_path / name).write_bytes(open(f"examples/{name}", "rb").read())
    (tmp_path / "kb").mkdir()
    src["actions"]["order_status"].update(patch)
    (tmp_path / "supportbot.yaml").write_text(yaml.safe_dump(src), encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_settings(tmp_path / "supportbot.yaml")
    assert str(tmp_path / "supportbot.yaml") in str(e.value)
    assert key in str(e.value)


async def test_a_cancel_asks_yes_or_no_first_and_no_leaves_the_order(app):
    await say(app, "please cancel my order NW-51207")
    ask = await say(app, "75011")
    assert "Cancel order NW-51207?" in ask.reply.text and ask.reply.buttons == ("Yes, cancel it", "No, keep it")
    assert ask.decision.route.value == "clarify" and await calls(app) == []  # nothing done before the yes
    kept = await say(app, "No, keep it")
    assert kept.decision.rule == "action_cancelled" and await calls(app) == []
    await say(app, "cancel NW-51207 please", thread="t2")
    await say(app, "75011", thread="t2")
    done = await say(app, "Yes, cancel it", thread="t2")
    assert done.decision.route.value == "action" and "is cancelled" in done.reply.text and "329.00" in done.reply.text
    (row,) = await calls(app)
    assert (row.action, row.status, row.http_status) == ("cancel_order", "ok", 200)
    await say(app, "That helped", thread="t2")
    section = (await figures.report(app.engine))["actions"]  # what `supportbot report` shows
    assert section["calls"] == 1 and section["ok_rate"] == 1.0
    assert section["by_action"] == [{"action": "cancel_order", "calls": 1, "ok": 1, "not_found": 0, "rejected": 0,
                                     "failed": 0, "mean_latency_ms": pytest.approx(row.latency_ms, abs=0.1),
                                     "conversations_resolved": 1, "approved": 0}]


async def test_a_cancel_of_a_shipped_order_is_refused_and_an_unclear_answer_does_nothing(app):
    await say(app, "cancel order NW-48213")
    await say(app, "1012 AB")
    refused = await say(app, "yes")
    assert "can't cancel this order" in refused.reply.text and "left our warehouse" in refused.reply.text
    (row,) = await calls(app)
    assert (row.status, row.http_status) == ("rejected", 409)
    await say(app, "cancel my order NW-51207", thread="t3")
    await say(app, "75011", thread="t3")
    again = await say(app, "hmm what does that mean", thread="t3")
    assert "didn't catch" in again.reply.text and again.reply.buttons == ("Yes, cancel it", "No, keep it")
    left = await say(app, "what?", thread="t3")
    assert "left it" in left.reply.text and not left.reply.buttons
    assert len(await calls(app)) == 1  # only the refused one: nothing was cancelled
