"""Terminal chat: the embedded default channel, no setup needed.

Each line the customer types becomes an inbox event, handled by the same
inbox -> worker -> outbox path that Telegram and Slack use; replies come back through
`deliver`, which the outbox calls.

A reply's buttons are shown as numbered choices under it ("  1) Order status  2) Returns");
a line that is just one of those numbers is sent as that button's label, as a press would be
(typing the label works the same). With --json each object has `buttons`: the labels.
"""

from __future__ import annotations

import uuid

from typing import TYPE_CHECKING, Callable

from bot.runtime.channel import DeliveryError
from bot.messages import InboundMessage, Reply

if TYPE_CHECKING:  # types only: run_chat imports the App when it runs
    from rich.console import Console

    from bot.app import App
    from bot.classify.protocol import Classifier
    from bot.settings import Settings


class ConsoleChannel:
    name = "console"

    def __init__(self, customer: str, on_reply: Callable[[Reply], None] | None = None):
        self.customer = customer
        self.on_reply = on_reply  # shown as it arrives (the interactive chat), else kept for take()
        self.run_id = uuid.uuid4().hex[:8]
        self.conversation_no = 1
        self.sequence = 0
        self._delivered: list[Reply] = []

    @property
    def conversation_key(self) -> str:
        return f"{self.run_id}-{self.conversation_no}"

    def new_conversation(self) -> None:
        self.conversation_no += 1

    def message(self, text: str) -> tuple[InboundMessage, str]:
        """The customer's line as an inbound message and its unique event id."""
        self.sequence += 1
        external_id = f"{self.run_id}:{self.sequence}"
        msg = InboundMessage(channel=self.name, customer_id=self.customer, customer_name=self.customer,
                             text=text, conversation_key=self.conversation_key, external_id=external_id)
        return msg, external_id

    async def deliver(self, reply: Reply, idempotency_key: str) -> str | None:
        if reply.customer_id != self.customer:
            # a reply queued for another terminal session that has ended: nobody can read it now
            raise DeliveryError(f"no terminal session for {reply.customer_id!r}", permanent=True)
        if self.on_reply is not None:
            self.on_reply(reply)
        else:
            self._delivered.append(reply)
        return idempotency_key

    def take(self) -> list[Reply]:
        out, self._delivered = self._delivered, []
        return out


HELP = "Type your message. /new starts a new conversation, /quit (or Ctrl-D) leaves."


def choices(buttons: tuple[str, ...] | list[str]) -> str:
    """A reply's buttons as numbered choices: "  1) Order status  2) Returns"; "" when there are none."""
    return "".join(f"  {i}) {b}" for i, b in enumerate(buttons, 1))


def chosen(line: str, buttons: tuple[str, ...] | list[str]) -> str:
    """The line to send: a number naming one of the choices shown becomes that label."""
    n = line.strip()
    if n.isascii() and n.isdigit() and 1 <= int(n) <= len(buttons):
        return buttons[int(n) - 1]
    return line


def speaker(reply: Reply) -> str:
    """Who a line is from: an agent's reply carries its sender ("Ann (Northwind Goods): "), the bot's none."""
    return "agent>" if reply.sender else "bot>"


def _read(prompt: str | None) -> str | None:
    import sys

    try:
        if prompt is not None:
            return input(prompt)
        line = sys.stdin.readline()
        return line.rstrip("\r\n") if line else None
    except EOFError:
        return None


async def run_chat(settings: Settings, *, customer: str, as_json: bool, model_dir: str | None,
                   interactive: bool, classifier: Classifier | None = None) -> None:
    """The terminal chat loop: read a line, put it through the inbox, print what the outbox delivers."""
    import asyncio

    from rich.console import Console
    from rich.markup import escape

    from bot.app import App
    from bot.web import apps
    from bot.startup import announce, render, summary

    out = Console(highlight=False, soft_wrap=True)
    buttons: list[str] = []  # the choices shown under the last reply

    def show(r: Reply) -> None:  # interactive: every reply as it is delivered, an agent's too while you type
        out.print(f"[bold cyan]{speaker(r)}[/bold cyan] {escape(r.text)}")
        if r.buttons:
            out.print(f"[bold]   {escape(choices(r.buttons))}[/bold]")  # under the text
            buttons[:] = list(r.buttons)

    console = ConsoleChannel(customer, on_reply=show if interactive else None)
    stop = asyncio.Event()
    async with App.open(settings, model_dir=model_dir, classifier=classifier) as app, \
            apps.served_alone(settings) as apps_url:
        if apps_url and app.actions is not None:  # the shop apps the actions call (the demo order API)
            app.actions.self_url = apps_url
        app.channels.register(console)
        rows = summary(settings, classifier=app.classifier_label, channels={"console": "on (this terminal)"})
        announce(rows)
        sender = None
        if interactive:
            out.print(f"[dim]{escape(render(rows))}[/dim]")
            out.print(f"[bold]{settings.company.name}[/bold] support - {HELP}")
            # an agent answering from the console or Slack (another process) reaches this terminal without
            # waiting for the customer's next line: the outbox runs in the background here
            sender = asyncio.create_task(app.outbox.run(stop, asyncio.Event()))
        try:
            await _loop(app, console, out, buttons, as_json=as_json, interactive=interactive)
        finally:
            stop.set()
            if sender is not None:
                await sender


async def _loop(app: App, console: ConsoleChannel, out: Console, buttons: list[str], *, as_json: bool,
                interactive: bool) -> None:
    """Read a line, put it through the inbox, print what the outbox delivers, until /quit or the end.
    `buttons`: the choices shown under the last reply, kept in place (show() updates it too)."""
    import asyncio
    import json

    while True:
        line = await asyncio.to_thread(_read, "you> " if interactive else None)
        if line is None or (interactive and line.strip() in ("/quit", "/exit")):
            break
        if line.strip() == "/new":
            console.new_conversation()
            buttons.clear()
            if interactive:
                out.print("[dim]-- new conversation --[/dim]")
            continue
        line = chosen(line, buttons)
        msg, external_id = console.message(line)
        if interactive:
            buttons.clear()  # a reply with choices sets them again as it is shown
        event_id = await app.inbox.accept(msg, external_id)
        results = await app.worker.drain()
        await app.outbox.flush()  # interactive: show() has printed each reply as it went out
        result = results.get(event_id) if event_id is not None else None
        if interactive:
            if result:
                c = result.classification
                meta = f"route {result.decision.route.value} ({result.decision.reason})"
                if c:
                    meta = f"intent {c.intent} {c.confidence:.2f} - {meta}"
                out.print(f"[dim]     {meta}[/dim]")
            continue
        delivered = console.take()
        replies = [r.text for r in delivered]
        buttons[:] = [b for r in delivered for b in r.buttons]
        if as_json:
            data: dict[str, object] = result.as_dict() if result else {"text": line, "error": "the message could not be handled"}
            data["reply"] = "\n".join(replies) if replies else None
            data["buttons"] = list(buttons)
            print(json.dumps(data, ensure_ascii=False), flush=True)
        else:  # one line per message, the choices at its end
            print(" ".join(" ".join([*replies, choices(buttons)]).split()), flush=True)
