"""What a conversation's earlier turns tell the next one: the History the repeat-contact signal reads.

Plain data and one pure function over the stored decisions, below both the pipeline (bot.pipeline.signals,
bot.pipeline.decide) and the db layer (bot.db.store reads the decisions and builds the History in the same
transaction), so storage needs no pipeline step. Imports nothing from bot.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class History:
    """What the repeat-contact signal needs to know about earlier turns.

    A repeat contact means it: the customer comes back about the same thing after the bot's
    answer did not resolve it. So it counts intents the bot *answered* in this conversation
    since the last sign of resolution, and intents whose answer the customer said did not help
    ("I need more help") within signals.repeat_window_hours, in any conversation. A question the
    bot never answered, small talk, or a follow-up on another intent is not a repeat."""

    answered_intents: tuple[str, ...] = ()  # intents the bot answered in this conversation, unresolved
    unhelpful_intents: tuple[str, ...] = ()  # intents whose answer got "I need more help" in the window
    unresolved_bot_turns: int = 0  # bot answers since the last sign of resolution
    more_help: bool = False  # this message is the customer saying the last answer did not help
    more_help_after: str = ""  # the route of that answer (template, knowledge, cheap_llm, strong_llm)


ANSWERED = ("template", "knowledge", "action", "cheap_llm", "strong_llm")
RESOLVED_RULES = ("helped",)  # a decision row of this rule marks "that helped": earlier answers count as resolved


def history_from(decisions: list[tuple[str, str, str | None]], unhelpful: tuple[str, ...] = (),
                 small_talk: frozenset[str] = frozenset(), more_help: bool = False) -> History:
    """History from this conversation's earlier decisions, newest first: (route, rule, intent).
    The one reading of the past that live handling and replay share."""
    answered: list[str] = []
    turns = 0
    for route, rule, intent in decisions:
        if route == "human" or rule in RESOLVED_RULES:
            break
        if route in ANSWERED and intent and intent not in small_talk:
            answered.append(intent)
            turns += 1
    return History(answered_intents=tuple(answered), unhelpful_intents=unhelpful, unresolved_bot_turns=turns,
                   more_help=more_help)
