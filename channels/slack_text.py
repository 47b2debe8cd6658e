"""Slack text and buttons: Slack's markup to plain text and back (escape), replies cut into
messages, and a reply's buttons as Block Kit blocks. No I/O: channels/slack.py and slack_desk.py use these."""

from __future__ import annotations

import re
from typing import Any

from bot.messages import Reply

LIMIT = 3900  # characters per message; Slack advises at most 4,000
LINK = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
BUTTONS = "sb_rate"  # action ids of reply buttons: sb_rate_0, sb_rate_1... (unique within a block, as Slack asks)
BUTTONS_PER_BLOCK = 25
SECTION_LIMIT = 3000  # characters of a section block: a reply with buttons is cut to fit


def button_blocks(text: str, reply: Reply) -> list[dict[str, Any]]:
    """The text and the reply's buttons; each press comes back as the button's text, in this conversation
    (named in the block id, with the customer it is for)."""
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    for n in range(0, len(reply.buttons), BUTTONS_PER_BLOCK):
        block_id = f"{BUTTONS}{n}|{reply.customer_id}|{reply.conversation_key}"
        blocks.append({"type": "actions", "block_id": block_id if len(block_id) <= 255 else f"{BUTTONS}{n}",
                       "elements": [{"type": "button", "action_id": f"{BUTTONS}_{n + i}", "value": b[:2000],
                                     "text": {"type": "plain_text", "text": b[:75]}}
                                    for i, b in enumerate(reply.buttons[n:n + BUTTONS_PER_BLOCK])]})
    return blocks


def plain_text(text: str, bot_user: str | None) -> str:
    """Slack's markup to plain text: our leading @mention dropped, <url|label> -> label, entities decoded."""
    lead = re.escape(bot_user) if bot_user else r"[UW][A-Z0-9]+"
    text = re.sub(rf"^\s*<@{lead}(?:\|[^>]*)?>[\s,:]*", "", text)
    text = LINK.sub(lambda m: m.group(2) or m.group(1), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def escape(text: str) -> str:
    """What Slack asks of message text: &, < and > escaped (so a reply cannot ping <!channel>)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def split_text(text: str, limit: int = LIMIT) -> list[str]:
    """Chunks of at most `limit` characters: cut at a paragraph break, else a line break, else a
    space (each only in the chunk's second half), else hard, never inside an &entity;."""
    chunks, rest = [], text
    while len(rest) > limit:
        for sep in ("\n\n", "\n", " "):
            cut = rest.rfind(sep, limit // 2, limit + len(sep))
            if cut > 0:
                chunk, rest = rest[:cut], rest[cut + len(sep):].lstrip("\n" if sep != " " else " ")
                break
        else:
            cut = limit
            amp = rest.rfind("&", limit - 5, limit)
            if amp > 0 and ";" not in rest[amp:limit]:
                cut = amp
            chunk, rest = rest[:cut], rest[cut:]
        if chunk.strip():
            chunks.append(chunk.rstrip())
    if rest.strip():
        chunks.append(rest)
    return chunks
