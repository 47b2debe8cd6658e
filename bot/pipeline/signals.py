"""Signals beyond the intent: emotion, wants-a-human, safety, repeat contact, urgency, complexity, gibberish.

A small lexicon with intensities, negation ("not happy"), shouting (CAPS) and "!!!"
boosts. Deterministic and offline, so the policy can rely on it for every message.
"""

from __future__ import annotations

import re
from typing import Callable, Protocol

from bot.history import History, history_from  # noqa: F401 - history_from is also imported from here
from bot.messages import Classification, Signals
from bot.settings import Settings
from bot.classify.safety_model import MEANING_MIN_WORDS
from bot.classify.safety_cues_defr import EMOTION_DE_FR, WANTS_HUMAN_DE_FR, WHOLE_WORD_DE_FR
from bot.classify.safety_money import largest_sum

# word -> (intensity 0..1, label). Stems match by prefix ("furious" matches "furiously").
LEXICON: dict[str, tuple[float, str]] = {
    "furious": (0.95, "anger"), "livid": (0.95, "anger"), "outraged": (0.9, "anger"),
    "outrageous": (0.85, "anger"), "disgusting": (0.85, "anger"), "disgrace": (0.85, "anger"),
    "unacceptable": (0.8, "anger"), "ridiculous": (0.75, "anger"), "pathetic": (0.8, "anger"),
    "useless": (0.7, "anger"), "incompetent": (0.85, "anger"), "scam": (0.85, "anger"),
    "scammer": (0.9, "anger"), "rip off": (0.8, "anger"), "ripoff": (0.8, "anger"),
    "joke": (0.5, "anger"), "angry": (0.8, "anger"), "mad": (0.6, "anger"), "hate": (0.8, "anger"),
    "worst": (0.8, "anger"), "terrible": (0.7, "anger"), "horrible": (0.75, "anger"),
    "awful": (0.7, "anger"), "shameful": (0.8, "anger"), "wtf": (0.8, "anger"),
    "damn": (0.6, "anger"), "crap": (0.65, "anger"), "shit": (0.8, "anger"), "fuck": (0.95, "anger"),
    "never again": (0.75, "anger"), "sick of": (0.75, "frustration"), "fed up": (0.75, "frustration"),
    "frustrated": (0.7, "frustration"), "frustrating": (0.7, "frustration"),
    "annoyed": (0.6, "frustration"), "annoying": (0.55, "frustration"),
    "disappointed": (0.6, "frustration"), "disappointing": (0.6, "frustration"),
    "still waiting": (0.6, "frustration"), "again": (0.25, "frustration"),
    "how many times": (0.75, "frustration"), "third time": (0.7, "frustration"),
    "nobody": (0.45, "frustration"), "no one": (0.45, "frustration"), "ignored": (0.6, "frustration"),
    "unhappy": (0.6, "frustration"), "upset": (0.65, "frustration"), "not happy": (0.6, "frustration"),
    "desperate": (0.8, "distress"), "panic": (0.75, "distress"), "scared": (0.7, "distress"),
    "worried": (0.5, "distress"), "help me please": (0.6, "distress"), "crying": (0.8, "distress"),
    "emergency": (0.7, "distress"), "can't afford": (0.7, "distress"), "cannot afford": (0.7, "distress"),
    "in tears": (0.8, "distress"), "tears": (0.6, "distress"), "stressed": (0.6, "distress"),
    "need help now": (0.7, "distress"), "nowhere to sleep": (0.8, "distress"), "unbelievable": (0.7, "anger"),
    "disgusted": (0.85, "anger"), "wits' end": (0.8, "frustration"), "wits end": (0.8, "frustration"),
    "fuming": (0.85, "anger"), "appalling": (0.8, "anger"), "appalled": (0.8, "anger"),
    "theft": (0.8, "anger"), "thieves": (0.9, "anger"), "thieving": (0.9, "anger"), "cheats": (0.85, "anger"),
    "cheating": (0.7, "anger"), "liars": (0.85, "anger"), "lying to me": (0.8, "anger"),
    "shame on you": (0.85, "anger"), "had enough": (0.75, "frustration"), "excuses": (0.6, "frustration"),
    "treated this badly": (0.8, "anger"), "daylight robbery": (0.85, "anger"), "con artists": (0.9, "anger"),
    # sarcasm: thanks that are not thanks
    "thanks for nothing": (0.85, "anger"), "cheers for nothing": (0.85, "anger"), "oh brilliant": (0.75, "anger"),
    "oh great, another": (0.75, "anger"), "oh fantastic": (0.75, "anger"),
    "what a joke": (0.8, "anger"), "thanks a lot for nothing": (0.85, "anger"),
}
# stems of 3 letters or fewer match whole words only ("mad" is not "made"); longer ones match by prefix
LEXICON.update(EMOTION_DE_FR)
WHOLE_WORD = frozenset(w for w in LEXICON if len(w) <= 3) | WHOLE_WORD_DE_FR
# Words that make a message critical whatever intent the classifier picked (a safety net).
CRITICAL_PHRASES = (
    "solicitor", "lawyer", "attorney", "sue you", "suing", "legal action", "take you to court", "small claims",
    "trading standards", "consumer protection", "ombudsman", "fraud", "unauthorised", "unauthorized",
    "did not make", "didn't make", "never made", "never placed", "didn't place", "did not place", "hacked",
    "never bought",
    "someone logged in", "someone else logged", "changed my password", "gdpr", "delete my data",
    "erase my data", "right to be forgotten", "delete all my data",
)
CRITICAL_RUNNER_UP = 0.2  # a critical intent this likely among the top three counts too
INTENSIFIERS = frozenset({"really", "so", "very", "extremely", "absolutely", "incredibly", "utterly", "totally", "beyond"})
NEGATIONS = {"not", "no", "never", "isn't", "wasn't", "don't", "didn't", "n't", "hardly", "without"}
URGENT = ("urgent", "asap", "immediately", "right now", "emergency", "today!", "as soon as possible")
WANTS_HUMAN = (
    "talk to a human", "talk to a person", "speak to a human", "speak to a person", "real person",
    "real human", "human being", "speak to someone", "talk to someone", "live agent", "an agent",
    "customer service rep", "representative", "operator", "your manager", "a manager", "supervisor",
    "not a bot", "not a robot", "stop the bot", "call me", "phone me", "speak with someone", "talk with someone",
    "speak with a person", "speak with a human", "talk with a person", "actual person", "actual human", "human agent",
    "customer service person", "a person on the phone", "someone on the phone", "reach a person", "reach a human",
    "ring me", "give me a ring", "give me a call", "one of your colleagues", "colleague of yours", "a colleague ring",
    "a colleague call", "member of staff", "member of your team", "someone from your team", "somebody from your team",
    "someone from the team", "somebody from the team", "no more automatic", "not the bot",
)
QUESTION_SPLIT = re.compile(r"\?+|\b(?:and also|also|plus|additionally|as well as)\b", re.I)
COMPLEX_MARKERS = [re.compile(p) for p in (
    r"\bcompar(e|ed|ing|ison)\b", r"\bdifference between\b", r"\bwhich\b[^.?!]{0,40}\b(better|best)\b",
    r"\b(versus|vs\.?)\b", r"\brecommend", r"\bshould i\b", r"\bwhat if\b", r"\bexplain why\b",
    r"\bpros and cons\b", r"\bdepends on\b",
)]
# kinds of trouble a message can tell of; three or more in one story (broken AND charged twice AND
# the refund went wrong) is a case to untangle, not a question with one answer
TROUBLES = [re.compile(p) for p in (
    r"\b(broken|broke|cracked|torn|damaged|faulty|defective|dented|scratched|damp|stained|ripped)\b",
    r"\bwrong\b|\bnot what i ordered\b",
    r"\b(missing|never (arrived|came|turned up)|didn't (arrive|come)|not arrived|only (partly|partially|half)|vanished)\b",
    r"\b(charged|billed|overcharged|refunded|refund|credit note|paid|payment)\b",
    r"\b(returned|return|exchanged|exchange|replacement|sent back)\b",
    r"\b(address|delivered|courier|carrier|parcels?|redelivery|dispatched|shipped)\b",
    r"\b(invoices?|vat|reverse[- ]charge|receipt)\b",
)]
MANY_TROUBLES, STORY_WORDS = 3, 15  # this many kinds of trouble in a message this long: complex
# the complexity reader by meaning judges stories: under this many words a message asks one thing (on the
# seen sets, 3 of 1,293 routine messages of 20+ words read as complex at 0.8, 11 of 15+ words)
MEANING_STORY_WORDS = 20
# the story says an earlier attempt did not settle it ("was told to return and re-buy, did that, now ...",
# "exchanged twice and both times the same size came back"): the canned process already failed, so the
# answer would be the one they had. Only in a story (STORY_WORDS or more): "not again" is a mood.
CHASING = re.compile(
    r"\b(?:(?:was|were) told to|been told|(?:i|we) was promised|(?:i|we) were promised|you promised"
    r"|promised me|both times|(?:second|third|fourth|2nd|3rd|4th) time|yet again|once again"
    r"|already (?:asked|contacted|emailed|e-mailed|called|rang|phoned|chatted|complained|sent (?:it|them) back|returned)"
    r"|still (?:haven't|hasn't|have not|has not|not|no sign|waiting)|never (?:heard back|replied|got back|called back)"
    r"|chased|chasing|(?:nobody|no one|no-one) (?:has |have )?(?:replied|answered|got back|called|can find|could find|knows)"
    r"|your colleague|the agent (?:said|told)|last time i (?:called|contacted|wrote|chatted))\b")
# ...and, at any length, the same failure again ("the second replacement has arrived broken as well", "wrong
# twice now", "third wrong size in a row") or the same reply again ("you keep giving me the same link", "like the
# last three times"): a story is not needed when the message says the usual fix was already tried
_FAILED = (r"(?:broken|broke|damaged|wrong|faulty|cracked|chipped|dented|scratched|missing|late|leaking|leaks|torn|ripped|"
           r"stuck|defective|not (?:arrived|turned up|come)|never (?:arrived|came|turned up)|doesn'?t work|not working|stopped working)")
REPEATED = re.compile(
    r"\b" + _FAILED + r"\b[^.?!,]{0,20}\b(?:again|twice|(?:three|four|five|3|4|5) times(?= now| in a row| already)|in a row)\b"
    r"|\b(?:second|third|fourth|2nd|3rd|4th)\b[^.?!]{0,25}\b" + _FAILED + r"\b[^.?!]{0,25}\b(?:in a row|again|as well|too)\b"
    r"|\b(?:the|this|my|your) (?:replacement|exchange|new one|second one|resent one)\b[^.?!]{0,30}\b" + _FAILED
    + r"\b[^.?!]{0,15}\b(?:too|as well|again)\b"
    r"|\b(?:the|this|my|your) (?:second|third|fourth|2nd|3rd|4th|another) (?:replacement|one|exchange)\b[^.?!]{0,30}\b" + _FAILED + r"\b"
    r"|\bsame (?:crack|fault|problem|issue|damage|defect)\b[^.?!]{0,20}\bsame (?:spot|place|side|corner|leg)\b"
    r"|\b(?:keep|kept) (?:giving|sending|telling) (?:me )?(?:the same|to)\b"
    r"|\bsame (?:copy-paste|copy and paste|automated|canned|standard) (?:answer|reply|response|email|e-mail|message)"
    r"|\blike the last (?:two|three|four|few|\d) times\b")
WORD = re.compile(r"[a-z']+")
CLAUSE_SPLIT = re.compile(r"[.;:!?]+|,\s*(?:and|but|then|so)\b|\b(?:and then|but then|and now|and also)\b", re.I)


CHEAP_ANSWERS = ("template", "knowledge")  # answers no model wrote


class SafetyHit(Protocol):  # read-only: bot/classify/safety.py's frozen SafetyHit
    @property
    def category(self) -> str: ...
    @property
    def why(self) -> str: ...
    @property
    def score(self) -> float: ...  # >= 0.5: a safety case; under it, a possible concern (weak cues only)
    @property
    def by_meaning(self) -> bool: ...  # the model by meaning alone found it


SafetyCheck = Callable[[str], "SafetyHit | None"]
COMMON_WORDS = frozenset("""a an the i me my we you your it is are was be been am do does did have has had
can could would should will shall may might must not no yes and or but if so to of in on at for with from by
about as into up down out over this that these those what when where why how who which there here please
thanks thank hi hello hey ok okay im dont cant wont its thats just get got need want know like any some""".split())
TOKEN = re.compile(r"[a-zà-ÿ]+")


def gibberish(text: str, vocabulary: frozenset[str]) -> bool:
    """No word of the message is a word the shop's data or everyday English knows ("asdkjh qwpoeiru")."""
    words = TOKEN.findall(text.lower())
    if not words or not vocabulary:
        return False
    return not any(w in vocabulary or w in COMMON_WORDS for w in words)


def emotion(text: str, extra: dict[str, float] | None = None) -> tuple[float, str]:
    """Intensity 0..1 and label of the strongest negative emotion in text."""
    lowered = text.lower()
    tokens = WORD.findall(lowered)
    lex = dict(LEXICON)
    for word, intensity in (extra or {}).items():
        lex[word.lower()] = (intensity, "anger")
    best, label = 0.0, "neutral"
    for phrase, (intensity, lab) in lex.items():
        end = r"\b" if phrase in WHOLE_WORD else ""
        for m in re.finditer(r"\b" + re.escape(phrase) + end, lowered):
            before = WORD.findall(lowered[max(0, m.start() - 25):m.start()])[-3:]
            if phrase != "not happy" and any(t in NEGATIONS or t.endswith("n't") for t in before):
                continue  # "not angry", "never a problem"
            if before and before[-1] in INTENSIFIERS:
                intensity += 0.1  # "really upset", "so angry"
            if intensity > best:
                best, label = intensity, lab
    letters = [c for c in text if c.isalpha()]
    caps_words = [t for t in re.findall(r"[A-Za-z]{3,}", text) if t.isupper()]
    shouting = bool(letters) and len(caps_words) >= 3 and sum(c.isupper() for c in letters) / len(letters) > 0.6
    if best == 0.0:
        if shouting and ("??" in text or "!!" in text):  # a whole message shouted is a mood, words or not
            return 0.6, "frustration"
        return 0.0, "neutral"
    if shouting or (letters and len(caps_words) >= 2 and sum(c.isupper() for c in letters) / len(letters) > 0.5):
        best += 0.15  # shouting
    if "!!" in text or text.count("!") >= 3:
        best += 0.1
    if len(tokens) <= 2 and best < 0.6:
        best -= 0.1  # a lone "again" is not a mood
    return max(0.0, min(1.0, best)), label


def complexity(text: str, classification: Classification | None, by_meaning: float = 0.0) -> float:
    """0..1: how much reasoning an answer needs (several questions, comparisons, length, several
    kinds of trouble in one story). by_meaning: P(a complex case) of the reader by meaning when it
    reached signals.complex_by_meaning (else 0); it counts for a story, not a short question."""
    lowered = f" {text.lower()} "
    words = len(WORD.findall(lowered))
    questions = len([p for p in QUESTION_SPLIT.split(text) if len(WORD.findall(p.lower())) >= 3])
    clauses = len([p for p in CLAUSE_SPLIT.split(text) if len(WORD.findall(p.lower())) >= 4])
    score = 0.0
    score += min(0.4, max(0, words - 20) / 50)
    score += 0.25 * max(0, min(questions, 3) - 1)
    score += 0.15 * max(0, min(clauses, 4) - 2)  # several things happened: a story, not one question
    score += min(0.7, 0.35 * sum(1 for m in COMPLEX_MARKERS if m.search(lowered)))
    if classification and classification.top and len(classification.top) > 1:
        second = classification.top[1][1]
        if second > 0.25:  # two intents compete: a mixed question
            score += 0.15
    troubles = sum(1 for t in TROUBLES if t.search(lowered))
    if troubles >= MANY_TROUBLES and words >= STORY_WORDS:
        score = max(score, 0.5 + 0.1 * (troubles - MANY_TROUBLES))
    if by_meaning and words >= MEANING_STORY_WORDS:
        score = max(score, by_meaning)
    if classification and classification.complexity is not None:  # an LLM stage judged it
        score = max(score, classification.complexity)
    return round(min(1.0, score), 3)


def _critical_runner_up(c: Classification | None, settings: Settings) -> str | None:
    """A critical intent among the top three candidates with a fair probability (not for a message out
    of scope: its candidates' probabilities are noise)."""
    if c is None or c.out_of_scope:
        return None
    for name, p in c.top[:3]:
        cfg = settings.intents.get(name)
        if cfg and cfg.critical and p >= CRITICAL_RUNNER_UP:
            return name
    return None


def detect(text: str, classification: Classification | None, settings: Settings,
           history: History = History(), injection: bool = False, safety: SafetyHit | None = None,
           vocabulary: frozenset[str] = frozenset(), anger: float = 0.0, complex_p: float = 0.0,
           person_p: float = 0.0) -> Signals:
    """anger, complex_p, person_p: P(angry), P(a complex case) and P(asks for a person) of the readers by
    meaning (bot/classify/readers.py), 0 without them."""
    cfg = settings.signals
    lowered = text.lower()
    level, label = emotion(text, cfg.extra_negative_words)
    intent = classification.intent if classification else None
    intent_cfg = settings.intents.get(intent or "")
    # a reading by meaning does not outweigh a sure hello or thank-you: the encoder puts "Thank you kindly.
    # Have a nice day." (0.92) beside sarcastic thanks; the word cues still read "thanks for nothing"
    sure_small_talk = intent_cfg is not None and intent_cfg.small_talk and classification is not None \
        and classification.confidence >= settings.policy.confidence_threshold
    # an instruction to the bot reads as a demand, not a mood: the injection has its own rule
    if cfg.anger_by_meaning and anger >= cfg.anger_by_meaning and label != "distress" and anger > level \
            and not injection and not sure_small_talk and len(WORD.findall(lowered)) >= MEANING_MIN_WORDS:
        level, label = anger, "anger"
    if level < cfg.emotion_threshold:
        label = "neutral"
    phrases = WANTS_HUMAN + WANTS_HUMAN_DE_FR + tuple(p.lower() for p in cfg.wants_human_phrases)
    wants_human = any(p in lowered for p in phrases) or intent == "talk_to_human" or (
        bool(cfg.person_by_meaning) and person_p >= cfg.person_by_meaning and not sure_small_talk
        and len(WORD.findall(lowered)) >= MEANING_MIN_WORDS)
    phrase = next((p for p in CRITICAL_PHRASES + tuple(x.lower() for x in cfg.critical_phrases) if p in lowered), None)
    runner_up = _critical_runner_up(classification, settings)
    critical_why = (f"critical intent {intent}" if intent_cfg and intent_cfg.critical
                    else f"critical intent {runner_up} among the candidates" if runner_up
                    else f"critical phrase '{phrase}'" if phrase else "")
    substantive = intent_cfg is not None and not intent_cfg.small_talk
    # a safety case, even when the classifier is sure of a routine intent: "the table caught a small
    # flame" is a damaged_item too (0.96). A weak hit (under 0.5) is a concern, which the policy sends to
    # a person only when the classifier cannot place the message.
    case = bool(safety and safety.score >= 0.5)
    # ...but a reading by meaning alone does not outweigh a sure hello or goodbye: "that's it from me, take
    # care" reads as a farewell to the safety model (the word cues and frames still count in small talk)
    if case and safety and safety.by_meaning and sure_small_talk:
        case = False
    # "I need more help" after a canned answer or an article: the next rung can still be a model
    more_help = history.more_help and history.more_help_after in CHEAP_ANSWERS
    repeat = (history.more_help or history.unresolved_bot_turns >= cfg.unresolved_turns
              or (substantive and (intent in history.answered_intents or intent in history.unhelpful_intents)))
    return Signals(
        emotion=round(level, 3),
        emotion_label=label,
        wants_human=wants_human,
        repeat_contact=repeat,
        more_help=more_help,
        critical=bool(critical_why),
        critical_why=critical_why,
        safety=safety.category if safety and case else "",
        safety_concern=safety.category if safety and not case else "",
        safety_why=safety.why if safety else "",
        gibberish=gibberish(text, vocabulary),
        needs_human=bool(classification and classification.needs_human),
        urgent=any(u in lowered for u in URGENT),
        chasing=(bool(CHASING.search(lowered)) and len(WORD.findall(lowered)) >= STORY_WORDS) or bool(REPEATED.search(lowered)),
        complexity=complexity(text, classification,
                              complex_p if cfg.complex_by_meaning and complex_p >= cfg.complex_by_meaning else 0.0),
        injection=injection,
        amount=largest_sum(text),
    )
