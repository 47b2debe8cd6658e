"""Signals: emotion with negation, caps and !!!, wanting a human, repeat contact, complexity."""

from __future__ import annotations

from bot.pipeline.signals import gibberish, history_from, History, complexity, detect, emotion
from tests.helpers import cls, mini_settings

S = mini_settings()


def test_neutral_text():
    assert emotion("where is my parcel?") == (0.0, "neutral")


def test_anger_and_boosts():
    base, label = emotion("this is unacceptable")
    shouted, _ = emotion("THIS IS UNACCEPTABLE!!!")
    assert label == "anger" and shouted > base


def test_negation():
    assert emotion("I'm not angry, just asking")[1] == "neutral"
    assert emotion("never a problem, thanks")[1] == "neutral"


def test_not_happy_is_frustration():
    assert emotion("I am not happy with this")[1] == "frustration"


def test_wants_human_phrase():
    s = detect("can I talk to a real person please", cls("order_status", 0.5), S)
    assert s.wants_human and "wants_human" in s.names()


def test_other_ways_of_asking_for_a_person():
    for text in ("can I speak with someone about this", "is there an actual person I can ask",
                 "how do I reach a customer service person on the phone"):
        assert detect(text, cls("order_status", 0.5), S).wants_human, text


def test_sarcastic_thanks_are_anger_and_real_ones_are_not():
    assert emotion("well thanks for nothing then")[1] == "anger"
    assert emotion("oh brilliant, another email saying it's delayed")[1] == "anger"
    assert emotion("brilliant, that was really helpful, thanks!")[1] == "neutral"


def test_an_intensifier_raises_the_emotion():
    assert emotion("really upset about the delay")[0] > emotion("upset about the delay")[0]
    assert emotion("not really upset, just asking")[1] == "neutral"


def test_critical_from_config():
    assert detect("someone used my card", cls("fraud_report", 0.95), S).critical


def test_repeat_contact_same_intent_after_an_answer():
    h = History(answered_intents=("order_status",))
    assert detect("where is my order", cls("order_status", 0.95), S, h).repeat_contact
    assert not detect("hello", cls("greeting", 0.95), S, History(answered_intents=("greeting",))).repeat_contact
    # a related follow-up on another intent is not a repeat
    assert not detect("can I change the address", cls("change_order", 0.95), S, h).repeat_contact


def test_repeat_contact_means_it():
    """Only answers count, and a "that helped" (or a person) ends the count."""
    answered = history_from([("template", "canned", "payment_methods")])
    assert answered.answered_intents == ("payment_methods",)
    assert history_from([("human", "critical", "payment_methods")]).answered_intents == ()
    assert history_from([("clarify", "clarify", "payment_methods")]).answered_intents == ()
    resolved = history_from([("template", "helped", None), ("template", "canned", "payment_methods")])
    assert resolved.answered_intents == () and resolved.unresolved_bot_turns == 0
    assert history_from([("template", "canned", "greeting")], small_talk=frozenset({"greeting"})).answered_intents == ()
    # the customer said an earlier answer did not help: the same intent in a new conversation is a repeat
    assert detect("parcel still not here?", cls("order_status", 0.95), S,
                  History(unhelpful_intents=("order_status",))).repeat_contact
    assert detect("no", cls("order_status", 0.95), S, History(more_help=True)).repeat_contact


def test_gibberish_needs_no_known_word():
    vocab = frozenset({"order", "return"})
    assert gibberish("asdkjh qwpoeiru zzxcv", vocab)
    assert not gibberish("weather in amsterdam", vocab)  # "in" is everyday English
    assert not gibberish("", vocab)


def test_repeat_contact_unresolved_turns():
    h = History(unresolved_bot_turns=3)
    assert detect("and now?", cls("return_item", 0.95), S, h).repeat_contact


def test_complexity_markers():
    assert complexity("what is the difference between the two tents and which is better for winter?", None) >= 0.5
    assert complexity("where is my order", None) < 0.5


# Written for this test; not in bench/data.
def test_several_kinds_of_trouble_in_one_story_are_complex():
    story = ("the lamp arrived with a cracked shade, the bulbs were missing and I was charged "
             "for express delivery I never chose")
    assert complexity(story, None) >= 0.5
    for one_or_two in ("the shade of my lamp is cracked, can I get a replacement?",
                       "I sent back the rug on monday, when will the refund reach my card?",
                       "the invoice shows the wrong address, please fix it"):
        assert complexity(one_or_two, None) < 0.5, one_or_two


def test_emotion_below_threshold_is_neutral_label():
    s = detect("that's a bit annoying", cls("order_status", 0.95), S)
    assert s.emotion_label == "neutral" and s.emotion > 0


def test_critical_phrase_safety_net_whatever_the_intent():
    s = detect("I'm handing this over to my solicitor", cls("order_status", 0.95), S)
    assert s.critical


def test_critical_runner_up_counts():
    c = cls("order_status", 0.6, ("fraud_report", 0.25))
    assert detect("a payment I don't recognise", c, S).critical
    assert not detect("a payment I don't recognise", cls("order_status", 0.9, ("fraud_report", 0.05)), S).critical


def test_model_flag_is_its_own_signal_not_asked():
    from bot.messages import Classification

    c = Classification("order_status", 0.92, (("order_status", 0.92),), stage="llm", needs_human=True)
    s = detect("my parcel is late and my daughter is in tears", c, S)
    assert s.needs_human and not s.wants_human and "needs_human" in s.names()
    assert s.emotion_label == "distress"


def test_shouting_without_bad_words_is_frustration():
    level, label = emotion("WHY HAS NOBODY REPLIED TO MY EMAILS?? I HAVE WRITTEN FOUR TIMES NOW")
    assert label == "frustration" and level >= 0.6
    assert emotion("WHERE IS MY ORDER")[1] == "neutral"


def test_goods_never_ordered_is_critical():
    assert detect("there are orders on my account for phones I never bought", cls("order_status", 0.5), S).critical


def test_critical_reason_says_why():
    assert detect("I'll call my solicitor", cls("order_status", 0.95), S).critical_why == "critical phrase 'solicitor'"
    assert detect("someone used my card", cls("fraud_report", 0.95), S).critical_why == "critical intent fraud_report"


def test_a_story_of_an_earlier_attempt_that_failed_is_chasing():
    for text in ("price dropped the day after I bought, asked for a price match, was told to return and re-buy, "
                 "did that, and now the new one costs more",
                 "I swapped the rug for the larger size and both times the small one turned up at my door again",
                 "your colleague said on the phone a refund would be with me in five days, that was a month ago"):
        s = detect(text, cls("price_match", 0.95), S)
        assert s.chasing and "chasing" in s.names(), text


def test_a_short_complaint_or_a_recurring_error_is_not_chasing():
    for text in ("not again!", "still not here",
                 "the payment page shows an error every time i click pay, the sale ends tonight, can you help",
                 "I was told the sofa comes in grey too, is that right and how long is delivery to Leeds?"):
        assert not detect(text, cls("order_status", 0.95), S).chasing, text


def test_anger_by_meaning_does_not_outweigh_a_sure_thank_you():
    """The encoder reads "Thank you kindly. Have a nice day." as angry (sarcastic thanks sit beside it):
    a sure hello or thank-you keeps its calm; the word cues and an unsure classification still count."""
    s = mini_settings()
    polite = "Good morning. I hope this message finds you well."
    assert detect(polite, cls("greeting", 0.99), s, anger=0.95).emotion_label == "neutral"
    assert detect(polite, cls("greeting", 0.6), s, anger=0.95).emotion_label == "anger"
    assert detect("hello?? this is useless, absolutely useless", cls("greeting", 0.99), s, anger=0.95).emotion_label == "anger"


def test_the_same_failure_again_is_chasing_at_any_length():
    """The usual fix was tried and failed: a person, not the canned answer a second time."""
    for text in ("the second replacement has turned up cracked as well",
                 "wrong colour twice now. seriously?",
                 "the new one you sent is broken too",
                 "you keep giving me the same link",
                 "another week, like the last three times"):
        s = detect(text, cls("damaged_item", 0.95), S)
        assert s.chasing and "chasing" in s.names(), text


def test_a_second_item_or_a_late_question_is_not_the_same_failure_again():
    for text in ("the lamp shade is dented and the box was crushed too",
                 "is it too late to return a rug I bought five weeks ago?",
                 "can I order a second one of the oak chairs?",
                 "reset link never came, checked spam too"):
        assert not detect(text, cls("damaged_item", 0.95), S).chasing, text


def test_strong_feelings_in_german_and_french():
    assert emotion("Das ist eine Frechheit, ich bin stinksauer")[1] == "anger"
    assert emotion("Je suis furieux, c'est inadmissible")[1] == "anger"
    assert emotion("J'en peux plus, je suis à bout")[1] == "distress"
    assert emotion("Haben Sie Sauerteigbrot-Körbe?") == (0.0, "neutral")
    assert emotion("Où est ma commande ?") == (0.0, "neutral")
