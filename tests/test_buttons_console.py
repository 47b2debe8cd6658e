"""Reply buttons in the terminal chat: numbered choices under the reply; a line that is just one of
the numbers is sent as that label; --json objects carry `buttons`.

run_chat runs in-process (mini config, the `Scripted` classifier, SQLite) with its input scripted.
The core's reply to "hello" is given buttons at the channel boundary (ConsoleChannel.deliver), so
the test does not depend on which core flow sends buttons; "Order status" is answered with the
canned order reply.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from channels import console as console_mod
from channels.console import ConsoleChannel, choices, chosen, run_chat
from tests.helpers import mini_settings
from tests.fakes.doubles import Scripted

LABELS = ("Returns", "Order status", "Something else")
ORDER = "track your order at https://shop.test/orders"


@pytest.fixture
def chat(sqlite_db, monkeypatch, capsys):
    settings = mini_settings()
    settings.database.url = sqlite_db
    real = ConsoleChannel.deliver

    async def deliver(self, reply, key):  # noqa: ANN001, ANN202 - the hello reply carries buttons
        if reply.text.startswith("Hello!"):
            reply = dataclasses.replace(reply, buttons=LABELS)
        return await real(self, reply, key)

    monkeypatch.setattr(ConsoleChannel, "deliver", deliver)

    async def run(lines: list[str], *, as_json: bool = False, interactive: bool = False) -> list[str]:
        feed = iter(lines)
        monkeypatch.setattr(console_mod, "_read", lambda prompt: next(feed, None))
        await run_chat(settings, customer="alice", as_json=as_json, model_dir=None, interactive=interactive,
                       classifier=Scripted())
        return capsys.readouterr().out.splitlines()

    return run


def test_choices_and_numbers():
    assert choices(LABELS) == "  1) Returns  2) Order status  3) Something else"
    assert choices(()) == ""
    assert [chosen(x, LABELS) for x in ("2", " 3 ", "4", "0", "2 please", "²", "-1")] == [
        "Order status", "Something else", "4", "0", "2 please", "²", "-1"]
    assert chosen("2", ()) == "2"


async def test_numbered_choices_shown_and_a_number_sends_that_label(chat):
    out = await chat(["hello", "2", "/new", "2"], interactive=True)
    text = "\n".join(out)
    assert "bot> Hello! How can Test Shop help?" in text
    [shown] = [line for line in out if "1) Returns" in line]
    assert shown.strip() == "1) Returns  2) Order status  3) Something else"
    assert out.index(shown) == next(i for i, line in enumerate(out) if "bot> Hello!" in line) + 1  # under it
    assert ORDER in text  # "2" went as "Order status"


async def test_json_has_buttons_and_the_label_sent(chat):
    script = ["hello", "2", "2", "/new", "Order status", "/new", "2"]
    lines = [json.loads(x) for x in await chat(script, as_json=True)]
    # the answer to "Order status" asks "did that help?": its "2" is "I need more help"; after /new "2" is text
    assert [x["text"] for x in lines] == ["hello", "Order status", "I need more help", "Order status", "2"]
    assert lines[0]["buttons"] == list(LABELS)
    assert lines[1]["buttons"] == lines[3]["buttons"] == ["That helped", "I need more help"]
    assert ORDER in lines[1]["reply"] and lines[3]["reply"] == lines[1]["reply"]  # typed = pressed
    assert lines[1]["conversation_id"] == lines[0]["conversation_id"] == lines[2]["conversation_id"]
    assert lines[3]["conversation_id"] != lines[0]["conversation_id"]
    assert all(isinstance(x["buttons"], list) for x in lines)


async def test_plain_mode_keeps_one_line_per_message(chat):
    out = await chat(["hello", "3"])
    assert len(out) == 2 and out[0].endswith("1) Returns 2) Order status 3) Something else")


async def test_an_agent_reply_reaches_the_terminal_without_waiting_for_the_next_line(sqlite_db, monkeypatch, capsys):
    """Issue 18: the agent answers from elsewhere (another process's console: its own engine here) while the
    customer types nothing; the interactive chat shows it as it arrives, marked as a person's."""
    import asyncio
    import threading

    from bot.db.engine import make_engine, session_factory
    from bot.handoff.agents import add_agent
    from bot.handoff.escalations import Handoff

    settings = mini_settings()
    settings.database.url = sqlite_db
    loop = asyncio.get_running_loop()
    shown = threading.Event()
    real = ConsoleChannel.deliver

    async def deliver(self, reply, key):  # noqa: ANN001, ANN202
        out = await real(self, reply, key)
        if reply.sender:
            shown.set()
        return out

    monkeypatch.setattr(ConsoleChannel, "deliver", deliver)

    async def agent_answers() -> None:
        engine = make_engine(sqlite_db)
        try:
            elsewhere = Handoff(settings, session_factory(engine))
            [esc] = await elsewhere.queue()
            ann = await add_agent(elsewhere.sessions, "ann", "password1")
            await elsewhere.claim(esc.id, ann)
            await elsewhere.agent_reply(esc.id, ann, "Hi, Ann here. I've blocked the card.")
        finally:
            await engine.dispose()

    lines = iter(["someone used my card!"])

    def read(prompt):  # noqa: ANN001, ANN202 - runs in a thread, like input()
        line = next(lines, None)
        if line is None:  # the customer types nothing more: the agent answers meanwhile
            asyncio.run_coroutine_threadsafe(agent_answers(), loop).result(timeout=30)
            assert shown.wait(timeout=30), "the agent's reply was not shown"
        return line

    monkeypatch.setattr(console_mod, "_read", read)
    await run_chat(settings, customer="alice", as_json=False, model_dir=None, interactive=True, classifier=Scripted())
    out = capsys.readouterr().out
    assert "agent> Ann (Test Shop): Hi, Ann here. I've blocked the card." in out
    assert "bot> " in out  # the bot's own "passing you to a person" is marked as the bot's
