"""Actions on the platforms: the real serve() with the demo company, which mounts the demo order API
(examples/shop_api.py) and points the actions at it, and the real aiogram channel against the local
fake Bot API. A Telegram customer cancels an order: the postcode asked for, the yes / no as an inline
keyboard, the press answered once, the call a row."""

from __future__ import annotations

from sqlalchemy import select

from bot.db import models as m
from tests.fakes.slack_api import FakeSlack, deliver_event, fake_slack  # noqa: F401 - fixture
from tests.fakes.telegram_api import FakeTelegram, fake_telegram  # noqa: F401 - fixture
from tests.service_harness import running_service, wait_until

SLACK_SECRET = "actions-signing-secret"


def _keyboard(message: dict) -> list[str]:
    return [b["text"] for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]


async def test_a_telegram_customer_cancels_an_order_with_the_yes_button(sqlite_db, demo_settings_factory,
                                                                         fake_telegram, monkeypatch):
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "DEEPSEEK_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    tg: FakeTelegram = fake_telegram
    env = {"TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_API_URL": tg.base_url, "TELEGRAM_MODE": "polling"}
    async with running_service(demo_settings_factory(sqlite_db), env) as svc:
        await tg.wait_for("deleteWebhook", timeout=10)
        tg.push_update(tg.text_update(501, "hi, please cancel my order NW-51207"))
        await tg.wait_for("sendMessage", 1, timeout=20)
        assert "postcode" in tg.sent_messages()[-1]["text"]
        tg.push_update(tg.text_update(501, "75011"))
        await tg.wait_for("sendMessage", 2, timeout=20)
        confirm = tg.sent_messages()[-1]
        assert "Cancel order NW-51207?" in confirm["text"] and _keyboard(confirm) == ["Yes, cancel it", "No, keep it"]
        question = max((mid for (chat, mid) in tg.messages if chat == 501))
        press = tg.callback_update(501, "sb:0", question)
        tg.push_update(press)
        tg.push_update(press)  # delivered again: answered once
        await tg.wait_for("sendMessage", 3, timeout=20)
        done = tg.sent_messages()[-1]
        assert "NW-51207 is cancelled" in done["text"]
        async with svc.app.sessions() as s:
            calls = (await s.scalars(select(m.ActionCall))).all()
            events = (await s.scalars(select(m.InboxEvent))).all()
        assert [(c.action, c.status) for c in calls] == [("cancel_order", "ok")]
        assert len(events) == 3


async def test_a_slack_customer_keeps_the_order_with_the_no_button_and_starts_a_return(sqlite_db, demo_settings_factory,
                                                                                          fake_slack, monkeypatch):
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "DEEPSEEK_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    fake: FakeSlack = fake_slack
    env = {"SLACK_BOT_TOKEN": fake.bot_token, "SLACK_SIGNING_SECRET": SLACK_SECRET, "SLACK_API_URL": fake.api_url}
    async with running_service(demo_settings_factory(sqlite_db), env) as svc:
        events = svc.url + "/slack/events"

        async def say(text: str, n: int) -> dict:
            status, _ = await deliver_event(events, fake.message_event("U7", text), SLACK_SECRET)
            assert status == 200
            await wait_until(lambda: len(fake.bot_messages("D1")) >= n, timeout=20)
            return fake.bot_messages("D1")[-1]

        assert "postcode" in (await say("cancel my order NW-51207", 1))["text"]
        confirm = await say("75011", 2)
        values = [e["value"] for b in confirm.get("blocks", []) if b["type"] == "actions" for e in b["elements"]]
        assert values == ["Yes, cancel it", "No, keep it"]
        block, action, value = [(b["block_id"], e["action_id"], e["value"]) for b in confirm["blocks"]
                                if b["type"] == "actions" for e in b["elements"]][1]
        payload = fake.block_action_payload("U7", action, value, "D1", confirm["ts"], block_id=block, text=value)
        status, _ = await fake.deliver_interaction(events, payload, SLACK_SECRET)
        assert status == 200
        await wait_until(lambda: any("left it" in m["text"] for m in fake.bot_messages("D1")), timeout=20)
        assert "postcode" in (await say("I'd like to return order NW-50118", 4))["text"]
        label = await say("SW1A 1AA", 5)
        assert "R-50118" in label["text"] and "label" in label["text"]
        async with svc.app.sessions() as s:
            calls = (await s.scalars(select(m.ActionCall))).all()
        assert [(c.action, c.status) for c in calls] == [("start_return", "ok")]  # the kept order: no call
