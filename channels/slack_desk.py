"""Agents in Slack: an escalation card per case in the agents' channel, and what agents do with it.

SlackDesk is the AgentDesk that bot.handoff.escalations tells about escalations:

    announce       a card in settings.handoff.slack_channel: customer, channel, reason, age,
                   summary, and the buttons Take / Resolve / Return to bot (value = escalation id);
                   again=True (the SLA passed, still untaken): a reminder in the card's thread,
                   also shown in the channel
    changed        the card is updated (status line, buttons) and the thread gets a note
    customer_said  the customer's message goes into the card's thread ("Customer: ...")
    noted          an agent's private note from the console goes into the card's thread ("Note from ...")

It also carries out what agents do in Slack, called by the bolt listeners in channels/slack.py:
press() for a card button, thread_reply() for a message in a card's thread (relayed to the
customer on whatever channel they use; one that starts with "note:" is a private note for agents,
bot/handoff/notes.py, and is never relayed), queue_text() for `/supportbot queue`. Who holds an
escalation is decided by bot.handoff.escalations in SQL; this module only shows the outcome.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Callable

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import IntegrityError

from bot.db.reads import DeskRef, open_escalation_desk_refs
from bot.pipeline.guardrails import mask_for_agents
from bot.handoff import approvals, notes, triage
from bot.handoff.escalations import EscalationView, Handoff, HandoffError, agent_for_slack_user
from bot.messages import EscalationKind, utcnow
from channels.slack_people import profile_name
from channels.slack_text import LIMIT, escape, split_text

log = logging.getLogger("supportbot.slack.desk")
Block = dict[str, object]  # a Block Kit object (JSON) of a card

ACTIONS = {"sb_take": "take", "sb_resolve": "resolve", "sb_return": "return",  # action_id -> press()
           "sb_approve": "approve", "sb_deny": "deny"}
REMEMBER = 5000  # cards (and relayed agent replies) kept in memory; older ones are found in the database
SECTION_LIMIT = 3000  # characters of a Block Kit section text
ZWSP = "\u200b"  # zero-width space: breaks up a customer's ``` inside the card's code blocks
STATUS = {"open": ":large_orange_circle: Open: waiting for an agent",
          "claimed": ":large_blue_circle: Taken by {agent}",
          "resolved": ":white_check_mark: Resolved by {agent}",
          "returned": ":robot_face: Returned to the bot by {agent}"}
NOTES = {"claimed": "{agent} took this escalation. Replies in this thread go to the customer.",
         "resolved": "{agent} resolved this escalation; the customer was asked for a rating.",
         "returned": "{agent} returned the conversation to the bot.",
         "reviewed": "{agent} reviewed the draft: {by}.",
         "approved": "{agent} approved it; the customer was told, and the conversation is back with the bot.",
         "denied": "{agent} denied it; the customer was told, and the conversation is back with the bot.",
         # assignment (bot/handoff/assign.py)
         "assigned": "Round robin gave this escalation to {agent}. Replies in this thread go to the customer.",
         "transferred": "{by} handed this conversation over.",
         "released": "{by} went away before answering; the escalation is open again."}


def age(since: datetime, now: datetime) -> str:
    """'45 s', '12 min', '3 h 5 min', '2 d 4 h'."""
    if since.tzinfo is None:  # SQLite hands datetimes back without their (UTC) zone
        since = since.replace(tzinfo=timezone.utc)
    s = max(0, int((now - since).total_seconds()))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def unfence(text: str) -> str:
    """No two backticks in a row (a zero-width space between them): a customer's ``` cannot close the
    card's code block early and format the rest of the card as they like."""
    return re.sub("`(?=`)", "`" + ZWSP, text)


def code_block(text: str) -> str:
    """Unfenced text in a ``` block that only its own closing fence ends."""
    body = unfence(text)
    if body.startswith("`"):  # nor a backtick next to our own fences
        body = ZWSP + body
    if body.endswith("`"):
        body += ZWSP
    return f"```{body}```"


def card_text(esc: EscalationView) -> str:
    """The notification / fallback text of a card."""
    return escape(f"Escalation #{esc.id} ({triage.PRIORITY_LABEL[triage.priority(esc.reason_kind)]}): {esc.customer} "
                  f"on {esc.channel}: {triage.headline(esc.reason_kind, mask_for_agents(esc.reason))}")


def card_blocks(esc: EscalationView, now: datetime) -> list[Block]:
    """The card: header, fields, summary (and draft), status line, the buttons the state allows."""
    def field(label: str, value: str) -> Block:
        return {"type": "mrkdwn", "text": f"*{label}*\n{escape(value)[:1900]}"}

    def section(label: str, text: str) -> Block:
        body = unfence(escape(mask_for_agents(text)))  # a summary or draft may quote the customer's card, IBAN
        cut = SECTION_LIMIT - len(label) - 20
        return {"type": "section", "text": {"type": "mrkdwn", "text": f"*{label}*\n{code_block(body[:cut])}"
                                            + (" _(cut)_" if len(body) > cut else "")}}

    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Escalation #{esc.id}", "emoji": True}},
        {"type": "section", "fields": [
            field("Customer", esc.customer + (f" (writes in {esc.language})" if esc.language else "")),
            field("Channel", esc.channel),
            field("Why", f"{triage.headline(esc.reason_kind, mask_for_agents(esc.reason))} "
                         f"({triage.PRIORITY_LABEL[triage.priority(esc.reason_kind)]} priority)\n"
                         f"{esc.reason_kind}: {mask_for_agents(esc.reason)}"),  # a reason may quote the message
            field("Age", f"{age(esc.created_at, now)} (opened {esc.created_at:%Y-%m-%d %H:%M} UTC)")]},
        section("Summary", esc.summary or "(no summary)"),
    ]
    if esc.draft:
        blocks.append(section("Draft held for review", esc.draft))
    status = STATUS.get(esc.status, esc.status).format(agent=escape(esc.agent_name or "an agent"))
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": status}]})
    buttons = {"open": ("sb_take", "sb_resolve", "sb_return"), "claimed": ("sb_resolve", "sb_return")}
    shown = buttons.get(esc.status, ())
    if shown and esc.reason_kind == EscalationKind.APPROVAL:  # a refund over the limit: decided on the card
        shown = ("sb_approve", "sb_deny", *(("sb_take",) if esc.status == "open" else ()))
    if shown:
        labels = {"sb_take": ("Take", "primary"), "sb_resolve": ("Resolve", None),
                  "sb_return": ("Return to bot", None), "sb_approve": ("Approve", "primary"),
                  "sb_deny": ("Deny", "danger")}
        elements: list[Block] = []
        for action_id in shown:
            label, style = labels[action_id]
            if action_id == "sb_take" and "sb_approve" in shown:
                style = None  # one primary button per card
            button: Block = {"type": "button", "action_id": action_id, "value": str(esc.id),
                      "text": {"type": "plain_text", "text": label}}
            if style:
                button["style"] = style
            elements.append(button)
        blocks.append({"type": "actions", "block_id": f"sb_escalation_{esc.id}", "elements": elements})
    return blocks


class SlackDesk:
    """The agents' channel as an AgentDesk, plus the agents' actions in it."""

    name = "slack"

    def __init__(self, client: AsyncWebClient, handoff: Handoff, channel_id: str, *,
                 clock: Callable[[], datetime] = utcnow):
        self.client = client
        self.handoff = handoff
        self.channel_id = channel_id
        self.clock = clock
        self._cards: OrderedDict[int, DeskRef] = OrderedDict()  # escalation id -> {"channel", "ts"} of its card
        self._by_ts: dict[str, int] = {}  # card ts -> escalation id
        self._announcing = asyncio.Lock()  # the worker and the SLA loop may announce one escalation at once
        self._agents: dict[str, int] = {}  # Slack user id -> agent id
        self._agent_locks: dict[str, asyncio.Lock] = {}
        self._relayed: OrderedDict[str, None] = OrderedDict()  # Slack events already sent to a customer

    # --- AgentDesk ---------------------------------------------------------------------
    async def announce(self, esc: EscalationView, again: bool) -> DeskRef | None:
        async with self._announcing:
            ref = self._card(esc)
            if ref is None:
                r = await self.client.chat_postMessage(channel=self.channel_id, text=card_text(esc),
                                                       blocks=card_blocks(esc, self.clock()), unfurl_links=False)
                ref = {"channel": r["channel"], "ts": r["ts"]}
                self._remember(esc.id, ref)
                return ref
            if again:
                waited = age(esc.created_at, self.clock())
                await self.client.chat_postMessage(
                    channel=ref["channel"], thread_ts=ref["ts"], reply_broadcast=True,
                    text=f":alarm_clock: Escalation #{esc.id} is still not taken after {waited}. "
                         "Press *Take* on the card to answer the customer.")
                await self._update(esc, ref)
            return ref  # already on show: not posted twice

    def listening(self, conversation_id: int) -> bool:
        return True  # the card's thread shows every customer message, whoever looks

    async def customer_said(self, esc: EscalationView, text: str) -> None:
        ref = self._card(esc)
        if ref is None:
            log.warning("slack desk: escalation #%s has no card; a customer message was not shown", esc.id)
            return
        text = mask_for_agents(text)  # cards, IBANs and passwords never reach the agents' channel
        for chunk in split_text(escape(text), LIMIT - 20) or ["(an empty message)"]:
            await self.client.chat_postMessage(channel=ref["channel"], thread_ts=ref["ts"],
                                               text=f"*Customer:* {chunk}", unfurl_links=False)

    async def changed(self, esc: EscalationView, event: str, by: str | None = None) -> None:
        if event == "agent_replied":  # the agent's own message is already in the thread
            return
        ref = self._card(esc)
        if ref is None:
            return
        await self._update(esc, ref)
        if event in NOTES:
            note = NOTES[event].format(agent=escape(esc.agent_name or by or "An agent"), by=escape(by or ""))
            await self.client.chat_postMessage(channel=ref["channel"], thread_ts=ref["ts"], text=note)

    async def noted(self, esc: EscalationView, note: notes.Note) -> None:
        """A note written in the console, in the card's thread (one written in the thread is there already)."""
        ref = self._card(esc)
        if ref is None or note.source == "slack":
            return
        text = escape(mask_for_agents(note.text))
        head = f":memo: *Note from {escape(note.agent_name)}* (agents only, not sent to the customer):"
        for chunk in split_text(text, LIMIT - len(head) - 20):
            await self.client.chat_postMessage(channel=ref["channel"], thread_ts=ref["ts"], text=f"{head} {chunk}",
                                               unfurl_links=False)

    async def _update(self, esc: EscalationView, ref: DeskRef) -> None:
        await self.client.chat_update(channel=ref["channel"], ts=ref["ts"], text=card_text(esc),
                                      blocks=card_blocks(esc, self.clock()))

    # --- cards -------------------------------------------------------------------------
    def _card(self, esc: EscalationView) -> DeskRef | None:
        ref = esc.desk_refs.get(self.name) or self._cards.get(esc.id)
        if ref and ref.get("ts"):
            self._remember(esc.id, ref)
            return ref
        return None

    def _remember(self, escalation_id: int, ref: DeskRef) -> None:
        self._cards[escalation_id] = ref
        self._cards.move_to_end(escalation_id)
        self._by_ts[ref["ts"]] = escalation_id
        while len(self._cards) > REMEMBER:
            _, old = self._cards.popitem(last=False)
            self._by_ts.pop(old["ts"], None)

    async def escalation_for(self, card_ts: str) -> int | None:
        """The escalation whose card has this ts: from memory, else from the open ones in the database."""
        if card_ts in self._by_ts:
            return self._by_ts[card_ts]
        rows = await open_escalation_desk_refs(self.handoff.sessions)
        for escalation_id, refs in rows:
            ref = refs.get(self.name) or {}
            if ref.get("ts") == card_ts:
                self._remember(escalation_id, ref)
                return escalation_id
        return None

    # --- what agents do ----------------------------------------------------------------
    async def agent(self, user_id: str, name: str | None = None) -> int:
        """The agent account of a Slack user (created on first use, named after their Slack profile)."""
        if user_id in self._agents:
            return self._agents[user_id]
        async with self._agent_locks.setdefault(user_id, asyncio.Lock()):
            if user_id not in self._agents:
                name = await self._profile_name(user_id) or name or user_id
                try:
                    agent_id = await agent_for_slack_user(self.handoff.sessions, user_id, name)
                except IntegrityError:  # another process created it a moment ago
                    agent_id = await agent_for_slack_user(self.handoff.sessions, user_id, name)
                self._agents[user_id] = agent_id
        return self._agents[user_id]

    async def _profile_name(self, user_id: str) -> str | None:
        try:
            user = (await self.client.users_info(user=user_id))["user"]
        except Exception as e:  # noqa: BLE001 - no users:read scope, Slack down: the payload's name will do
            log.info("slack desk: users.info %s failed (%s)", user_id, type(e).__name__)
            return None
        return profile_name(user)

    async def press(self, action_id: str, value: str, user_id: str, user_name: str | None = None) -> None:
        """A button on a card: take, resolve, return to the bot, approve or deny a refund over the limit.
        Problems reach the agent ephemerally."""
        what = ACTIONS.get(action_id)
        try:
            escalation_id = int(value)
        except (TypeError, ValueError):
            escalation_id = None
        if what is None or escalation_id is None:
            await self.whisper(user_id, f"That button is not one of ours ({action_id}, {value!r}).")
            return
        try:
            agent_id = await self.agent(user_id, user_name)
            if what == "take":
                claim = await self.handoff.claim(escalation_id, agent_id)
                if not claim.won:
                    esc = await self.handoff.view(escalation_id)
                    why = (f"is already taken by {esc.agent_name}" if esc.status == "claimed"
                           else f"is {esc.status}")
                    await self.whisper(user_id, f"Escalation #{escalation_id} {why}.")
            elif what in ("approve", "deny"):
                await approvals.decide(self.handoff, escalation_id, agent_id, what == "approve")
            elif what == "resolve":
                await self.handoff.resolve(escalation_id, agent_id)
            else:
                await self.handoff.return_to_bot(escalation_id, agent_id)
        except HandoffError as e:
            await self.whisper(user_id, f"Could not {what.replace('return', 'return to the bot')}: {e}.")
        except Exception:  # the database or Slack is down: the click is lost, so say so
            log.exception("slack desk: %s of escalation #%s by %s failed", what, escalation_id, user_id)
            await self.whisper(user_id, f"Something went wrong with {what} on escalation #{escalation_id}; "
                                        "please press the button again.")

    async def thread_reply(self, user_id: str, card_ts: str, text: str, event_key: str) -> bool:
        """A person wrote in a thread of the agents' channel; if it is a card's thread and they hold
        the escalation, it goes to the customer. True when relayed (or relayed before)."""
        if event_key in self._relayed:
            return True  # Slack delivered the event again
        escalation_id = await self.escalation_for(card_ts)
        if escalation_id is None:
            return False  # not a card's thread: agents talking among themselves
        where = {"channel": self.channel_id, "ts": card_ts}
        agent_id = await self.agent(user_id)
        if (note := notes.slack_note(text)) is not None:  # "note: ..." is for agents, whoever holds it
            return await self._note(escalation_id, agent_id, user_id, note, event_key, where)
        esc = await self.handoff.view(escalation_id)
        if esc.status == "open":
            why = "Press *Take* on the card first; then what you write here goes to the customer."
        elif esc.status != "claimed":
            why = f"Escalation #{esc.id} is {esc.status}: the customer no longer gets messages from this thread."
        elif esc.agent_id != agent_id:
            holder = escape(esc.agent_name or "Another agent")
            why = f"{holder} holds escalation #{esc.id}; only they write to the customer."
        elif not text.strip():
            why = "Only text reaches the customer; your message had none."
        else:
            try:
                await self.handoff.agent_reply(escalation_id, agent_id, text, key=f"slack:{event_key}")
            except HandoffError as e:
                why = f"Not sent: {e}."
            else:
                self._relayed[event_key] = None
                while len(self._relayed) > REMEMBER:
                    self._relayed.popitem(last=False)
                return True
        await self.whisper(user_id, f"{why} (Not sent to the customer.)", where)
        return False

    async def _note(self, escalation_id: int, agent_id: int, user_id: str, text: str, event_key: str,
                    where: DeskRef) -> bool:
        try:
            await notes.add_note(self.handoff, escalation_id, agent_id, text, "slack", key=f"slack:{event_key}")
        except HandoffError as e:
            await self.whisper(user_id, f"Note not saved: {e}. (Not sent to the customer.)", where)
            return False
        self._relayed[event_key] = None
        while len(self._relayed) > REMEMBER:
            self._relayed.popitem(last=False)
        await self.whisper(user_id, "Saved as a private note: agents see it, the customer does not.", where)
        return False  # not relayed: a note never reaches the customer

    async def queue_text(self) -> str:
        """`/supportbot queue`: open and taken escalations, oldest first."""
        items = await self.handoff.queue()
        if not items:
            return "No open escalations. :tada:"
        now = self.clock()
        lines = [f"*Open escalations: {len(items)}*"]
        for e in items[:50]:
            state = (f"waiting {age(e.created_at, now)}" if e.status == "open"
                     else f"taken by {escape(e.agent_name or '?')}")
            lines.append(f"• *#{e.id}* {escape(e.customer)} ({e.channel}): {escape(e.reason_kind)}, "
                         f"{escape(mask_for_agents(e.reason)[:200])} ({state})")
        if len(items) > 50:
            lines.append(f"…and {len(items) - 50} more")
        return "\n".join(lines)

    async def whisper(self, user_id: str, text: str, where: DeskRef | None = None) -> None:
        """An ephemeral message to one agent in the agents' channel (in a card's thread when given)."""
        try:
            await self.client.chat_postEphemeral(channel=self.channel_id, user=user_id, text=text,
                                                 thread_ts=where["ts"] if where else None)
        except Exception:  # noqa: BLE001 - telling them is best effort
            log.exception("slack desk: could not tell %s: %s", user_id, text)
