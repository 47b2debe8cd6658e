"""Test doubles of the bot's own interfaces (not of external services: those are the fakes beside
this file, which speak the real wire protocols over 127.0.0.1).

Scripted: a local classifier whose confidence each test picks by keyword. Collect: a channel that
keeps what it was asked to deliver. Recorder: a channel that keeps what it delivered and fails with
the DeliveryErrors it was given first. Desk: an agents' desk that records what agents would see.
"""

from __future__ import annotations

from bot.messages import Classification, Reply
from bot.runtime.channel import DeliveryError


class Scripted:
    """Classifies by the first keyword found in the text."""

    RULES = {"order": ("order_status", 0.97), "return": ("return_item", 0.95), "card": ("fraud_report", 0.96),
             "hello": ("greeting", 0.99), "unsure": ("order_status", 0.55), "weather": ("out_of_scope", 0.1)}
    model_version = "scripted"

    def classify(self, text: str) -> Classification:
        truncated = len(text) > 4000
        for word, (intent, p) in self.RULES.items():
            if word in text.lower()[:4000]:
                return Classification(intent, p, ((intent, p),), model_version="scripted", truncated=truncated)
        return Classification("out_of_scope", 0.05, (("order_status", 0.05),), model_version="scripted",
                              truncated=truncated)


class Collect:
    name = "test"

    def __init__(self):
        self.sent: list[Reply] = []

    async def deliver(self, reply: Reply, key: str) -> str:
        self.sent.append(reply)
        return key


class Desk:
    """Records what agents would see."""

    name = "test-desk"

    def __init__(self):
        self.events: list[tuple] = []
        self.open = True  # an agent has it on screen

    def listening(self, conversation_id):  # noqa: ANN001, ANN201
        return self.open

    async def announce(self, esc, again):  # noqa: ANN001
        self.events.append(("announce", esc.id, again))
        return {"card": f"c{esc.id}"}

    async def customer_said(self, esc, text):  # noqa: ANN001
        self.events.append(("customer_said", esc.id, text))

    async def changed(self, esc, event, by=None):  # noqa: ANN001
        self.events.append((event, esc.id, by))


class Recorder:
    name = "test"

    def __init__(self, failures: list[DeliveryError] | None = None):
        self.failures = list(failures or [])
        self.sent: list[tuple[Reply, str]] = []

    async def deliver(self, reply: Reply, key: str) -> str | None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((reply, key))
        return f"ext-{len(self.sent)}"
