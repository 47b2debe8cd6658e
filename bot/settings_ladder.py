"""The ladder's sections of supportbot.yaml: `clarify` ("did you mean ...?"), `rephrase` (asked
once) and `resolution` ("That helped" / "I need more help"); kept apart from bot/settings.py."""

from __future__ import annotations

from pydantic import Field

from bot.settings_policy import Strict


class Clarify(Strict):
    """The "did you mean ...?" rung: offered when the classifier is unsure but its best few
    intents are plausible. The customer's pick answers the question and is kept as a labelled example."""

    max_options: int = Field(3, ge=2, le=5)  # intents offered, besides "something else"
    min_option: float = Field(0.12, ge=0, le=1)  # an intent below this probability is not offered
    min_total: float = Field(0.5, ge=0, le=1)  # the offered intents together must reach this
    prompt: str = "I want to get this right. Did you mean one of these?"
    prompt_one: str = "Just to check: is this about \"{option}\"?"  # when only one intent is plausible
    something_else: str = "Something else"


class Rephrase(Strict):
    """Asked once when no rung could place the message, before a person is called."""

    prompt: str = ("Sorry, I didn't quite get that. Could you say it in other words? For example: "
                   "\"where is my order NW-12345\" or \"how do I return an item\".")
    off_topic: str = ("I can only help with questions about {company}: orders, deliveries, returns, "
                      "payments, your account and our products. What can I help you with? "
                      "(You can also ask for a person at any time.)")


class ResolutionCfg(Strict):
    """After a bot answer: "That helped" / "I need more help" (buttons where the channel has them,
    words anywhere). A bot answer with no further request within soft_window_hours counts as a
    soft resolution."""

    ask: bool = True
    helped: str = "That helped"
    more_help: str = "I need more help"
    soft_window_hours: float = Field(24, gt=0)
    helped_reply: str = "Glad I could help! Anything else, just write."
    more_help_reply: str = "Sorry that didn't help."
