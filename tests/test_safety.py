"""The safety detector (bot/classify/safety.py): safety and money cases found by meaning, not by phrase."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import pytest

from bot.classify.safety import CATEGORIES, SafetyDetector, SafetyHit
from bot.classify.safety_money import money_frame
from bot.classify.safety_cues import forms
from tests.harness.safety import routine_examples

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def detector() -> SafetyDetector:
    return SafetyDetector.build(routine_examples())


@pytest.fixture(scope="module")
def frames_only() -> SafetyDetector:
    return SafetyDetector.build()


# The messages of issue 13 that went to "out of scope" and never reached a person.
ISSUE_13 = [
    ("the lamp gave me a shock when I plugged it in", "electric_shock"),
    ("a piece broke off the rattle and my baby had it in her mouth", "child_or_pet"),
    ("my face swelled up after using the serum", "allergic_reaction"),
    ("you billed me 900 instead of 90", "large_overcharge"),
    ("I've been made redundant and can't pay this month's instalment", "financial_hardship"),
]


@pytest.mark.parametrize("text,category", ISSUE_13)
def test_issue_13_messages_are_hits_with_their_category(detector, frames_only, text, category):
    for det in (detector, frames_only):
        hit = det.check(text)
        assert hit is not None, text
        assert hit.category == category, (text, hit)
        assert 0.0 < hit.score <= 1.0


@pytest.mark.parametrize("text,category", [
    ("my partner passed away last month and the sofa was ordered in her name", "bereavement"),
    ("I don't want to be here anymore", "self_harm"),
    ("honestly I just want to end it all", "self_harm"),
    ("the heater started smoking and then caught fire", "fire"),
    ("the jar cracked and the table caught a small flame before we put it out", "fire"),
    ("if it isn't sorted by Friday I'm filing a small claim", "legal_threat"),
    ("my dog swallowed one of the toy's eyes", "child_or_pet"),
    ("I scalded my hand on the kettle", "burn"),
    ("the shelf came down on my head and I ended up in A&E", "injury"),
    ("we've all been vomiting since the hamper", "food_poisoning"),
    ("I'll be speaking to my solicitor", "legal_threat"),
    ("there's a charge from Northwind that I never authorised", "unauthorized_charge"),
    ("someone has changed the email on my account and it wasn't me", "account_takeover"),
    ("someone used my stolen card on your site", "fraud"),
    ("I'm at breaking point with all of this", "distress"),
    ("I was charged £1,250 for a £125 rug", "large_overcharge"),
    ("you charged me ten times the price", "large_overcharge"),
])
def test_other_wordings(detector, text, category):
    hit = detector.check(text)
    assert hit is not None and hit.category == category, (text, hit)


@pytest.mark.parametrize("text", [
    "is the fire pit safe for decking?",
    "charge my card again please",
    "my phone battery died so I couldn't reply",
    "killing it with the new range",
    "urgent: change my delivery address",
    "shocked how fast it came",
    "the lamp is dead on arrival",
    "my parcel got burned? no, the tracking says 'burned to disc'",
    "I was charged twice for the same order",  # double_charged: the bot can answer it
    "you took the money twice",
    "I was charged more than the order total",
    "is the electric blanket safe to leave on overnight?",
    "does the kettle have an automatic shut-off?",
    "what's the burn time of the big candle?",
    "the candle arrived melted, it was a hot day",
    "this jacket is fire",
    "I nearly died laughing at the card",
    "my boss will kill me if it's late",
    "the delivery charge was 4.99 but I thought it was free over 50",
    "I ordered 2 lamps at 30 each, the total was 60",
    "order #NW-10234 was 45.00, when does it ship?",
    "is the cot 60x120?",
    "my card was declined",
    "the baby monitor keeps losing signal",
    "my cat loves the scratching post",
    "does the moisturiser contain nuts? my daughter has an allergy",
    "I cut the tags off, can I still return it?",
    "the heater doesn't get warm enough",
    "I forgot my password and now I'm locked out",
    "I'm desperate for the sofa to arrive before Christmas",
    "the smoke alarm keeps beeping, how do I change the battery?",
])
def test_alarming_routine_messages_are_not_hits(detector, frames_only, text):
    assert detector.check(text) is None, (text, detector.check(text))
    assert frames_only.check(text) is None, text


@pytest.mark.parametrize("text,category", [
    ("the battery pack in the camping light has swollen up and feels warm", "fire"),
    ("the tealight flame jumped and caught the curtain, we put it out", "fire"),
    ("the setup fee was meant to be once but you've taken it every month since May", "large_overcharge"),
    ("you refunded me twice for the rug, how do I give it back", "large_overcharge"),
    ("I returned all four chairs and only got money back for one", "large_overcharge"),
    ("this month it's heat or eat, can the next instalment wait", "financial_hardship"),
    ("we're choosing between food and the rent right now", "financial_hardship"),
    ("honestly I can't see the point of going on", "self_harm"),
    ("I've left notes for my family, just send the parcel to my brother", "self_harm"),
    ("that 'stain proof' claim is false advertising", "legal_threat"),
    ("I'm reporting it to the ASA", "legal_threat"),
    ("keep the mattress, I won't be around to enjoy it", "self_harm"),
    ("no need to send it, I won't need anything where i'm going", "self_harm"),
    ("is there any point anymore honestly", "distress"),
    ("I'm not safe at home, can the parcel go to my sister", "distress"),
    ("my boyfriend goes through my messages so please call instead", "distress"),
    ("we got an eviction notice and the bed is due next week", "financial_hardship"),
    ("the admin charge is more than I can pay right now", "financial_hardship"),
    ("I can't do the three instalments, could it be six", "financial_hardship"),
    ("the membership renewed even though we had cancelled it", "unauthorized_charge"),
    ("the trial was supposed to be free but you took £7.99", "unauthorized_charge"),
    ("sent back five towels and was credited for two", "large_overcharge"),
])
def test_frames_for_concepts_a_phrase_list_misses(frames_only, text, category):
    hit = frames_only.check(text)
    assert hit is not None and hit.category == category, (text, hit)


@pytest.mark.parametrize("text", [
    "the phone battery went flat, can I order by email?",
    "can the candle holder go on a shelf?",
    "the subscription is charged every month, how do I change the date?",
    "is the refund paid twice a week or once?",
    "I returned one of the chairs, when does the refund come?",
    "can I choose between the grey and the blue?",
    "my card is maxed out till payday, can I pay by PayPal?",
    "will the parasol be around for long in the sale?",
    "I won't be around when it arrives, can the driver leave it with a neighbour?",
    "I won't be around to sign for it on Tuesday",
    "I'm in the free trial, will I be charged if I cancel?",
    "I returned 2 rugs, when will the refund arrive?",
    "can I spread the cost over 3 payments with Klarna?",
])
def test_their_routine_twins_are_not_cases(frames_only, text):
    hit = frames_only.check(text)
    assert hit is None or hit.score < 0.5, (text, hit)


@pytest.mark.parametrize("text", [
    "no one was hurt but the shelf fell off the wall, can I get a new bracket?",
    "the lamp is not a fire hazard question, I just want the wattage",
    "the heater didn't catch fire, it just stopped working",
    "nobody got a shock, the switch is just stiff",
    "my son wasn't hurt, the toy just broke",
    "no sparks or smoke, it simply won't turn on",
])
def test_negation(detector, text):
    assert detector.check(text) is None, (text, detector.check(text))


def test_negation_is_per_clause(detector):
    hit = detector.check("it wasn't plugged in for long, but it caught fire")
    assert hit is not None and hit.category == "fire"


def test_inflections_count():
    assert {"swell", "swells", "swelled", "swelling", "swollen"} <= set(forms("swell"))
    assert {"burn", "burns", "burned", "burnt", "burning"} <= set(forms("burn"))
    assert {"cut", "cuts", "cutting"} <= set(forms("cut"))


@pytest.mark.parametrize("text", ["my lips are swollen after the balm", "my lips keep swelling after the balm",
                                  "the balm swells my lips"])
def test_any_form_of_a_word(detector, text):
    hit = detector.check(text)
    assert hit is not None and hit.category == "allergic_reaction", (text, hit)


def test_money_frame_needs_a_large_ratio():
    assert money_frame("you billed me 900 instead of 90")
    assert money_frame("I paid £45 but the receipt says £40") is None
    assert money_frame("the total was 120 but I was charged 125") is None


def test_api(detector):
    hit = detector.check("the lamp gave me a shock when I plugged it in")
    assert isinstance(hit, SafetyHit)
    assert hit.category in CATEGORIES
    assert hit.why.startswith("electric shock: '") and hit.why.count("'") >= 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        hit.category = "x"  # type: ignore[misc]
    assert detector.check("") is None and detector.check("   ") is None
    assert detector.check("hi, where is my order?") is None
    assert detector.model is not None  # built with negatives: the model is there
    assert SafetyDetector.build().model is None


def test_shop_examples_raise_no_alarm(detector):
    """The routine intents' own examples are the everyday traffic: at most a stray false alarm."""
    examples = routine_examples()
    alarms = [e for e in examples if detector.check(e)]
    assert len(alarms) <= len(examples) * 0.01, alarms


def test_bench_data_is_well_formed():
    for name in ("dev", "holdout"):
        with (ROOT / "bench" / "data" / f"safety_{name}.csv").open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        assert rows and all(r["category"] in ("", *CATEGORIES) for r in rows)
        texts = {r["text"].lower() for r in rows}
        assert not texts & {t.lower() for t, _ in ISSUE_13}  # the issue's messages are for this test only


def test_weak_cues_come_back_as_a_concern_only_when_asked():
    d = SafetyDetector.build()
    text = "the fairy lights plug sparked and tripped the whole house"
    assert d.check(text) is None  # only weak cues: not a case by itself
    concern = d.check(text, weak=True)
    assert concern is not None and concern.score < 0.5 and concern.why.startswith("possible")
    assert d.check("where is my order", weak=True) is None
    strong = d.check("the lamp gave me a shock when I plugged it in", weak=True)
    assert strong is not None and strong.score >= 0.5


def test_largest_sum_reads_money_not_numbers():
    from bot.classify.safety_money import largest_sum

    assert largest_sum("I have been debited €530 twice for order NW-50093") == 530
    assert largest_sum("i was told a refund of 640 euro was processed on the 1st") == 640
    assert largest_sum("short about 900 quid, refund was £1,020.50 less") == 1020.5
    assert largest_sum("order 51550, 6 chairs, 40 desk lamps") == 0  # order numbers and counts are not money
    assert largest_sum("charged 45p too much") == 0  # pence are not a currency word here


def test_sums_written_the_german_and_french_way():
    from bot.classify.safety_money import largest_sum

    assert largest_sum("J'ai été débité deux fois de 480 € pour le canapé") == 480
    assert largest_sum("Vous m'avez prélevé 1 200 € au lieu de 120 €") == 1200
    assert largest_sum("der Teppich hat 59,90 € gekostet") == 59.9
    assert largest_sum("Bestellung NW-51390, 3 Stühle") == 0


@pytest.mark.parametrize("text,category", [
    ("Vous m'avez prélevé 1 200 € au lieu de 120 € pour la table basse !", "large_overcharge"),
    ("Statt 89 € wurden mir 890 € für den Teppich abgebucht!", "large_overcharge"),
    ("Ich habe den Kleiderschrank für 649 € zurückgeschickt und nur 49 € zurückbekommen", "large_overcharge"),
])
def test_money_frames_in_german_and_french(frames_only, text, category):
    hit = frames_only.check(text)
    assert hit is not None and hit.category == category, (text, hit)


@pytest.mark.parametrize("text", [
    "the invoice says £1,149 but your quote for the garden set was £799",
    "you're asking me for 1,300 euros for an order of 1,100",
    "my refund was confirmed by email two weeks ago and it still hasn't come through",
    "I was promised compensation for the failed delivery slot and heard nothing since",
    "you charged me £3.95 shipping on a £70 basket when the site says delivery is free over £50",
    "the warehouse marked my return as used and rejected it, it was never even unwrapped",
    "so where has my money gone? the refund isn't on my card",
])
def test_money_disputes_a_canned_answer_cannot_settle(frames_only, text):
    hit = frames_only.check(text)
    assert hit is not None and hit.category == "money_dispute", (text, hit)


@pytest.mark.parametrize("text", [
    "how long do refunds take to reach my card?",
    "is delivery free on a £40 order?",
    "can I pay £50 now and the other £50 on delivery?",
    "I returned the lamp yesterday, when will I get the refund?",
    "what's the difference between the £299 and the £349 sofa?",
])
def test_routine_money_questions_are_not_disputes(frames_only, text):
    assert frames_only.check(text) is None, text


@pytest.mark.parametrize("text", [
    "I keep getting delivery e-mails for things I haven't ordered, to a flat that isn't mine",
    "our company card was used for 12 orders that nobody here placed",
    "there's an order on my account going to an address in Leeds and I've never been to Leeds",
])
def test_orders_the_customer_knows_nothing_of_are_fraud(frames_only, text):
    hit = frames_only.check(text)
    assert hit is not None and hit.category == "fraud", (text, hit)


def test_an_order_not_placed_yet_is_not_fraud(frames_only):
    assert frames_only.check("I haven't ordered yet, can I still use the discount code?") is None


@pytest.mark.parametrize("text,category", [
    ("the charger crackles when I plug it in and the lights in the room flicker", "fire"),
    ("my son's chest gets tight at night since the new rug, he's asthmatic", "allergic_reaction"),
])
def test_two_warning_signs_together_are_a_case(frames_only, text, category):
    hit = frames_only.check(text)
    assert hit is not None and hit.category == category, (text, hit)


@pytest.mark.parametrize("text", [
    "the lamp crackles a bit",
    "all the lights in the house went off when I switched the heater on",
    "we used the gas heater inside the tent and woke up with headaches",
    "smells like burning plastic when the fan heater is on",
])
def test_one_warning_sign_is_a_concern_for_a_message_the_bot_cannot_place(frames_only, text):
    assert frames_only.check(text) is None, text
    concern = frames_only.check(text, weak=True)
    assert concern is not None and concern.score < 0.5, (text, concern)


def test_a_lighting_mode_is_not_a_warning_sign(frames_only):
    assert frames_only.check("does the flicker mode on the fairy lights have a timer?", weak=True) is None


def test_someone_who_has_passed_is_bereavement_and_a_passed_test_is_not(frames_only):
    hit = frames_only.check("my grandad had the account and he's passed now, can we use the voucher on it?")
    assert hit is not None and hit.category == "bereavement", hit
    for text in ("she's passed her driving test so the lamp is a present", "he's passed the order number on to me"):
        assert frames_only.check(text) is None, text
