"""Reply buttons on Telegram: an inline keyboard out, a callback_query back as the label's text.

The real aiogram channel inside the real serve(), against the local fake Bot API (polling and
webhook). The `Scripted` classifier answers "Order status" with the canned order reply, so a
press of that button is answered like the typed words.
"""

from __future__ import annotations

from bot.db import models as m
from bot.messages import Reply
from channels.telegram import GONE, NOT_YOURS, PRESS, inline_keyboard
from tests.fakes.telegram_api import FakeTelegram, fake_telegram  # noqa: F401 - fixture
from tests.service_harness import wait_until
from tests.harness.telegram import (GROUP, HOOK_URL, ORDER_REPLY, SECRET, count, fail_first_store, rows, serving,
                                    settings, telegram, to_chat)  # noqa: F401 - settings is a fixture

LABELS = ("Order status", "Returns", "Something else")


async def ask_with_buttons(svc, tg: FakeTelegram, chat_id: int, labels=LABELS, **reply_to) -> dict:  # noqa: ANN001
    """The customer says hello (a conversation), then the bot sends a reply carrying buttons; returns
    that message as the fake holds it."""
    tg.push_update(tg.text_update(chat_id, "hello", **reply_to.pop("update", {})))
    before = len(tg.sent_messages())
    await tg.wait_for("sendMessage", before + 1, timeout=10)
    reply = Reply(text="Did you mean one of these?", channel="telegram", customer_id=str(chat_id),
                  conversation_key=str(chat_id), reply_to={"chat_id": chat_id, **reply_to}, buttons=labels)
    sent_id = await telegram(svc).deliver(reply, f"buttons:{chat_id}")
    return tg.messages[(chat_id, int(sent_id))]


def keyboard_labels(message: dict) -> list[list[str]]:
    return [[b["text"] for b in row] for row in (message.get("reply_markup") or {}).get("inline_keyboard", [])]


async def test_a_press_is_the_label_in_the_same_conversation_answered_once(settings, fake_telegram):
    tg = fake_telegram
    async with serving(settings, tg) as svc:
        question = await ask_with_buttons(svc, tg, 42)
        assert "callback_query" in tg.calls_of("getUpdates")[0]["allowed_updates"]
        assert keyboard_labels(question) == [["Order status", "Returns"], ["Something else"]]
        assert [b["callback_data"] for row in question["reply_markup"]["inline_keyboard"] for b in row] == [
            "sb:0", "sb:1", "sb:2"]
        sent = tg.sent_messages()[-1]
        assert "keyboard" not in sent["reply_markup"] and "inline_keyboard" in sent["reply_markup"]

        press = tg.callback_update(42, "sb:0", question["message_id"])
        double_tap = tg.callback_update(42, "sb:1", question["message_id"])  # before the keyboard goes
        tg.push_update(press)
        tg.push_update(press)  # Telegram delivers it again
        await tg.wait_for("sendMessage", 3, timeout=10)
        await tg.wait_for("editMessageReplyMarkup", timeout=10)
        tg.push_update(double_tap)
        await wait_until(lambda: double_tap["callback_query"]["id"] in tg.answered)
        assert tg.answered[press["callback_query"]["id"]].get("text") is None  # a quiet answer
        assert tg.answered[double_tap["callback_query"]["id"]].get("text") is None

        events = await rows(svc, m.InboxEvent)
        assert len(events) == 2  # hello, and the press; the redelivery and the second press: recognised
        payload = events[1].payload
        assert (payload["text"], payload["kind"], payload["conversation_key"]) == ("Order status", "text", "42")
        assert payload["external_id"] == f"cb:{press['callback_query']['id']}"
        assert payload["reply_to"] == {"chat_id": 42}
        assert [(x.direction, x.text) for x in await rows(svc, m.Message)] == [
            ("in", "hello"), ("out", "Hello! How can Test Shop help?"), ("in", "Order status"), ("out", ORDER_REPLY)]
        assert await count(svc, m.Conversation) == 1
        assert "reply_markup" not in tg.messages[(42, question["message_id"])]  # the keyboard went
        [edit] = tg.calls_of("editMessageReplyMarkup")[:1]
        assert (edit["chat_id"], edit["message_id"]) == (42, question["message_id"])

        # an old keyboard (gone since, or another message's): a notice, nothing stored
        stale = tg.push_update(tg.callback_update(42, "sb:2", question["message_id"]))
        foreign = tg.push_update(tg.callback_update(42, "vote:up", question["message_id"]))
        await wait_until(lambda: {stale["callback_query"]["id"], foreign["callback_query"]["id"]} <= set(tg.answered))
        assert tg.answered[stale["callback_query"]["id"]]["text"] == GONE
        assert tg.answered[foreign["callback_query"]["id"]]["text"] == GONE
        assert await count(svc, m.InboxEvent) == 2
    assert [p["text"] for p in to_chat(tg, 42)] == ["Hello! How can Test Shop help?", "Did you mean one of these?",
                                                    ORDER_REPLY]
    assert [s for (c, _), s in zip(tg.calls, tg.statuses) if c == "answerCallbackQuery"].count(200) == 4


async def test_typing_the_label_is_the_same_as_pressing_it(settings, fake_telegram):
    tg = fake_telegram
    async with serving(settings, tg) as svc:
        await ask_with_buttons(svc, tg, 43)
        tg.push_update(tg.text_update(43, "Order status"))
        await tg.wait_for("sendMessage", 3, timeout=10)
        events = await rows(svc, m.InboxEvent)
        assert (events[-1].payload["text"], events[-1].payload["conversation_key"]) == ("Order status", "43")
    assert to_chat(tg, 43)[-1]["text"] == ORDER_REPLY


async def test_a_press_is_answered_only_once_it_is_stored(settings, fake_telegram):
    tg = fake_telegram
    async with serving(settings, tg) as svc:
        question = await ask_with_buttons(svc, tg, 44)
        failures = fail_first_store(svc)
        press = tg.push_update(tg.callback_update(44, "sb:0", question["message_id"]))
        qid = press["callback_query"]["id"]
        await tg.wait_for("sendMessage", 3, timeout=10)  # the update came again and was stored then
        assert failures == [f"{tg.bot_id}:button:44:{question['message_id']}"]
        # not answered while unstored; answered once stored
        calls = [(c, p) for c, p in tg.calls if c in ("answerCallbackQuery", "getUpdates")]
        first_answer = next(i for i, (c, p) in enumerate(calls) if c == "answerCallbackQuery")
        polls_before = [p for c, p in calls[:first_answer] if c == "getUpdates"]
        assert sum(p.get("offset") == press["update_id"] for p in polls_before) >= 1  # polled it again first
        assert list(tg.answered) == [qid]
        assert await count(svc, m.InboxEvent) == 2


async def test_webhook_press_is_stored_before_the_200(settings, fake_telegram):
    tg = fake_telegram
    async with serving(settings, tg, "webhook", TELEGRAM_WEBHOOK_URL=HOOK_URL, TELEGRAM_WEBHOOK_SECRET=SECRET) as svc:
        assert "callback_query" in tg.webhook["allowed_updates"]
        assert (await tg.deliver_webhook(svc.hook, tg.text_update(45, "hello")))[0] == 200
        await tg.wait_for("sendMessage", timeout=10)
        reply = Reply(text="Did that help?", channel="telegram", customer_id="45", conversation_key="45",
                      reply_to={"chat_id": 45}, buttons=("That helped", "I need more help"))
        question = tg.messages[(45, int(await telegram(svc).deliver(reply, "k45")))]
        assert keyboard_labels(question) == [["That helped", "I need more help"]]
        press = tg.callback_update(45, "sb:1", question["message_id"])
        fail_first_store(svc)
        assert (await tg.deliver_webhook(svc.hook, press))[0] == 500  # not stored: not answered either
        assert tg.answered == {} and await count(svc, m.InboxEvent) == 1
        for _ in range(2):  # Telegram's retry, then a duplicate
            assert (await tg.deliver_webhook(svc.hook, press))[0] == 200
            assert await count(svc, m.InboxEvent) == 2
        assert list(tg.answered) == [press["callback_query"]["id"]]
        [event] = await rows(svc, m.InboxEvent, m.InboxEvent.id > 1)
        assert (event.payload["text"], event.payload["conversation_key"]) == ("I need more help", "45")
        await tg.wait_for("sendMessage", 3, timeout=10)  # the press is answered like typed words


async def test_group_press_only_by_the_customer_asked_in_their_conversation(settings, fake_telegram):
    tg = fake_telegram
    async with serving(settings, tg) as svc:
        asked = tg.push_update(tg.text_update(GROUP, "@supportbot_test_bot hello", chat_type="supergroup",
                                              user_id=5))
        await tg.wait_for("sendMessage", timeout=10)
        reply = Reply(text="Did you mean?", channel="telegram", customer_id="5", conversation_key=f"{GROUP}:5",
                      reply_to={"chat_id": GROUP, "message_id": asked["message"]["message_id"]}, buttons=LABELS)
        question = tg.messages[(GROUP, int(await telegram(svc).deliver(reply, "kg")))]
        assert question["reply_to_message"]["from"]["id"] == 5
        other = tg.push_update(tg.callback_update(GROUP, "sb:0", question["message_id"], user_id=6,
                                                  chat_type="supergroup"))
        await wait_until(lambda: other["callback_query"]["id"] in tg.answered)
        assert tg.answered[other["callback_query"]["id"]]["text"] == NOT_YOURS
        assert await count(svc, m.InboxEvent) == 1 and tg.calls_of("editMessageReplyMarkup") == []

        tg.push_update(tg.callback_update(GROUP, "sb:0", question["message_id"], user_id=5, chat_type="supergroup"))
        [*_, answer] = await tg.wait_for("sendMessage", 3, timeout=10)
        assert answer["text"] == "Hi Alice, track your order at https://shop.test/orders."
        assert answer["reply_parameters"]["message_id"] == question["message_id"]  # quotes the question
        [_, event] = await rows(svc, m.InboxEvent)
        assert (event.payload["text"], event.payload["conversation_key"], event.payload["customer_id"]) == (
            "Order status", f"{GROUP}:5", "5")
        assert await count(svc, m.Conversation) == 1


def test_keyboard_layout_and_callback_data():
    assert inline_keyboard(()) is None
    rating = inline_keyboard(("1", "2", "3", "4", "5"))
    assert [[b.text for b in row] for row in rating.inline_keyboard] == [["1", "2", "3", "4", "5"]]
    long = ("I would like to talk about something else entirely", "Returns")
    assert [[b.text for b in row] for row in inline_keyboard(long).inline_keyboard] == [[long[0]], ["Returns"]]
    many = inline_keyboard(tuple(f"Intent {i}" for i in range(120)))
    data = [b.callback_data for row in many.inline_keyboard for b in row]
    assert data[0] == f"{PRESS}0" and all(len(d.encode()) <= 64 for d in data) and len(set(data)) == 120


async def test_that_helped_on_an_answer_is_the_customers_verdict(settings, fake_telegram):
    """The core asks after an answer; pressing "That helped" under it is recorded as confirmed."""
    tg = fake_telegram
    async with serving(settings, tg) as svc:
        tg.push_update(tg.text_update(46, "where is my order?"))
        await tg.wait_for("sendMessage", timeout=10)
        [answer] = tg.bot_messages(46)
        assert answer["text"] == ORDER_REPLY
        assert keyboard_labels(answer) == [[settings.resolution.helped, settings.resolution.more_help]]
        tg.push_update(tg.callback_update(46, "sb:0", answer["message_id"]))
        await tg.wait_for("sendMessage", 2, timeout=10)
        assert to_chat(tg, 46)[-1]["text"] == settings.resolution.helped_reply
        assert [r.outcome for r in await rows(svc, m.Resolution)] == ["confirmed"]
        assert "reply_markup" not in tg.messages[(46, answer["message_id"])]
