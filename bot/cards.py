"""What may be stored of a payment card number: "•••• 4242" (Luhn-checked, so order numbers stay).

A pure text function below everything that stores text: the inbox masks the raw event's payload,
the db store the message row, and bot.pipeline.guardrails (which re-exports these) redacts and masks for
agents with the same pattern and check. Imports nothing from bot.
"""

from __future__ import annotations

import re

CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")


def luhn_ok(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_ok(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_ok(digits)


def masked_card(m: re.Match[str]) -> str:
    value = m.group(0)
    return "•••• " + re.sub(r"\D", "", value)[-4:] if card_ok(value) else value


def mask_card_numbers(text: str) -> str:
    """Payment card numbers (Luhn-checked) cut to their last 4 digits, "•••• 4242": what may be stored."""
    return CARD.sub(masked_card, text) if text else text
