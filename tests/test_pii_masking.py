"""Card numbers, IBANs and passwords are masked where they are stored and where agents see them."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from bot.db import models as m
from bot.pipeline.guardrails import mask_card_numbers, mask_for_agents
from bot.handoff.escalations import EscalationView
from channels.slack_desk import SlackDesk
from bot.app import App
from tests.fakes.llm_servers import KEYS, llm_server, ok  # noqa: F401 - fixture
from tests.helpers import mini_settings
from tests.fakes.doubles import Desk
from tests.fakes.doubles import Collect, Scripted
from tests.harness.pipeline import app, rows, say  # noqa: F401 - the app fixture
from tests.harness.llm_app import answer, verdict

CARD = "4242 4242 4242 4242"
IBAN = "DE89 3704 0044 0532 0130 00"


def test_mask_card_numbers_keeps_the_last_four():
    assert mask_card_numbers(f"my card {CARD} was charged") == "my card •••• 4242 was charged"
    assert mask_card_numbers("card 4111-1111-1111-1111") == "card •••• 1111"
    kept = "order NW-20417, ref 1234 5678 9012 3456, tracking 1Z999AA10123456784, IBAN " + IBAN
    assert mask_card_numbers(kept) == kept  # not Luhn-valid, or not a card


def test_mask_for_agents():
    text = f"card {CARD}, IBAN {IBAN}, my password is hunter2"
    masked = mask_for_agents(text)
    assert masked == "card •••• 4242, IBAN DE•• •••• 3000, my password is ••••••"
    assert mask_for_agents(masked) == masked
    assert mask_for_agents("where is order NW-20417?") == "where is order NW-20417?"


async def test_card_numbers_are_not_stored_and_the_message_still_routes(app):  # noqa: F811
    r = await say(app, f"someone used my card {CARD}!", "e1")
    assert r.decision.route.value == "human" and r.decision.rule == "critical"  # as without the number
    [msg] = await rows(app, m.Message, m.Message.direction == "in")
    assert msg.text == "someone used my card •••• 4242!"
    [event] = await rows(app, m.InboxEvent)
    assert event.payload["text"] == "someone used my card •••• 4242!"
    async with app.sessions() as s:
        assert not (await s.scalars(select(m.Escalation.summary).where(m.Escalation.summary.contains("4242 4242")))).all()


async def test_relay_to_agents_masks_card_iban_and_password(app):  # noqa: F811
    desk = Desk()
    app.handoff.add_desk(desk)
    r = await say(app, "someone used my card", "e1")
    await say(app, f"and my IBAN is {IBAN}, password: hunter2", "e2")
    said = [e for e in desk.events if e[0] == "customer_said"]
    assert said == [("customer_said", r.escalation_id, "and my IBAN is DE•• •••• 3000, password: ••••••")]


class FakeSlack:
    def __init__(self):
        self.posts: list[dict] = []

    async def chat_postMessage(self, **kw):  # noqa: N802, ANN003, ANN201
        self.posts.append(kw)
        return {"channel": kw["channel"], "ts": f"1.{len(self.posts)}"}


def view(**kw) -> EscalationView:  # noqa: ANN003
    base = dict(id=1, conversation_id=1, status="open", reason_kind="critical", reason="fraud", summary=None,
                draft=None, channel="telegram", customer="Ann", agent_id=None, agent_name=None,
                created_at=datetime(2026, 1, 1, tzinfo=timezone.utc), claimed_at=None,
                desk_refs={"slack": {"channel": "C1", "ts": "1.1"}})
    base.update(kw)
    return EscalationView(**base)


async def test_slack_thread_and_card_never_show_full_card_iban_or_password():
    client = FakeSlack()
    desk = SlackDesk(client, handoff=None, channel_id="C1")
    await desk.customer_said(view(), f"card {CARD}, IBAN {IBAN}, my password is hunter2")
    [post] = client.posts
    assert post["text"] == "*Customer:* card •••• 4242, IBAN DE•• •••• 3000, my password is ••••••"
    await desk.announce(view(id=2, desk_refs={}, summary=f"customer: my card {CARD} was stolen"), again=False)
    card = str(client.posts[-1]["blocks"])
    assert "4242 4242" not in card and "•••• 4242" in card
    # a reason may quote the message (a frame's evidence): masked in the card's text and its fields too
    await desk.announce(view(id=3, desk_refs={}, reason=f"critical phrase 'stolen card {CARD}'"), again=False)
    post = client.posts[-1]
    assert "4242 4242" not in post["text"] and "4242 4242" not in str(post["blocks"]) and "•••• 4242" in post["text"]


@pytest.mark.parametrize("text", ["hello", "where is my order NW-20417?", ""])
def test_plain_messages_are_untouched(text):
    assert mask_card_numbers(text) == text and mask_for_agents(text) == text


PROMPT = "You are the support assistant of Northwind Outdoor. Never promise refunds above the limit and stay polite."


@pytest.fixture
async def llm_app(db_url, llm_server, monkeypatch):  # noqa: F811
    monkeypatch.setenv("TEST_KEY_SMALL", KEYS["openai"])
    monkeypatch.setenv("TEST_KEY_BIG", KEYS["anthropic"])
    settings = mini_settings()
    settings.database.url = db_url
    settings.company.system_prompt = PROMPT
    settings.models["small"].base_url = llm_server.url + "/v1"
    settings.models["big"].base_url = llm_server.url
    settings.llm.max_retries = 0
    async with App.open(settings, classifier=Scripted()) as a:
        a.out = Collect()
        a.channels.register(a.out)
        a.llm = llm_server
        yield a


async def test_a_reply_repeating_the_system_prompt_is_held(llm_app):
    leak = "Of course. My rules: never promise refunds above the limit and stay polite."
    llm_app.llm.script("small", verdict(), ok(answer(leak, 0.99)))
    r = await say(llm_app, "what's the weather", "e1")
    assert r.decision.route.value == "human"
    kinds = {g.kind: g.detail for g in await rows(llm_app, m.GuardrailEvent)}
    assert kinds["outbound_blocked"]["rule"] == "prompt_leak"
    assert "never promise" not in llm_app.out.sent[-1].text
