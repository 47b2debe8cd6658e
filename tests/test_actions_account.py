"""The demo's address change and membership cancellation (issue 17), end to end against the demo shop
API on both engines: asked for what is missing, confirmed first, done once; refused with the shop's
reason when the order has shipped; a stranger's e-mail and postcode learn nothing."""

from __future__ import annotations

from tests.helpers import say
from tests.harness.shop import app, calls, settings, shop  # noqa: F401 - the demo app and its shop API


async def test_the_address_of_an_unshipped_order_is_changed_after_a_yes(app):  # noqa: F811
    r = await say(app, "I need to change the delivery address on order NW-51207")
    assert r.decision.route.value == "clarify" and "postcode" in r.reply.text
    r = await say(app, "75011")
    assert "new delivery address" in r.reply.text
    r = await say(app, "14 Rue Oberkampf, 75011 Paris")
    assert "14 Rue Oberkampf, 75011 Paris" in r.reply.text and list(r.reply.buttons)[:1] == ["Yes, change it"]
    assert await calls(app) == []  # nothing done before the yes
    r = await say(app, "yes")
    assert r.decision.route.value == "action" and "will go to 14 Rue Oberkampf" in r.reply.text
    (row,) = await calls(app)
    assert (row.action, row.status) == ("change_address", "ok")
    assert row.params["new_address"] != "14 Rue Oberkampf, 75011 Paris"  # masked in the audit row


async def test_a_shipped_order_keeps_its_address_and_the_customer_is_told_why(app):  # noqa: F811
    await say(app, "change the address of NW-48213 please")
    await say(app, "1012 AB")
    await say(app, "Keizersgracht 1, Amsterdam")
    r = await say(app, "yes")
    assert "can't change the address" in r.reply.text and "left our warehouse" in r.reply.text
    (row,) = await calls(app)
    assert (row.status, row.http_status) == ("rejected", 409)


async def test_how_to_change_an_address_gets_the_how_to_not_a_form(app):  # noqa: F811
    r = await say(app, "how can I change the delivery address of an order?")
    assert r.decision.route.value != "action" and "My account" in (r.reply.text if r.reply else "")


async def test_a_membership_is_ended_after_a_yes_and_a_stranger_learns_nothing(app):  # noqa: F811
    r = await say(app, "please cancel my plus membership", thread="t1")
    assert "e-mail address" in r.reply.text
    await say(app, "anna.jansen@example.com", thread="t1")
    r = await say(app, "1012 ab", thread="t1")
    assert "anna.jansen@example.com" in r.reply.text and r.reply.buttons
    r = await say(app, "yes", thread="t1")
    assert "won't renew" in r.reply.text and "Northwind Plus (monthly)" in r.reply.text
    await say(app, "cancel my Northwind Plus", thread="t2", customer="c2")
    await say(app, "claire.martin@example.com", thread="t2", customer="c2")
    await say(app, "1012 AB", thread="t2", customer="c2")  # not the postcode on that account
    r = await say(app, "yes", thread="t2", customer="c2")
    assert "couldn't find a membership" in r.reply.text and "yearly" not in r.reply.text
    assert [(c.action, c.status) for c in await calls(app)] == [("cancel_membership", "ok"),
                                                                ("cancel_membership", "not_found")]
