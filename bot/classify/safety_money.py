"""The money frames of the safety detector (bot/classify/safety.py): a charge far above the expected
amount ("900 instead of 90", "ten times the price", a charge called huge), a charge repeated or taken
too often, an overpayment, and a short refund (money back for a fraction of what was returned); and the
disputes a canned answer cannot settle (money_dispute(): an amount other than the one agreed, a promised
refund or compensation that never came, a fee the shop's own terms waive, half a refund for a return).

A duplicate charge of the order is the routine double_charged intent and is *not* a hit. money_frame()
reads a normalised, lower-cased message and gives (score, the phrase that shows it) or None.
"""

from __future__ import annotations

import math
import re

from bot.classify.safety_cues import MONEY_VERB
from bot.classify.safety_cues_defr import MONEY_DE_FR

# a sum: "£1,200", "€59.90", "640 euro", "900 quid"; and as German and French write it, the sign after the number
# and a space between the thousands ("480 €", "1 200 €", "59,90 €")
AMOUNT = re.compile(
    r"(?P<cur>[£$€])\s?(?P<a>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<d>\d{1,2}))?(?P<k>k\b)?"
    r"|(?<![\w#/,.-])(?P<b>\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?=\s?(?:€|euros?\b|eur\b))|\d{1,3}(?:,\d{3})+|\d+)"
    r"(?:[.,](?P<e>\d{2})(?=\s?€)|\.(?P<e2>\d{1,2}))?(?P<k2>k\b)?(?![\w/-]|x\d|\.\d)"
    r"(?P<unit>\s*(?:pounds?|quid|euros?|dollars?|gbp|eur|usd|€|p\b))?")
NOT_MONEY_AFTER = re.compile(
    r"\s*(?:x\b|cm|mm|m\b|kg|g\b|ml|l\b|%|days?|weeks?|months?|years?|hours?|hrs?|minutes?|mins?|seconds?|times|items?|pieces?|"
    r"packs?|seater|people|person|transactions|charges|payments|orders|of them|am|pm|o'clock|nights?|"
    r"(?!(?:has|was|is|this|plus|less|thus|yes|us|as)\b)[a-z]+s\b(?<!pounds)(?<!euros)(?<!dollars)|st\b|nd\b|rd\b|th\b|in\b|inch|ft|feet|watts?|w\b|v\b)")
THRESHOLD_BEFORE = re.compile(r"(?:over|above|under|below|orders of|spend|spent over|up to|from|after|before|by|at|refund|refunded|"
                              r"difference of|difference|off|discount|save|saved|saving|extra|another|plus|only|just|"
                              r"nw|order|#|no\.?|number|ref|reference|code|size|age|aged|under-?)\s*[£$€]?\s*$")
AMOUNT_NOT_CHARGE = re.compile(r"\s*(?:back|off|discount|cheaper|less|difference|refund\w*|credit|voucher|gift card|"
                               r"delivery|shipping|postage|p&p|fee|each|per|a month|a week|/month|/mo)\b")
NUMBER_WORDS = {"three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
                "twenty": 20, "hundred": 100, "a hundred": 100, "fifty": 50}
TIMES_PRICE = re.compile(r"\b(?P<n>\d+|three|four|five|six|seven|eight|nine|ten|twenty|fifty|a hundred|hundred)\s*(?:x|times)\s+"
                         r"(?:the |what |my |more than )?(?:price|amount|cost|total|order|it should|it cost|what it|i (?:paid|ordered|expected))")
CHARGED_N_TIMES = re.compile(r"\b(?:charged|billed|debited|taken|took|paid)\b[^.?!]{0,25}?\b(?P<n>three|four|five|six|seven|eight|"
                             r"nine|ten|\d+)\s+times\b(?!\s+the)")
TOO_OFTEN = re.compile(r"\bevery (?:day|week|month|fortnight) (?:instead of|rather than|when it should be|not) (?:just )?"
                       r"(?:once |one )?(?:a |per |each )?(?:week|month|year|annually|yearly|quarter)")  # 12x a yearly fee
# a one-off fee taken again and again ("paid for the freight delivery once but it's being charged every month")
ONE_OFF_REPEATED = re.compile(r"\b(?:once|one[- ]off|one[- ]time|single)\b[^.?!]{0,60}?\b(?:charged|billed|taken|charging|billing|"
                              r"debited|taking)\b[^.?!]{0,20}?\bevery (?:month|week|day|fortnight)\b")
# the shop paid the customer too much: a refund twice, an overpayment to give back
OVERPAID = re.compile(r"\b(?:refund\w*|money back|credit\w*)\b[^.?!]{0,30}?\b(?:came|arrived|went through|landed|"
                      r"(?:was|were|has been|have been|got) (?:paid|processed|issued|sent)) twice\b|\b(?:refunded|paid|credited) me (?:\w+ ){0,2}(?:twice|too much|double)\b"
                      r"|\b(?:you've|you have|you) (?:over ?paid|overrefunded|over-refunded)\b|\boverpaid me\b")
COUNT = r"(\d+|one|two|three|four|five|six|seven|eight|nine|ten)"
RETURNED_COUNT = re.compile(r"\b(?:returned|sent back|posted back)\s+(?:all\s+)?" + COUNT + r"\b")
REFUNDED_COUNT = re.compile(r"\b(?:refunded|credited|reimbursed|paid back|money back)\s+(?:only\s+|just\s+)?for\s+(?:only\s+|just\s+)?" + COUNT + r"\b")
# everything sent back, money back for a part ("sent back the whole 6-piece set and got money back for one chair")
PART_REFUNDED = re.compile(r"\b(?:sent back|returned|posted back)\b[^.?!]{0,20}?\b(?:the whole|the full|the entire|all|everything|both|"
                           r"every)\b[^.?!]{0,50}?\b(?:refund\w*|money back|credited|reimbursed|paid back)\b[^.?!]{0,10}?"
                           r"\b(?:for|on) (?:only |just )?(?:one|1|a single|half|part|some)\b")
BIG_WORDS = re.compile(r"\b(?:four|five|six|4|5|6)[- ]figure\b|\b(?:massive|huge|enormous|insane|crazy|ridiculous|astronomical|extortionate) (?:charge|amount|payment|bill|"
                       r"sum|debit|transaction)|\b(?:charged|billed|taken|took|debited|paid)\b[^.?!]{0,20}\bthousands\b|"
                       r"\bthousands? (?:of (?:pounds|euros|dollars) )?(?:for|on|from|out)\b")


def _amounts(text: str) -> list[float]:
    out: list[float] = []
    for m in AMOUNT.finditer(text):
        raw = m.group("a") or m.group("b")
        dec = m.group("d") or m.group("e") or m.group("e2")
        value = float(_digits(raw) + ("." + dec if dec else ""))
        if m.group("k") or m.group("k2"):
            value *= 1000
        if not m.group("cur"):
            if THRESHOLD_BEFORE.search(text[max(0, m.start() - 16):m.start()]):
                continue
            if not m.group("unit") and NOT_MONEY_AFTER.match(text, m.end()):
                continue
            if 1900 <= value <= 2100 and not dec and "," not in raw and re.search(r"\b(?:in|since|of|year)\s*$", text[:m.start()]):
                continue  # a year
        elif THRESHOLD_BEFORE.search(text[max(0, m.start() - 16):m.start()]):
            continue
        if AMOUNT_NOT_CHARGE.match(text, m.end()):
            continue  # "get the €20 back", "£5 off", "4.99 delivery"
        if value > 0:
            out.append(value)
    return out


def money_frame(text: str) -> tuple[float, str] | None:
    """A charge far above the expected amount (the routine double charge is not one)."""
    t = text.lower()
    m = TIMES_PRICE.search(t)
    if m:
        n = NUMBER_WORDS.get(m.group("n")) or int(m.group("n")) if m.group("n").isdigit() else NUMBER_WORDS.get(m.group("n"), 0)
        if n >= 3 and money_verb(t):
            return 1.0, m.group(0)
    amounts = _amounts(t)
    if len(amounts) >= 2 and money_verb(t) and not (PRICE_LIST.search(t) and not CONTRAST.search(t)):
        hi, lo = max(amounts), min(amounts)
        if lo >= 1 and hi / lo >= 2.9:
            return min(1.0, 0.75 + 0.05 * math.log10(hi / lo) * 5), f"{_fmt(hi)} against {_fmt(lo)}"
    short = short_refund(t)
    if short:
        return short
    m = TOO_OFTEN.search(t)
    if m and money_verb(t):
        return 0.8, m.group(0)
    m = CHARGED_N_TIMES.search(t)
    if m:
        n = NUMBER_WORDS.get(m.group("n"), 0) if not m.group("n").isdigit() else int(m.group("n"))
        if n >= 3:
            return 0.8, m.group(0)
    for frame in (ONE_OFF_REPEATED, OVERPAID, PART_REFUNDED):
        m = frame.search(t)
        if m:
            return 0.8, m.group(0)
    sent, back = RETURNED_COUNT.search(t), REFUNDED_COUNT.search(t)
    if sent and back and _count(back.group(1)) < _count(sent.group(1)):  # "returned 3 ... refunded for 2"
        return 0.8, f"{sent.group(0)} … {back.group(0)}"
    m = BIG_WORDS.search(t)
    if m:
        return 0.8, m.group(0)
    return None


def largest_sum(text: str) -> float:
    """The largest sum of money the message names with a currency sign or word ("€530", "640 euro",
    "900 quid"), 0 when it names none. Bare numbers are not counted: an order number or a size is not money."""
    out = [0.0]
    for m in AMOUNT.finditer(text.lower()):
        raw = m.group("a") or m.group("b")
        if m.group("cur") or (m.group("unit") and m.group("unit").strip() != "p"):
            dec = m.group("d") or m.group("e") or m.group("e2")
            out.append(float(_digits(raw) + ("." + dec if dec else "")) * (1000 if m.group("k") or m.group("k2") else 1))
    return max(out)


def money_verb(t: str) -> bool:
    """The message speaks of paying or being charged, in English, German or French."""
    return bool(MONEY_VERB.search(t) or MONEY_DE_FR.search(t))


def _digits(raw: str) -> str:
    """The number without its thousands separators."""
    return re.sub(r"[,\s]", "", raw)


def _count(word: str) -> int:
    return int(word) if word.isdigit() else NUMBER_WORDS.get(word, 1 if word == "one" else 2 if word == "two" else 0)


PRICE_LIST = re.compile(r"\b(?:a|an|the|one)\s+[£$€]?\d[\d,.]*\s+[a-z]+(?:\s[a-z]+)?,?\s+(?:and|&|plus)\s+(?:a|an|the|one)\s+[£$€]?\d")  # "a £300 sofa and a £40 lamp"
CONTRAST = re.compile(r"\b(?:instead|but|should|not|only|expected|expecting|supposed|rather|meant)\b|n't\b")
REFUND_CTX = re.compile(r"\b(?:refund\w*|got (?:back|only)|credited|(?:money|pounds?|euros?|dollars?|quid) back|paid back|reimburs\w*"
                        r"|zurückbekommen|zurück bekommen|erstattet|rückerstattung|gutgeschrieben|rembours\w*)\b")
RETURNED_CTX = re.compile(r"\b(?:returned|return(?:ing)?|sent (?:\w+ )?back|worth|paid|cost|spent|out of|order(?:ed)? (?:was|of|for)"
                          r"|zurückgeschickt|zurückgesendet|retourné\w*|renvoyé\w*|payé\w*|bezahlt)\b")
NOT_THE_ITEM = re.compile(r"\s*(?:delivery|shipping|postage|p&p|fee|each|per|a month|/month)\b")


def short_refund(t: str) -> tuple[float, str] | None:
    """A refund a fraction of what was returned ("refund was 12 euros but I returned 240 euros worth"):
    both amounts written as money (a currency sign or word), at least 3x apart."""
    if not (REFUND_CTX.search(t) and RETURNED_CTX.search(t)) or (PRICE_LIST.search(t) and not CONTRAST.search(t)):
        return None
    values = []
    for m in AMOUNT.finditer(t):
        raw = m.group("a") or m.group("b")
        if (m.group("cur") or m.group("unit") or t.startswith(" worth", m.end())) and not NOT_THE_ITEM.match(t, m.end()):
            dec = m.group("d") or m.group("e") or m.group("e2")
            values.append(float(_digits(raw) + ("." + dec if dec else "")))
    values = [v for v in values if v >= 1]
    if len(values) >= 2 and max(values) / min(values) >= 3:
        return 0.8, f"refund {_fmt(min(values))} against {_fmt(max(values))}"
    return None


def _fmt(x: float) -> str:
    return f"{x:,.2f}".rstrip("0").rstrip(".")


# ---------------------------------------------------------------------------------- money disputes
# two sums, one of them the agreed or expected one ("invoice shows €4,800. agreed quote was €3,480", "asking me
# for 2,300 euros for an order of 230", "supposed to be the full 312 but I got 31.20"): closer than the 2.9x of
# an overcharge, but still a figure someone has to check against the order
AGREED = re.compile(r"\b(?:agreed|quote[ds]?|quoted|supposed to|should (?:have been|be)|instead of|expected|for an order of|"
                    r"on an order of|the full|(?:was|were) promised|but (?:i )?(?:only )?(?:got|received|was charged|paid))\b")
BILLED = re.compile(r"\b(?:invoice[ds]?|bill|billed|statement|charged|charging|charge|asking (?:me )?for|asked (?:me )?for|"
                    r"debited|took|taken|refund\w*|got|received|paid)\b")
DISPUTES = (
    # a refund or compensation promised long ago that has not come
    re.compile(r"\b(?:refund|compensation|credit|money)\b[^?!]{0,40}?\b(?:approved|confirmed|promised|agreed|authori[sz]ed|"
               r"processed|issued|sent)\b[^?!]{0,40}?\b(?:\d+|two|three|four|five|six|several|a few) (?:weeks?|months?) ago\b"
               r"[^?!]{0,40}?\b(?:still|not|hasn't|never|no sign)\b"),
    re.compile(r"\b(?:was|were|been) promised\b[^?!]{0,30}?\b(?:compensation|a refund|refund|a credit|money back|goodwill)\b"),
    re.compile(r"\bwhere (?:has|have|did) (?:the|my) (?:money|refund|payment) (?:gone|go)\b"),
    # a fee the shop's own terms waive
    re.compile(r"\b(?:charged|paid|billed|added|took|taken)\b[^?!]{0,40}?\b(?:delivery|shipping|postage)\b[^?!]{0,60}?"
               r"\b(?:says|said|supposed to be|should be|meant to be|advertised as|advertises|is) free\b"),
    # a return paid back by half, or refused as used
    re.compile(r"\bonly (?:gave|got|refunded|paid|credited) (?:me |us )?(?:back )?(?:half|part)\b"),
    re.compile(r"\b(?:marked|classed|graded)\b(?: [\w']+){0,3}? (?:as )?'?(?:used|worn)'?\b[^?!]{0,60}?\b(?:never|not even|unopened|unused|sealed)\b"),
    # two plans billed at once
    re.compile(r"\bbilled for\b[^.?!]{0,30}?\b(?:monthly|twice)\b[^.?!]{0,10}?\band (?:yearly|annual|annually)\b"),
)


def money_dispute(t: str) -> tuple[float, str] | None:
    """A dispute over money that someone must look into; t is normalised and lower-cased."""
    amounts = [a for a in _amounts(t) if a >= 1]
    if len(amounts) >= 2 and AGREED.search(t) and BILLED.search(t) and not (PRICE_LIST.search(t) and not CONTRAST.search(t)):
        hi, lo = max(amounts), min(amounts)
        if hi / lo >= 1.15:
            return 0.8, f"{_fmt(hi)} against {_fmt(lo)}"
    for frame in DISPUTES:
        m = frame.search(t)
        if m:
            return 0.8, m.group(0)
    return None
