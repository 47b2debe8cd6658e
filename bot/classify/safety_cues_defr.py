"""German and French word cues for the safety detector (bot/classify/safety.py), for the languages the demo
serves (bot/language.py). The readers by meaning read English only, so in German and French these words are
the whole backstop: the plain words of each case ("Stromschlag", "pris feu", "Anwalt", "me tuer"), strong
enough alone, and a few weak ones that need a second. Written from the languages, not from a test set.
Negation is not read here (the English rules for "not" do not apply), so every cue is one a denial would
still name: "kein Stromschlag" still goes to a person, who can tell.
"""

from __future__ import annotations

import re

from bot.classify.safety_cues import Cue, cue

# the context the detector asks of a charge or an account case (bot/classify/safety.py _context), in German and French
MONEY_DE_FR = re.compile(r"\b(?:abgebucht|abbuchung\w*|bezahlt|gezahlt|berechnet|belastet|prélev\w*|débité\w*|payé\w*|factur\w*)\b")
ACCOUNT_DE_FR = re.compile(r"\b(?:konto|kundenkonto|passwort|kennwort|anmeld\w*|einlogg\w*|compte|mot de passe|connexion|identifiant)\b")

CUES_DE_FR: tuple[Cue, ...] = (
    # ------------------------------------------------------------------ German
    cue("fire", 1.0, r"feuer gefangen", r"in flammen", r"angefangen zu brennen", r"hat gebrannt", r"funken gesprüht",
        r"rauch (?:kam|kommt|stieg)", r"qualm\w*", r"brandgeruch", r"verschmort\w*", r"geschmolzen", negatable=False),
    cue("electric_shock", 1.0, r"stromschlag", r"elektrischen schlag", r"einen schlag bekommen", r"unter strom",
        negatable=False),
    cue("burn", 1.0, r"verbrannt", r"verbrüht", r"brandblase\w*", r"brandwunde\w*", negatable=False),
    cue("injury", 1.0, r"verletzt", r"blutet\w*", r"notaufnahme", r"ins krankenhaus", r"genäht werden", negatable=False),
    cue("child_or_pet", 1.0, r"verschluckt", r"erstickt", r"keine luft (?:mehr )?bekommen", negatable=False),
    cue("allergic_reaction", 1.0, r"allergische reaktion", r"ausschlag", negatable=False),
    cue("fraud", 1.0, r"betrug", r"betrüger\w*", r"phishing", r"gefälscht\w*", negatable=False),
    cue("unauthorized_charge", 1.0, r"(?:habe|hab) ich nicht bestellt", r"nicht von mir (?:bestellt|gekauft|bezahlt)",
        r"abbuchung, die ich nicht", negatable=False),
    cue("account_takeover", 1.0, r"gehackt", r"jemand hat (?:mein|meine) (?:passwort|e-mail|konto|adresse)",
        negatable=False),
    cue("legal_threat", 1.0, r"anwalt", r"rechtsanwalt\w*", r"verbraucherzentrale", r"klage", r"vor gericht", negatable=False),
    cue("self_harm", 1.0, r"umbringen", r"selbstmord", r"suizid\w*", r"nicht mehr leben", r"das leben nehmen",
        negatable=False),
    cue("distress", 1.0, r"verzweifelt", r"ich kann nicht mehr", r"angst vor (?:ihm|ihr|meinem|meiner)", negatable=False),
    cue("bereavement", 1.0, r"verstorben\w*", r"gestorben", r"beerdigung", negatable=False),
    cue("financial_hardship", 1.0, r"arbeitslos", r"(?:job|arbeit|stelle) verloren", r"kein geld mehr",
        r"rate nicht (?:mehr )?(?:zahlen|bezahlen)", negatable=False),
    # ------------------------------------------------------------------ French
    cue("fire", 1.0, r"pris feu", r"en feu", r"en flammes", r"flammes?", r"fumée", r"étincelles?", r"odeur de brûlé",
        r"a fondu", negatable=False),
    cue("electric_shock", 1.0, r"décharge électrique", r"électrocut\w*", r"pris le jus", r"coup de jus",
        negatable=False),
    cue("burn", 1.0, r"brûlé\w*", r"brûlure\w*", r"ébouillant\w*", negatable=False),
    cue("injury", 1.0, r"blessé\w*", r"blessure\w*", r"aux urgences", r"à l'hôpital", r"saign\w*", r"points de suture",
        negatable=False),
    cue("child_or_pet", 1.0, r"avalé", r"étouff\w*", negatable=False),
    cue("allergic_reaction", 1.0, r"réaction allergique", r"allergie", r"plaques rouges", negatable=False),
    cue("fraud", 1.0, r"arnaque\w*", r"escroqu\w*", r"fraude\w*", r"hameçonnage", r"faux site", negatable=False),
    cue("unauthorized_charge", 1.0, r"(?:pas|jamais) commandé", r"prélèvement que je (?:n'ai|ne reconnais)",
        negatable=False),
    cue("account_takeover", 1.0, r"piraté\w*", r"quelqu'un a changé (?:mon|mes|l'adresse)", negatable=False),
    cue("legal_threat", 1.0, r"avocat", r"tribunal", r"porter plainte", r"mise en demeure", r"association de consommateurs",
        negatable=False),
    cue("self_harm", 1.0, r"suicide", r"me tuer", r"en finir", r"plus envie de vivre", negatable=False),
    cue("distress", 1.0, r"désespér\w*", r"je n'en peux plus", r"peur de (?:lui|mon mari|ma femme|mon compagnon)",
        negatable=False),
    cue("bereavement", 1.0, r"décédé\w*", r"deuil", r"obsèques", negatable=False),
    cue("financial_hardship", 1.0, r"chômage", r"perdu mon (?:travail|emploi|boulot)", r"plus d'argent",
        r"(?:ne peux|peux) pas payer", negatable=False),
)

# "get me a person" in German and French, for bot/pipeline/signals.py's phrase list ("une personne" alone is
# also "a one-person tent"; "Gericht" a dish and "ist tot" a flat battery, so those are left out above)
WANTS_HUMAN_DE_FR = (
    "mit einem menschen", "echten menschen", "mit einem mitarbeiter", "mitarbeiter sprechen", "mitarbeiterin sprechen",
    "rufen sie mich an", "kein bot", "keinen bot",
    "parler à une personne", "avec une personne", "un conseiller", "une conseillère", "un humain", "vrai humain", "parler à quelqu'un", "appelez-moi",
    "pas un robot",
)

# strong feelings in German and French, for bot/pipeline/signals.py's emotion lexicon (word -> intensity, label;
# matched as the start of a word, like the English ones; WHOLE_WORD_DE_FR only as whole words: "sauer" is
# also the start of "Sauerteig", "nul" of "nulle part")
EMOTION_DE_FR: dict[str, tuple[float, str]] = {
    "stinksauer": (0.9, "anger"), "wütend": (0.85, "anger"), "frechheit": (0.85, "anger"), "unverschämt": (0.85, "anger"),
    "skandal": (0.8, "anger"), "inakzeptabel": (0.8, "anger"), "verärgert": (0.75, "anger"), "sauer": (0.7, "anger"),
    "die nase voll": (0.8, "frustration"), "es reicht": (0.75, "frustration"), "reicht mir": (0.75, "frustration"),
    "zum dritten mal": (0.7, "frustration"), "zum vierten mal": (0.75, "frustration"),
    "zum wiederholten mal": (0.7, "frustration"), "keiner meldet sich": (0.6, "frustration"),
    "niemand meldet sich": (0.6, "frustration"), "enttäuscht": (0.6, "frustration"), "bin am ende": (0.8, "distress"),
    "echt am ende": (0.8, "distress"), "völlig am ende": (0.8, "distress"), "total am ende": (0.8, "distress"),
    "furieux": (0.9, "anger"), "furieuse": (0.9, "anger"), "inadmissible": (0.85, "anger"), "inacceptable": (0.8, "anger"),
    "scandaleu": (0.85, "anger"), "honteu": (0.8, "anger"), "en colère": (0.8, "anger"), "ras-le-bol": (0.8, "frustration"),
    "ras le bol": (0.8, "frustration"), "j'en ai marre": (0.8, "frustration"), "marre": (0.7, "frustration"),
    "troisième fois": (0.7, "frustration"), "quatrième fois": (0.75, "frustration"),
    "personne ne me répond": (0.6, "frustration"), "déçu": (0.6, "frustration"), "nul": (0.6, "anger"),
    "à bout": (0.8, "distress"), "j'en peux plus": (0.85, "distress"),
}
WHOLE_WORD_DE_FR = frozenset({"sauer", "nul", "marre"})
