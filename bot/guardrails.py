"""Guardrails: PII redaction before any external model, injection flags, outbound checks.

Inbound: e-mail addresses, phone numbers, payment cards (Luhn-checked) and IBANs are
replaced by numbered placeholders ([EMAIL_1]) in the text an external model sees; the
mapping stays in memory so a generated reply can have them restored. Injection phrases
are flagged, never silently obeyed. Outbound: a reply is checked against config rules
before the customer sees it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.settings import GuardrailsCfg

EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b")
CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
PHONE = re.compile(r"(?<![\w#])\+?\d[\d ()./-]{7,}\d\b")
DATE = re.compile(r"^\d{1,4}[./-]\d{1,2}[./-]\d{1,4}$")
INJECTION = [re.compile(p, re.I) for p in (
    r"ignore (all |any )?(the |your )?(previous|prior|above|earlier) (instructions|prompts?|rules)",
    r"disregard (all |any )?(the |your )?(previous|prior|above|system) (instructions|prompt|rules)",
    r"(print|show|reveal|repeat|tell me) (me )?(your|the) (system )?(prompt|instructions)",
    r"you are now (a|an|in) ",
    r"\b(jailbreak|developer mode|DAN mode)\b",
    r"act as (if you were |an? )?(admin|administrator|developer|system)",
    r"</?(system|assistant)>",
    r"pretend (that )?you (are|have) no (rules|restrictions)",
)]
MONEY = re.compile(r"(?:€|EUR|\$|USD|£|GBP)\s?(\d[\d,.]*)|(\d[\d,.]*)\s?(?:€|EUR|euros?|\$|USD|dollars?|£|GBP)", re.I)
REFUND_PROMISE = re.compile(r"\b(refund|reimburs|credit|compensat)\w*\b", re.I)
SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
PROMISE_WORDS = re.compile(r"\b(will|we'll|i'll|going to|have issued|has been issued|approved)\b", re.I)


def luhn_ok(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


@dataclass
class Redaction:
    text: str  # what external models may see
    mapping: dict[str, str] = field(default_factory=dict)  # placeholder -> original

    @property
    def kinds(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for key in self.mapping:
            kind = key.strip("[]").rsplit("_", 1)[0].lower()
            out[kind] = out.get(kind, 0) + 1
        return out

    def restore(self, text: str) -> str:
        """Put the customer's own details back into a generated reply."""
        for placeholder, original in self.mapping.items():
            text = text.replace(placeholder, original)
        return text


def redact(text: str, shared: Redaction | None = None) -> Redaction:
    """Replace PII with placeholders. Pass `shared` to number several texts consistently."""
    mapping: dict[str, str] = shared.mapping if shared else {}
    reverse = {orig: ph for ph, orig in mapping.items()}

    def sub(kind: str, pattern: re.Pattern, s: str, check=None) -> str:  # noqa: ANN001
        def repl(m: re.Match) -> str:
            value = m.group(0)
            if check and not check(value):
                return value
            if value not in reverse:
                n = sum(1 for ph in mapping if ph.startswith(f"[{kind}_")) + 1
                reverse[value] = f"[{kind}_{n}]"
                mapping[reverse[value]] = value
            return reverse[value]
        return pattern.sub(repl, s)

    out = sub("EMAIL", EMAIL, text)
    out = sub("IBAN", IBAN, out, lambda v: len(v.replace(" ", "")) >= 15)
    out = sub("CARD", CARD, out, lambda v: luhn_ok(re.sub(r"\D", "", v)))
    out = sub("PHONE", PHONE, out, lambda v: 8 <= len(re.sub(r"\D", "", v)) <= 15 and not DATE.match(v))
    return Redaction(out, mapping)


def injection_phrases(text: str) -> list[str]:
    return [m.group(0) for p in INJECTION if (m := p.search(text))]


@dataclass(frozen=True)
class OutboundCheck:
    ok: bool
    rule: str = ""
    detail: str = ""


def check_outbound(reply: str, cfg: GuardrailsCfg, customer_text: str = "") -> OutboundCheck:
    """Rules a generated reply must pass before a customer sees it."""
    if not reply.strip():
        return OutboundCheck(False, "empty", "the reply is empty")
    if len(reply) > cfg.max_reply_chars:
        return OutboundCheck(False, "length", f"{len(reply)} characters > {cfg.max_reply_chars}")
    for sentence in SENTENCE.split(reply):  # a promise and its amount stand in one sentence
        if not (REFUND_PROMISE.search(sentence) and PROMISE_WORDS.search(sentence)):
            continue
        for m in MONEY.finditer(sentence):
            raw = (m.group(1) or m.group(2) or "").replace(",", "")
            try:
                amount = float(raw.rstrip("."))
            except ValueError:
                continue
            if amount > cfg.refund_limit:
                return OutboundCheck(False, "refund_limit", f"promises {amount:.2f} > limit {cfg.refund_limit:.2f}")
    own = set(EMAIL.findall(customer_text))
    foreign = [e for e in EMAIL.findall(reply) if e not in own and e.lower() not in cfg.allowed_emails]
    if foreign:
        return OutboundCheck(False, "other_customer_data", f"mentions e-mail addresses not given by this customer: {len(foreign)}")
    for phrase in cfg.blocked_phrases:
        if phrase.lower() in reply.lower():
            return OutboundCheck(False, "blocked_phrase", phrase)
    return OutboundCheck(True)
