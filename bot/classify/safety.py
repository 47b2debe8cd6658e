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
  the routine double_charged intent and is *not* a hit; an unexplained charge is
  (bot/classify/safety_money.py).
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

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Iterable, Sequence

from bot.classify.safety_model import MEANING_MIN_WORDS, Encoder, MeaningModel, WordModel, train_words
from bot.classify.safety_cues import (  # the concept words and cues
    BODY, CHILD_CTX, CHILD_HARM, CLAUSE_BREAK, CONTACT, COSMETIC, CUES, DEVICE, DEVICE_SWELLING, FIGURATIVE, FOOD, HEAT,
    NEGATORS, SURPRISE, family,
)
from bot.classify.safety_cues_defr import ACCOUNT_DE_FR, CUES_DE_FR  # the German and French words
from bot.classify.safety_money import money_dispute, money_frame, money_verb  # the money frames

CATEGORIES = (
    "injury", "burn", "electric_shock", "fire", "child_or_pet", "allergic_reaction", "food_poisoning",
    "legal_threat", "fraud", "unauthorized_charge", "account_takeover", "bereavement",
    "financial_hardship", "large_overcharge", "money_dispute", "distress", "self_harm",
)
LABELS = {
    "injury": "injury", "burn": "burn", "electric_shock": "electric shock", "fire": "fire or smoke",
    "child_or_pet": "child or pet harmed", "allergic_reaction": "allergic reaction",
    "food_poisoning": "food poisoning", "legal_threat": "legal threat", "fraud": "fraud",
    "unauthorized_charge": "unauthorised charge", "account_takeover": "account takeover",
    "bereavement": "bereavement", "financial_hardship": "financial hardship",
    "large_overcharge": "large overcharge or short refund",
    "money_dispute": "money dispute (an amount other than agreed, a promised refund missing)", "distress": "distress", "self_harm": "self-harm risk",
}


@dataclass(frozen=True)
class SafetyHit:
    category: str  # one of CATEGORIES
    why: str  # readable, e.g. "electric shock: 'gave me a shock'"
    score: float  # 0..1
    by_meaning: bool = False  # the model by meaning alone found it (no word cue or frame)


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
        "injury", "account_takeover", "fraud", "unauthorized_charge", "large_overcharge", "money_dispute", "legal_threat",
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

        for c in CUES + CUES_DE_FR:  # a strong cue counts once; weak ones count per distinct term, up to two
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
        elif dispute := money_dispute(masked):
            add("money_dispute", 1.0, dispute[1])
        self._context(masked, scores)
        hits = {c: s for c, s in scores.items() if s >= 1.0}
        note = ""
        if self.meaning is not None and len(re.findall(r"[a-z']+", t)) >= MEANING_MIN_WORDS:
            reading = self.meaning.read(text[:MEANING_CHARS])
            if not hits and reading.p_harm >= MEANING_STRONG and len(re.findall(r"[a-z']+", t)) >= MEANING_CASE_WORDS:
                hits = {reading.category: 1.0}
                evidence[reading.category] = f"by meaning, {reading.p_harm:.2f}"
                alone = True
            elif not hits and reading.p_harm >= MEANING_WEAK and (agree := _agreeing_cue(scores, reading.category)):
                hits = {agree: 1.0}  # a weak cue and the reading by meaning say the same kind of thing
                evidence[agree] = f"{evidence.get(agree, '')}, and by meaning {reading.p_harm:.2f}"
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
        if "unauthorized_charge" in scores and not money_verb(t):
            scores["unauthorized_charge"] = 0.5
        if "account_takeover" in scores and not re.search(r"\b(?:account|acount|accout|acct|password|login|log ?in|logged|email|e-mail|details"
                                                          r"|device|profile|username|sign(?:ed)? in|two[- ]factor|2fa|code)\b", t) \
                and not ACCOUNT_DE_FR.search(t):
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


def _agreeing_cue(scores: dict[str, float], category: str) -> str | None:
    """The category of a weak cue (a score of 0.5 or more, under a hit) of the life family (distress, self-harm,
    hardship, bereavement: bot/classify/safety_cues.py CUE_FAMILY) when the reading by meaning is of that family
    too: "won't be around" and a distress reading of 0.4 are one signal heard twice. None when no cue agrees."""
    if family(category) != "life":
        return None  # a weak harm word ("crushed", "buzzes") is mostly damage; only the life family is said this indirectly
    same = [c for c, s in scores.items() if 0.5 <= s < 1.0 and family(c) == "life"]
    if not same:
        return None
    return category if category in same else max(same, key=lambda c: scores[c])
