"""Safety and money cases found by meaning: the detector the policy routes to a person.

bot/pipeline/signals.py keeps CRITICAL_PHRASES as the backstop; this module looks for the *concept* behind
a message instead of a fixed phrase, so wordings nobody wrote down still count:

* concept frames: a harm or symptom term (shock, scald, blister, swelled, rash, choked, sparks,
  caught fire, A&E, vomiting...) found together with what makes it a real event (a body part, a
  child or pet, a product in use, a cosmetic, food). Every term is matched in all its inflections
  ("swell" also matches swells/swelled/swelling/swollen), so one entry covers the word's forms.
* negation: a cue preceded by no/not/never/nobody/"no one"/without within its clause does not
  count ("no one was hurt", "it didn't catch fire", "not a fire hazard question").
* a money frame: two amounts where the charge is at least ~3x the expected one ("900 instead of
  90"), "ten times the price", a charge called huge/massive. A duplicate charge of the order is
  the routine double_charged intent and is *not* a hit; an unexplained charge is.
* hardship, bereavement, distress and self-harm cues, with strong cues alone and weak ones
  ("can't pay", "struggling", "crying") counting only in pairs.
* a model by meaning (bot/classify/safety_model.py): a logistic head on the sentence encoder's vectors,
  trained on bot/classify/safety_examples.yaml against the shop's routine examples. On its own it makes a
  hit at p >= MEANING_STRONG and a weak concern from MEANING_WEAK; a frame hit stands whatever it
  reads. Without the encoder package a TF-IDF word model takes its place, and may only confirm
  weak cues.

Offline and deterministic; the frames take well under a millisecond, the model one encoder pass
(shared with the classifier: the encoder remembers the message).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Iterable, Sequence

from bot.classify.safety_model import MEANING_MIN_WORDS, Encoder, MeaningModel, WordModel, train_words
from bot.classify.safety_cues import (  # the concept words and cues
    BODY, CHILD_CTX, CHILD_HARM, CLAUSE_BREAK, CONTACT, COSMETIC, CUES, DEVICE, DEVICE_SWELLING, FIGURATIVE, FOOD, HEAT, MONEY_VERB,
    NEGATORS, SURPRISE,
)

CATEGORIES = (
    "injury", "burn", "electric_shock", "fire", "child_or_pet", "allergic_reaction", "food_poisoning",
    "legal_threat", "fraud", "unauthorized_charge", "account_takeover", "bereavement",
    "financial_hardship", "large_overcharge", "distress", "self_harm",
)
LABELS = {
    "injury": "injury", "burn": "burn", "electric_shock": "electric shock", "fire": "fire or smoke",
    "child_or_pet": "child or pet harmed", "allergic_reaction": "allergic reaction",
    "food_poisoning": "food poisoning", "legal_threat": "legal threat", "fraud": "fraud",
    "unauthorized_charge": "unauthorised charge", "account_takeover": "account takeover",
    "bereavement": "bereavement", "financial_hardship": "financial hardship",
    "large_overcharge": "large overcharge or short refund", "distress": "distress", "self_harm": "self-harm risk",
}


@dataclass(frozen=True)
class SafetyHit:
    category: str  # one of CATEGORIES
    why: str  # readable, e.g. "electric shock: 'gave me a shock'"
    score: float  # 0..1
    by_meaning: bool = False  # the model by meaning alone found it (no word cue or frame)


# ---------------------------------------------------------------------------------------- money

AMOUNT = re.compile(
    r"(?P<cur>[£$€])\s?(?P<a>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<d>\d{1,2}))?(?P<k>k\b)?"
    r"|(?<![\w#/-])(?P<b>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<e>\d{1,2}))?(?P<k2>k\b)?(?![\w/-]|x\d|\.\d)"
    r"(?P<unit>\s*(?:pounds?|quid|euros?|dollars?|gbp|eur|usd|p\b))?")
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
        dec = m.group("d") or m.group("e")
        value = float(raw.replace(",", "") + ("." + dec if dec else ""))
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
        if n >= 3 and MONEY_VERB.search(t):
            return 1.0, m.group(0)
    amounts = _amounts(t)
    if len(amounts) >= 2 and MONEY_VERB.search(t) and not (PRICE_LIST.search(t) and not CONTRAST.search(t)):
        hi, lo = max(amounts), min(amounts)
        if lo >= 1 and hi / lo >= 2.9:
            return min(1.0, 0.75 + 0.05 * math.log10(hi / lo) * 5), f"{_fmt(hi)} against {_fmt(lo)}"
    short = short_refund(t)
    if short:
        return short
    m = TOO_OFTEN.search(t)
    if m and MONEY_VERB.search(t):
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


def _count(word: str) -> int:
    return int(word) if word.isdigit() else NUMBER_WORDS.get(word, 1 if word == "one" else 2 if word == "two" else 0)


PRICE_LIST = re.compile(r"\b(?:a|an|the|one)\s+[£$€]?\d[\d,.]*\s+[a-z]+(?:\s[a-z]+)?,?\s+(?:and|&|plus)\s+(?:a|an|the|one)\s+[£$€]?\d")  # "a £300 sofa and a £40 lamp"
CONTRAST = re.compile(r"\b(?:instead|but|should|not|only|expected|expecting|supposed|rather|meant)\b|n't\b")
REFUND_CTX = re.compile(r"\b(?:refund\w*|got (?:back|only)|credited|(?:money|pounds?|euros?|dollars?|quid) back|paid back|reimburs\w*)\b")
RETURNED_CTX = re.compile(r"\b(?:returned|return(?:ing)?|sent (?:\w+ )?back|worth|paid|cost|spent|out of|order(?:ed)? (?:was|of|for))\b")
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
            dec = m.group("d") or m.group("e")
            values.append(float(raw.replace(",", "") + ("." + dec if dec else "")))
    values = [v for v in values if v >= 1]
    if len(values) >= 2 and max(values) / min(values) >= 3:
        return 0.8, f"refund {_fmt(min(values))} against {_fmt(max(values))}"
    return None


def _fmt(x: float) -> str:
    return f"{x:,.2f}".rstrip("0").rstrip(".")


# ------------------------------------------------------------------------------------- negation

def _negated(text: str, start: int) -> bool:
    """A negator in the clause just before position start ("no one was hurt", "didn't catch fire")."""
    window = text[max(0, start - 40):start]
    brk = None
    for brk in CLAUSE_BREAK.finditer(window):
        pass
    if brk is not None:
        window = window[brk.end():]
    words = re.findall(r"[a-z']+", window)[-3:]
    if any(w in NEGATORS or w.endswith("n't") for w in words):
        return True
    return bool(re.search(r"\bno ?one\b|\bno-one\b|\bnot even\b", window))


@lru_cache(maxsize=1)
def load_examples() -> dict[str, list[str]]:
    """Positives per category from bot/classify/safety_examples.yaml."""
    import yaml
    text = resources.files("bot.classify").joinpath("safety_examples.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text) or {}
    cats = raw.get("categories", {})
    return {c: [str(e) for e in (cats.get(c) or [])] for c in CATEGORIES if cats.get(c)}


@lru_cache(maxsize=1)
def load_routine() -> tuple[str, ...]:
    """Alarming-sounding routine messages from bot/classify/safety_examples.yaml (extra negatives for the model)."""
    import yaml
    text = resources.files("bot.classify").joinpath("safety_examples.yaml").read_text(encoding="utf-8")
    return tuple(str(e) for e in ((yaml.safe_load(text) or {}).get("routine") or []))


# ------------------------------------------------------------------------------------- detector

PRIORITY = {  # when two categories are equally strong, the first here names the hit
    c: i for i, c in enumerate((
        "self_harm", "electric_shock", "fire", "food_poisoning", "child_or_pet", "allergic_reaction", "burn",
        "injury", "account_takeover", "fraud", "unauthorized_charge", "large_overcharge", "legal_threat",
        "bereavement", "financial_hardship", "distress"))
}
MODEL_MIN = 0.85  # the word model's probability needed to confirm weak cues
MEANING_STRONG = 0.5  # the model by meaning alone: a safety case (a person), whatever the classifier says
MEANING_WEAK = 0.3  # ...a possible concern (a person when the classifier cannot place the message)
# a case by meaning alone needs a sentence: under this many words the reading is only a concern ("i dont have
# it on me", answering "what is your order number?", read 0.55-0.66 harm; on the nine routing sets the only
# other such hits were small talk and "put me through to a manager", which the wants-a-person rule takes)
MEANING_CASE_WORDS = 7
# A crisis tucked into a routine request ("nobody would even notice if I was gone. anyway can you cancel
# my box") is diluted in the whole message's embedding (0.15) but plain in its own sentence (0.86): a
# message of several sentences has each one read too, for self-harm only (a sentence of venting, "it has
# been a long and tiring week for me.", reads as distress 0.80), at a higher bar, on the probability of
# self-harm itself (that sentence is 0.85 some harm but 0.59 self-harm; "nobody would notice if I was gone", 0.80).
SENTENCE_CATEGORIES = frozenset({"self_harm"})
SENTENCE_STRONG = 0.7
SENTENCE_MIN_WORDS = 5
SENTENCE_SPLIT = re.compile(r"(?<=[.!?;])\s+|\n+")
MEANING_CHARS = 4000  # the classifier's cut too (bot/classify/local.py), so the encoder's memory serves both


def _normalise(text: str) -> str:
    t = text.lower().replace("’", "'").replace("‘", "'").replace("`", "'")
    t = re.sub(r"\bcan not\b", "cannot", t)
    t = re.sub(r"\b(i|you|we|they|he|she|it)m\b", r"\1'm", t)
    t = re.sub(r"\b(dont|cant|didnt|doesnt|wont|isnt|wasnt|havent|couldnt)\b",
               lambda m: m.group(1)[:-1] + "'t" if m.group(1) != "cant" else "can't", t)
    return re.sub(r"\s+", " ", t)


class SafetyDetector:
    """Finds safety, money and vulnerability cases by meaning. Build once, check every message."""

    def __init__(self, model: WordModel | None = None, meaning: MeaningModel | None = None) -> None:
        self.model = model  # words: may confirm weak cues (the light install, no encoder)
        self.meaning = meaning  # embeddings: finds cases by meaning on its own

    @classmethod
    def build(cls, negatives: Sequence[str] = (), use_model: bool = True, *, encoder: Encoder | None = None,
              cache_dir: str | None = None) -> "SafetyDetector":
        """negatives: the shop's routine and off-topic examples (not the critical intents'); encoder:
        the sentence encoder (bot.classify.safety_model.encoder_or_none()) for the model by meaning."""
        if not use_model or not negatives:
            return cls()
        negs = list(negatives) + list(load_routine())
        if encoder is not None:
            fixed = [e for ex in load_examples().values() for e in ex] + list(load_routine())
            return cls(meaning=MeaningModel.train(load_examples(), negs, encoder, cache_dir, fixed=fixed))
        try:
            return cls(model=train_words(load_examples(), negs))
        except Exception:  # noqa: BLE001 - the frames work without the model
            return cls()

    def check(self, text: str, weak: bool = False) -> SafetyHit | None:
        """A safety or money case (score >= 0.55), or None. With `weak`, a message that has only weak
        cues (one "sparked", "swollen", "smells of burning" without the context that confirms it) comes
        back as a hit with a score under 0.5: a possible concern, for messages the bot cannot place."""
        if not text or not text.strip():
            return None
        t = _normalise(text[:2000])
        masked = FIGURATIVE.sub(" ", t)
        masked = SURPRISE.sub(" ", masked)
        masked = DEVICE_SWELLING.sub(r"\1bulging", masked)
        scores: dict[str, float] = {}
        evidence: dict[str, str] = {}
        alone = False  # the hit is the model by meaning's alone

        def add(cat: str, weight: float, phrase: str) -> None:
            if weight > scores.get(cat, 0.0) or cat not in evidence:
                evidence.setdefault(cat, phrase)
                if weight >= 1.0 and scores.get(cat, 0.0) < 1.0:
                    evidence[cat] = phrase
            scores[cat] = scores.get(cat, 0.0) + weight

        for c in CUES:  # a strong cue counts once; weak ones count per distinct term, up to two
            seen: set[str] = set()
            for m in c.rx.finditer(masked):
                term = m.group(0).strip()
                if term in seen or (c.negatable and _negated(masked, m.start())):
                    continue
                seen.add(term)
                add(c.category, c.weight, term)
                if c.weight >= 1.0 or len(seen) >= 2:
                    break
        # child or pet: a harm word in a message about a child or pet
        child = CHILD_CTX.search(masked)
        if child:
            for m in CHILD_HARM.finditer(masked):
                if not _negated(masked, m.start()):
                    add("child_or_pet", 1.0, f"{child.group(0)} … {m.group(0)}")
                    break
        money = money_frame(masked)
        if money:
            add("large_overcharge", 1.0, money[1])
        self._context(masked, scores)
        hits = {c: s for c, s in scores.items() if s >= 1.0}
        note = ""
        if self.meaning is not None and len(re.findall(r"[a-z']+", t)) >= MEANING_MIN_WORDS:
            reading = self.meaning.read(text[:MEANING_CHARS])
            if not hits and reading.p_harm >= MEANING_STRONG and len(re.findall(r"[a-z']+", t)) >= MEANING_CASE_WORDS:
                hits = {reading.category: 1.0}
                evidence[reading.category] = f"by meaning, {reading.p_harm:.2f}"
                alone = True
            elif (not hits and reading.p_harm >= MEANING_WEAK and reading.p_harm / 2 > scores.get(reading.category, 0)
                  and len(re.findall(r"[a-z']+", t)) > MEANING_MIN_WORDS):  # a weak reading of three words is noise
                scores[reading.category] = reading.p_harm / 2 + 0.01
                evidence[reading.category] = f"by meaning, {reading.p_harm:.2f}"
            if not hits:
                hits = self._sentence_hit(self.meaning, text[:MEANING_CHARS], evidence)
                alone = bool(hits)
        elif not hits and self.model is not None and scores:  # weak cues only: the word model may confirm them
            p = self.model.probability(t)
            if p >= MODEL_MIN:
                cat = max(scores, key=lambda c: (scores[c], -PRIORITY[c]))
                hits = {cat: scores[cat] + 0.5}
                note = f" (model {p:.2f})"
        if not hits:
            if not weak or not scores:
                return None
            cat = max(scores, key=lambda c: (scores[c], -PRIORITY[c]))
            return SafetyHit(cat, f"possible {LABELS[cat]}: '{evidence.get(cat, '')}'", round(min(0.45, scores[cat] / 2), 2))
        best = min(hits, key=PRIORITY.__getitem__)
        score = round(min(1.0, 0.55 + 0.3 * min(hits[best], 1.5)), 2)
        return SafetyHit(best, f"{LABELS[best]}: '{evidence.get(best, '')}'{note}", score, by_meaning=alone)

    def _sentence_hit(self, meaning: MeaningModel, text: str, evidence: dict[str, str]) -> dict[str, float]:
        """A self-harm sentence inside a longer message, read sentence by sentence."""
        sentences = [p for p in SENTENCE_SPLIT.split(text) if len(re.findall(r"[A-Za-z']+", p)) >= SENTENCE_MIN_WORDS]
        if len(sentences) < 2:
            return {}
        for sentence, r in zip(sentences, meaning.read_all(sentences)):
            if r.category in SENTENCE_CATEGORIES and r.p_category >= SENTENCE_STRONG:
                evidence[r.category] = f"by meaning of '{sentence[:60]}', {r.p_category:.2f}"
                return {r.category: 1.0}
        return {}

    @staticmethod
    def _context(t: str, scores: dict[str, float]) -> None:
        """Move a generic harm to the category its context names (a cosmetic rash, a kettle blister)."""
        if 0.5 <= scores.get("electric_shock", 0) < 1.0 and DEVICE.search(t) and CONTACT.search(t):
            scores["electric_shock"] += 0.5
        skin = scores.get("allergic_reaction", 0.0)
        if 0 < skin < 1.0 and COSMETIC.search(t):
            scores["allergic_reaction"] = skin + 0.5
        burn = scores.get("burn", 0.0)
        if 0 < burn < 1.0 and HEAT.search(t) and (re.search(r"\b" + BODY + r"\b", t) or re.search(r"blister|welt", t)):
            scores["burn"] = burn + 0.5
        if scores.get("allergic_reaction", 0) >= 1.0 and scores.get("burn", 0) >= 1.0:
            if COSMETIC.search(t) and not HEAT.search(t):
                scores["burn"] = 0.9
            elif HEAT.search(t):
                scores["allergic_reaction"] = 0.9
        food = scores.get("food_poisoning", 0.0)
        if food and not FOOD.search(t) and food < 1.5:
            scores["food_poisoning"] = min(food, 0.6)  # "been sick" with nothing eaten is not food poisoning
        if 0 < scores.get("food_poisoning", 0) < 1.0 and FOOD.search(t) and scores.get("food_poisoning", 0) >= 0.55 \
                and re.search(r"\b(?:sick|ill|poorly|unwell|vomit\w*|stomach|cramps|rancid)\b", t):
            scores["food_poisoning"] += 0.5
        if "unauthorized_charge" in scores and not MONEY_VERB.search(t):
            scores["unauthorized_charge"] = 0.5
        if "account_takeover" in scores and not re.search(r"\b(?:account|acount|accout|acct|password|login|log ?in|logged|email|e-mail|details"
                                                          r"|device|profile|username|sign(?:ed)? in|two[- ]factor|2fa|code)\b", t):
            scores["account_takeover"] = min(scores["account_takeover"], 0.5)
        if scores.get("fraud", 0) >= 1.0 and scores.get("unauthorized_charge", 0) >= 1.0:
            scores["unauthorized_charge"] = 0.9 if re.search(r"\b(?:card|scam\w*|fake|stolen|clon\w*|identity|phishing)\b", t) \
                else scores["unauthorized_charge"]
            if scores["unauthorized_charge"] >= 1.0:
                scores["fraud"] = 0.9


def routine_examples(intents: Iterable[tuple[str, bool, Sequence[str]]]) -> list[str]:
    """The negatives for build(): examples of the intents that are not critical, from (name, critical, examples)."""
    out: list[str] = []
    for _name, critical, examples in intents:
        if not critical:
            out.extend(examples)
    return out
