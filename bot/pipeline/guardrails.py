"""Guardrails: PII redaction before any external model, injection flags, outbound checks.

Inbound: e-mail addresses, phone numbers, payment cards (Luhn-checked), IBANs (mod-97
checked), US SSNs, national ids, street addresses, dates of birth and password values are
replaced by numbered placeholders ([EMAIL_1], [PASSWORD_1]) in the text an external model
sees; the mapping stays in memory so a generated reply can have them restored. Injection
phrases are flagged, never silently obeyed. Outbound: a reply is checked against config
rules before the customer sees it (refund promises with or without an amount, other
customers' addresses, blocked phrases, a leak of the system prompt).

Stored and shown to people: mask_card_numbers() cuts card numbers to "•••• 4242" before
a message is stored (inbox payload, messages.text); mask_for_agents() also masks IBANs and
passwords wherever a customer's words reach an agent. Measured by bench/pii.py; the
`phonenumbers` library was measured against the PHONE regex there and did not earn its
weight (recall 96% vs 100% on bench/data/pii.csv, no fewer false positives, ~10x slower).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.cards import CARD, luhn_ok, mask_card_numbers  # noqa: F401 - also imported from here
from bot.cards import card_ok as _card_ok, masked_card as _masked_card
from bot.settings import GuardrailsCfg, Settings

EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b")
# US social security number: area 000, 666 and 900-999, group 00 and serial 0000 are never issued
SSN = re.compile(r"(?<![\w#/.-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\w/.-])")
PHONE = re.compile(r"(?<![\w#-])(?:\+|\()?\d[\d ()./-]{7,}\d\b")
# a date, which a phone-like run of digits may be (2024-01-05, 05/01/2024, 5.1.24), but not 123-45-6789
DATE = re.compile(r"^(?:\d{4}([./-])\d{1,2}\1\d{1,2}|\d{1,2}([./-])\d{1,2}\2(?:\d{2}|\d{4}))$")
# national ids: a UK National Insurance number by shape; others only after a word that names them
CODICE_FISCALE = re.compile(r"\b[A-Z]{6}\d{2}[A-EHLMPR-T]\d{2}[A-Z]\d{3}[A-Z]\b")
NINO = re.compile(r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b")
NATIONAL_ID = re.compile(
    r"(?i:\b(?:BSN|SSN|DNI|NIE|burgerservicenummer|national (?:insurance|id(?:entity)?) (?:number|no\.?)|"
    r"(?:passport|id|identity card|social security|insurance) (?:number|no\.?|nr\.?)|"
    r"personalausweis(?:nummer)?|ausweisnummer|steuer-?id|num[ée]ro de s[ée]curit[ée] sociale|NIR|INSEE)"
    r"(?: is)?\s*[:#]?\s*)(?P<value>(?=[A-Z0-9 ]*\d)[A-Z0-9](?:[A-Z0-9]| (?=[A-Z0-9]{1,3}\b)){5,24})")
# a date of birth: a date after words that say it is one (plain dates stay: delivery dates matter)
MONTHS = (r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|januar|februar|märz|mai|juni|juli|"
          r"oktober|dezember|janvier|février|mars|avril|juin|juillet|août|septembre|octobre|novembre|décembre)\w*\.?")
DOB = re.compile(
    r"(?i:\b(?:date of birth|birth ?date|d\.?o\.?b\.?|born(?: on)?|birthday(?: is)?|geburtsdatum|geboren(?: am)?|"
    r"date de naissance|n[ée]e? le|geboortedatum|geboren op)(?: is)?\s*[:\-]?\s*)"
    r"(?P<value>\d{1,4}[./-]\d{1,2}[./-]\d{2,4}|(?i:\d{1,2}(?:st|nd|rd|th)?\.? " + MONTHS + r",? \d{4}|"
    + MONTHS + r" \d{1,2}(?:st|nd|rd|th)?,? \d{4}))")
STREET_EN = r"(?i:street|st|road|rd|avenue|ave|lane|ln|drive|dr|close|way|place|pl|court|ct|boulevard|blvd|terrace|crescent|square|sq|gardens|grove|hill|row|mews|parade|walk)"
ADDRESS = re.compile(
    # 12 Baker Street; Flat 3, 221B Baker St; Apt 4B, 350 Fifth Avenue
    r"(?:\b(?i:flat|apt\.?|apartment|unit|suite)\s*\d+[A-Z]?,?\s+)?\b\d{1,5}[A-Za-z]?,?\s+"
    r"(?:[A-Z][a-z'’]+\s+){1,3}" + STREET_EN + r"\b\.?"
    # Hauptstraße 5, Berliner Str. 12a, Kerkstraat 12, Prinsengracht 263
    r"|\b[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|str\.|weg|gasse|platz|allee|damm|ufer|straat|laan|gracht|plein|steeg|kade|singel|dijk)"
    r"\s*\d{1,4}[a-zA-Z]?\b"
    r"|\b(?:[A-ZÄÖÜ][a-zäöüß]+ )(?:Straße|Strasse|Str\.|Weg|Platz|Allee)\s*\d{1,4}[a-z]?\b"
    # rue de Rivoli 10; 10 rue de Rivoli; 5 bis, avenue Victor Hugo
    r"|(?:\b\d{1,4}(?: ?(?:bis|ter))?,? )?\b(?i:rue|avenue|av\.|boulevard|bd|place|allée|impasse|chemin|quai|cours)"
    r" (?:(?:de la|de l'|du|des|de|d'|la|le|l')\s?)?[A-ZÉÈ][\w'-]+(?: [A-ZÉÈ][\w'-]+)*(?: \d{1,4}\b)?")
_FR_NO_NUMBER = re.compile(r"^(?i:rue|avenue|av\.|boulevard|bd|place|allée|impasse|chemin|quai|cours) .*[^\d]$")
PASSWORD_WORDS = r"(?:password|passwort|kennwort|mot de passe|wachtwoord|passcode|passwd|pwd|pw)"
PASSWORD = re.compile(
    r"(?i:\b" + PASSWORD_WORDS + r"\b(?: for (?:my |the |your )?\w+)?(?: (?:is|was|ist|est|is now|was changed to|set to))?\s*[:=]?\s*)"
    r"(?<=[\s:=])(?!(?i:not|wrong|incorrect|invalid|correct|right|too|the|a|an|and|or|but|for|reset|doesn|does|isn|"
    r"won|will|has|have|had|expired|changed|working|code|codes|number|to|of|in|on|is|was|it|that|this|with|field|manager|again|"
    r"please|because|so|if|when)\b)(?P<value>[^\s,;]*[^\s.,;:)\]\"'])")
PIN = re.compile(r"(?i:\bpin(?: code| number)?(?: is| was|:| =)\s*)(?P<value>\d{4,8})\b")  # not a tent pin
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
# a refund, credit or compensation promised or said to be done, with no amount to hold against the limit
REFUND_NO_AMOUNT = re.compile(
    r"\b(?:full|100\s?%|entire|whole|complete)\s+(?:refund|reimbursement|credit|compensation)"
    r"|\b(?:refund|reimburse|credit|compensate)\w*\s+(?:you\s+|your\s+\w+\s+)?(?:in full|fully|the full|the entire|the whole|everything)"
    r"|\b(?:i|we)(?:'ve|\s+have|\s+just|\s+already)*\s+(?:credited|refunded|reimbursed|compensated)\b"
    r"|\b(?:i|we)(?:'ve|\s+have|\s+just|\s+already)*\s+(?:issued|processed|approved|sent|arranged)\b"
    r"[^.!?\n]{0,40}\b(?:refund|credit|reimburs|compensat)"
    r"|\b(?:refund|credit|reimbursement|compensation)\s+(?:has|have)\s+(?:now\s+|just\s+|already\s+)?been\s+"
    r"(?:issued|processed|approved|sent|applied|credited|paid)"
    r"|\bcredited\s+(?:to\s+)?your\s+(?:account|card|wallet)"
    r"|\b(?:we|i)(?:'ll|\s+will|\s+can|\s+are going to|'re going to)\s+(?:\w+\s+)?(?:compensate|credit)\s+you"
    r"|\b(?:as|by way of)\s+(?:a\s+)?(?:compensation|goodwill)\b", re.I)
LEAK_PHRASES = re.compile(r"\bmy (?:system )?(?:instructions|prompt|guidelines) (?:are|is|say|says|tell)\b"
                          r"|\b(?:my|the) system prompt\b|\bI (?:was|have been|am) instructed to\b", re.I)
WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
LEAK_WORDS = 8  # this many consecutive words of the system prompt in a reply is a leak


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


def iban_ok(value: str) -> bool:
    """The ISO 13616 check: the IBAN, its first four characters moved to the end, as a number mod 97 is 1."""
    v = value.replace(" ", "").upper()
    if not 15 <= len(v) <= 34 or not v.isalnum():
        return False
    return int("".join(str(int(ch, 36)) for ch in v[4:] + v[:4])) % 97 == 1


def _phone_ok(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    if not 8 <= len(digits) <= 15 or DATE.match(value):
        return False
    if digits == value:  # one unbroken run of digits: an order, SKU or customer number unless it looks dialled
        return value[0] == "0" or len(digits) == 10 or (len(digits) == 11 and value[0] == "1")
    return True


def _address_ok(value: str) -> bool:
    return not _FR_NO_NUMBER.match(value)  # "rue de Rivoli" alone is a street, not an address


def own_contacts(settings: Settings) -> frozenset[str]:
    """The company's own e-mail addresses and phone numbers (guardrails.allowed_emails, which holds
    company.support_email, and the e-mail addresses and phone numbers among company.variables):
    not personal data, so a customer quoting them keeps them and a model may read them."""
    found = {e.lower() for e in settings.guardrails.allowed_emails}
    for value in settings.company.variables.values():
        found |= {e.lower() for e in EMAIL.findall(value)}
        found |= {_phone_key(m.group(0)) for m in PHONE.finditer(value) if _phone_ok(m.group(0))}
    return frozenset(found)


def _phone_key(value: str) -> str:
    """The last nine digits: "+44 20 7946 0018" and "020 7946 0018" are one number."""
    return "tel:" + re.sub(r"\D", "", value)[-9:]


def redact(text: str, shared: Redaction | None = None, keep: frozenset[str] = frozenset()) -> Redaction:
    """Replace PII with placeholders. Pass `shared` to number several texts consistently; `keep`: the
    company's own addresses and numbers (own_contacts), left as they are."""
    mapping: dict[str, str] = shared.mapping if shared else {}
    reverse = {orig: ph for ph, orig in mapping.items()}

    def sub(kind: str, pattern: re.Pattern[str], s: str, check: Callable[[str], bool] | None = None) -> str:
        def repl(m: re.Match[str]) -> str:
            whole = m.group(0)
            group: str | int = "value" if "value" in pattern.groupindex else 0  # only the secret, not the words before it
            value = m.group(group)
            if check and not check(value):
                return whole
            if keep and (value.lower() in keep or (kind == "PHONE" and _phone_key(value) in keep)):
                return whole
            if value not in reverse:
                n = sum(1 for ph in mapping if ph.startswith(f"[{kind}_")) + 1
                reverse[value] = f"[{kind}_{n}]"
                mapping[reverse[value]] = value
            if group == 0:
                return reverse[value]
            start = m.start(group) - m.start(0)
            return whole[:start] + reverse[value] + whole[start + len(value):]
        return pattern.sub(repl, s)

    out = sub("PASSWORD", PASSWORD, text)
    out = sub("PASSWORD", PIN, out)
    out = sub("EMAIL", EMAIL, out)
    out = sub("IBAN", IBAN, out, iban_ok)
    out = sub("CARD", CARD, out, _card_ok)
    out = sub("SSN", SSN, out)
    out = sub("NATIONAL_ID", NINO, out)
    out = sub("NATIONAL_ID", CODICE_FISCALE, out)
    out = sub("NATIONAL_ID", NATIONAL_ID, out)
    out = sub("DOB", DOB, out)
    out = sub("ADDRESS", ADDRESS, out, _address_ok)
    out = sub("PHONE", PHONE, out, _phone_ok)
    return Redaction(out, mapping)


def mask_for_agents(text: str) -> str:
    """What an agent may see of a customer's message: cards as "•••• 4242", IBANs with the country
    and last 4 ("DE•• •••• 3000"), passwords as "••••••". Idempotent."""
    if not text:
        return text

    def iban(m: re.Match[str]) -> str:
        value = m.group(0).replace(" ", "")
        return f"{value[:2]}•• •••• {value[-4:]}" if iban_ok(value) else m.group(0)

    def password(m: re.Match[str]) -> str:
        start = m.start("value") - m.start(0)
        return m.group(0)[:start] + "••••••"

    out = PIN.sub(password, PASSWORD.sub(password, text))
    out = IBAN.sub(iban, out)
    return CARD.sub(_masked_card, out)


def injection_phrases(text: str) -> list[str]:
    return [m.group(0) for p in INJECTION if (m := p.search(text))]


@dataclass(frozen=True)
class OutboundCheck:
    ok: bool
    rule: str = ""
    detail: str = ""


def _shingles(text: str, n: int) -> set[tuple[str, ...]]:
    words = WORD.findall(text.lower())
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def leaks_prompt(reply: str, system_prompt: str) -> str:
    """Why the reply gives away the system prompt ("" when it does not)."""
    if m := LEAK_PHRASES.search(reply):
        return f"says {m.group(0)!r}"
    if system_prompt:
        n = min(LEAK_WORDS, len(WORD.findall(system_prompt.lower())))
        if n >= 5 and _shingles(reply, n) & _shingles(system_prompt, n):
            return f"repeats {n}+ consecutive words of the system prompt"
    return ""


def check_outbound(reply: str, cfg: GuardrailsCfg, customer_text: str = "", system_prompt: str = "") -> OutboundCheck:
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
    for sentence in SENTENCE.split(reply):  # an amount within the limit is judged above; none: a blank cheque
        if not MONEY.search(sentence) and (promise := REFUND_NO_AMOUNT.search(sentence)):
            return OutboundCheck(False, "refund_promise", f"promises a refund or credit without an amount: {promise.group(0)!r}")
    if why := leaks_prompt(reply, system_prompt):
        return OutboundCheck(False, "prompt_leak", why)
    own = set(EMAIL.findall(customer_text))
    foreign = [e for e in EMAIL.findall(reply) if e not in own and e.lower() not in cfg.allowed_emails]
    if foreign:
        return OutboundCheck(False, "other_customer_data", f"mentions e-mail addresses not given by this customer: {len(foreign)}")
    for phrase in cfg.blocked_phrases:
        if phrase.lower() in reply.lower():
            return OutboundCheck(False, "blocked_phrase", phrase)
    return OutboundCheck(True)
