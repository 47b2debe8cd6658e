"""The concept words and cues of the safety detector (bot/classify/safety.py): harm and symptom terms in
all their inflections, what makes them real (a body part, a child or pet, a product in use), and
the money, account and life-event cues. Data as code: regular expressions built once at import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# ------------------------------------------------------------------------------------------ lemmas

IRREGULAR = {
    "swell": ["swollen"], "burn": ["burnt"], "bleed": ["bled"], "break": ["broke", "broken"],
    "catch": ["caught"], "fall": ["fell", "fallen"], "go": ["went", "gone"], "eat": ["ate", "eaten"],
    "drink": ["drank", "drunk"], "swallow": [], "bite": ["bit", "bitten"], "cut": [], "hit": [],
    "throw": ["threw", "thrown"], "take": ["took", "taken"], "give": ["gave", "given"],
    "get": ["got", "gotten"], "die": ["died", "dying", "dies"], "lose": ["lost"], "feel": ["felt"],
    "make": ["made"], "spit": ["spat"], "blow": ["blew", "blown"], "come": ["came"],
    "steal": ["stole", "stolen"], "sting": ["stung"], "hurt": [], "set": [], "put": [],
    "spring": ["sprang", "sprung"], "shake": ["shook", "shaken"], "tear": ["tore", "torn"],
    "pay": ["paid"], "see": ["saw", "seen"], "run": ["ran"], "slice": [], "strike": ["struck"],
}
VOWELS = set("aeiou")


def forms(base: str) -> list[str]:
    """The inflections of a word: swell -> swell, swells, swelled, swelling, swollen."""
    out = {base}
    out.update(IRREGULAR.get(base, []))
    if base.endswith("e"):
        out.update({base + "s", base + "d", base[:-1] + "ing"})
    elif base.endswith("y") and len(base) > 2 and base[-2] not in VOWELS:
        out.update({base[:-1] + "ies", base[:-1] + "ied", base + "ing"})
    else:
        out.update({base + "s", base + "es", base + "ed", base + "ing"})
        if (len(base) >= 3 and base[-1] not in VOWELS | {"w", "x", "y"} and base[-2] in VOWELS
                and base[-3] not in VOWELS and len(base) <= 5):
            out.update({base + base[-1] + "ed", base + base[-1] + "ing"})  # cut -> cutting, zap -> zapped
    return sorted(out, key=len, reverse=True)


def _expand(pattern: str) -> str:
    """{word} -> every inflection of word; the rest of the pattern is a regex."""
    return re.sub(r"\{([a-z]+)\}", lambda m: "(?:" + "|".join(forms(m.group(1))) + ")", pattern)


def _rx(*patterns: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(_expand(p) for p in patterns) + r")\b")


# --------------------------------------------------------------------------------- concept words

BODY = (r"(?:hands?|fingers?|thumbs?|palms?|wrists?|arms?|elbows?|legs?|knees?|feet|foot|toes?|ankles?"
        r"|face|cheeks?|lips?|mouth|tongue|throat|eyes?|eyelids?|nose|ears?|head|forehead|scalp|neck"
        r"|skin|back|chest|stomach|thighs?|shins?|ribs?|shoulders?|body|teeth|tooth|coccyx|tailbone|spine|hips?|bum"
        r"|bottom|armpits?|underarms?|calf|calves|heels?|nails?|knuckles?|jaw|brow|eyebrows?|temple|groin|belly|gums)")
BONE = r"(?:wrist|arm|ankle|foot|rib|ribs|nose|toe|finger|hand|collarbone|hip|jaw|tooth|leg)"
POSS = r"(?:my|his|her|their|our|your|me|him|them|myself|himself|herself)"
CHILD = (r"(?:baby|babies|toddlers?|child|children|kids?|sons?|daughters?|little one|little boy|little girl"
         r"|infant|newborn|grandson|granddaughter|grandchild|grandkids?|niece|nephew|boy|girl|twins|"
         r"(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|\d+ ?month)[- ]years?[- ]old|\d+[- ]months?[- ]old|"
         r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven)[- ]months?[- ]old|little \w+|youngest|eldest)")
PET = r"(?:dog|dogs|cat|cats|puppy|puppies|kitten|kittens|pet|pets|rabbit|hamster|parrot|bird)"
FAMILY = (r"(?:mum|mom|mother|dad|father|husband|wife|partner|son|daughter|baby|brother|sister|grandmother"
          r"|grandfather|grandma|grandad|granddad|nan|nana|gran|granny|grandpa|aunt|auntie|uncle|friend|child"
          r"|boyfriend|girlfriend|fiance|fiancee|fiancé|mother-in-law|father-in-law|cousin|parents?|dog|cat)")
COSMETIC = _rx(r"cream", r"creams", r"lotion", r"serum", r"balm", r"shampoo", r"conditioner", r"mascara",
               r"perfume", r"oil", r"mask", r"wash", r"scrub", r"make-?up", r"soap", r"moisturi[sz]er",
               r"foundation", r"lipstick", r"laundry", r"pods", r"washing powder", r"fabric softener", r"lash(?:es)?", r"cleanser", r"toner", r"deodorant", r"dye", r"polish", r"sunscreen",
               r"cosmetics?", r"spray", r"gel", r"fragrance", r"bath bomb", r"{apply}", r"{use}", r"{wear}",
               r"jumper", r"blanket", r"detergent")
HEAT = _rx(r"kettle", r"heater", r"lanterns?", r"power ?bank", r"hair ?dryer", r"straighteners?", r"curling", r"stove", r"iron", r"oven", r"hob", r"hot", r"steam", r"toaster", r"grill",
           r"bbq", r"barbecue", r"boiling", r"boiled", r"fire", r"flames?", r"candle", r"lamp", r"bulb",
           r"heated", r"radiator", r"tea", r"coffee", r"water bottle", r"pan", r"saucepan", r"burner")
FOOD = _rx(r"food", r"chocolates?", r"biscuits?", r"sweets", r"fudge", r"jam",
           r"cheese", r"p[aâ]t[eé]", r"tea", r"coffee", r"honey", r"snacks?", r"hamper", r"hampers", r"cake",
           r"crisps", r"nuts", r"sauce", r"meat", r"sausages?", r"fruit", r"juice", r"wine", r"gift box",
           r"gift basket", r"mouldy", r"moldy", r"out of date", r"gone off", r"expired", r"beans", r"treats?",
           r"cookies?", r"chutney", r"olives", r"oil", r"salami", r"{taste}",
           r"yog(?:h)?urt", r"raisins", r"salmon", r"fish", r"crackers", r"bread", r"milk", r"eggs?", r"rancid", r"smoked", r"cured",
           r"mushrooms?", r"popcorn", r"pretzels", r"cereal", r"granola", r"soup", r"spread", r"chilli", r"ham", r"pie", r"cupcakes?",
           r"brownies?", r"muffins?", r"lemonade", r"cordial", r"drinks", r"smoothies?", r"tinned", r"tins?", r"cans?", r"truffles?", r"marshmallows?", r"lollies", r"candy", r"gummies", r"(?:after|since) (?:eating|drinking|having|trying|tasting)")
DEVICE = _rx(r"plug", r"plugs", r"plugged", r"socket", r"switch", r"switched", r"lamp", r"kettle", r"toaster",
             r"heater", r"wires?", r"wiring", r"cable", r"cord", r"lead", r"metal", r"{touch}", r"fan", r"lights?",
             r"fridge", r"charger", r"appliance", r"bulb", r"casing", r"dial", r"base", r"iron", r"blanket",
             r"microwave", r"electric", r"electricity", r"current", r"mains", r"outlet", r"battery", r"machine")
CONTACT = _rx(r"{touch}", r"{hold}", r"held", r"{grab}", r"me", r"my", r"him", r"her", r"hands?", r"fingers?", r"arm", r"{plug}",
              r"{switch}", r"{unplug}", r"{pick} up", r"picked")
MONEY_VERB = _rx(r"{charge}", r"{bill}", r"{take}", r"{debit}", r"came out", r"come out", r"gone out", r"{pay}",
                 r"statement", r"bank", r"card", r"account", r"transaction", r"payment", r"payments", r"invoice",
                 r"purchases?", r"{buy}", r"bought", r"renewed", r"auto-?renew\w*")

NEGATORS = {"no", "not", "never", "nobody", "none", "without", "isn't", "wasn't", "weren't", "didn't", "don't",
            "doesn't", "hasn't", "haven't", "nothing", "neither", "nor", "cannot", "won't", "aren't"}
CLAUSE_BREAK = re.compile(r"[.;!?,]|\bbut\b|\bhowever\b|\bthough\b|\bthen\b")


@dataclass(frozen=True)
class Cue:
    category: str
    weight: float  # >= 1.0 alone makes a hit; weaker cues add up within their category
    rx: re.Pattern[str]
    negatable: bool = True
    family: str = ""  # what the model may confirm: harm | money | account | life


CUE_FAMILY = {"legal_threat": "legal", "fraud": "account", "unauthorized_charge": "money",
              "account_takeover": "account", "large_overcharge": "money", "money_dispute": "money", "financial_hardship": "life",
              "bereavement": "life", "distress": "life", "self_harm": "life"}  # the rest: harm


def family(category: str) -> str:
    return CUE_FAMILY.get(category, "harm")


def cue(category: str, weight: float, *patterns: str, negatable: bool = True) -> Cue:
    return Cue(category, weight, _rx(*patterns), negatable, family(category))


def _any(pattern: str) -> str:
    return pattern


W = r"(?:[\w'’-]+\s+)"  # one word and its space, for gaps: W{0,3}
CUES: tuple[Cue, ...] = (
    # ------------------------------------------------------------------ electric shock
    cue("electric_shock", 1.0, r"{electrocute}", r"electrocution", r"electric(?:al)? {shock}", r"{zap}",
        r"shock(?:ed)? (?:me|him|her|us|them)", r"(?:gave|give|gives|giving|got|get|gets|getting|had|felt|received)"
        r" " + W + r"{0,3}(?:electric(?:al)? )?shocks?", r"shocks? (?:off|from) (?:the|my|it|this)",
        r"(?:is|was|are|were|seems to be|felt|is still|becomes) live", r"giving off shocks?",
        r"{jolt} of (?:electricity|current|power)", r"(?:buzz|tingle|current) of electricity",
        r"current (?:went|ran|go|going|passed) through", r"(?:it|the \w+) bit me"),
    cue("electric_shock", 1.0, r"(?:thrown|knocked|flung) (?:back|across) by (?:the|a|it)", r"by the current",
        r"electricity (?:went|ran|shot|passed) (?:through|up)"),
    cue("electric_shock", 0.55, r"{shock}", r"{jolt}", r"{tingle}", r"exposed wires?", r"bare wires?",
        r"live wires?", r"(?:nipped|bit|stung|zapped|jolted|buzzed) (?:me|my|him|her|us)",
        r"through (?:my|his|her) (?:hand|arm|fingers?|body|wrist)"),
    cue("electric_shock", 1.0, r"(?:got|get|gets|getting|had) (?:a |quite a |such a |a right |a nasty )?(?:belt|jolt|zap|shock|buzz) (?:off|from) "
        r"(?:it|the|my|this|that)"),
    cue("electric_shock", 0.55, r"(?:felt|feel|got) (?:a |an )?(?:sharp |strong |painful |little |small )?(?:snap|crack|pulse|kick)", r"{prickle}", r"the earth (?:on|in)", r"(?:goes|went|go|gone|going) numb", r"{numb}", r"pins and needles"),
    cue("electric_shock", 0.3, r"{buzz}"),
    # ------------------------------------------------------------------ fire
    cue("fire", 1.0, r"{catch} (?:on )?fire", r"{catch} an? (?:small |little |tiny )?flame", r"{catch} alight", r"(?:went|go|goes) up in smoke", r"carbon monoxide (?:alarm )?(?:went off|poisoning|leak)", r"on fire", r"burst into flames?", r"{go} up in flames?",
        r"flames? (?:came|coming|come|shot|were|was|out|from|everywhere|started|appeared|spread|licking|leapt|leaping|rising|shooting)",
        r"in flames", r"{set} " + W + r"{0,4}(?:alight|on fire|ablaze)", r"{set} fire", r"ablaze",
        r"fire (?:brigade|service|department|engine|fighters?|crew)", r"firem[ae]n", r"{start} (?:a )?(?:small )?fire",
        r"(?:a|small|the) fire (?:in|on|at|started|broke)", r"{explode}", r"{explosion}", r"burst into fire",
        r"smoke (?:came|coming|pouring|pour|poured|billowing|everywhere|started|rising|filled|filling)", r"{pour} (?:out )?smoke", r"(?:filled|filling|fill|full of) (?:\w+ ){0,3}(?:with )?(?:black |thick )?smoke",
        r"started (?:smoking|sparking)", r"sparks (?:came|flew|flying|coming|shot|were|everywhere|out|from)",
        r"(?:was|were|is|kept|keeps|it's|started) (?:sparking|smoking)", r"{spark} and (?:smoke|smok\w+|burn\w*)",
        r"fire hazard (?:it is|it's)", r"(?:batter(?:y|ies)|power ?banks?)\b(?:\W+\w+){0,6}?\W+(?:bulg\w+|puff\w+ up|ballooned)",
        r"(?:flames?|candles?|sparks?|heater|burner|wick)\b(?:\W+\w+){0,8}?\W+(?:caught|catching|reached|scorched|singed) (?:the|a|my|our) (?:\w+ )?(?:shelf|shelves|curtains?|blinds?|cupboard|ceiling|wall|rug|carpet|sofa|cushions?|tablecloth|table)", r"nearly (?:burnt|burned) (?:the|our|my) (?:house|flat|home)",
        r"(?:burnt|burned|scorched) (?:the|a|our|my) (?:carpet|table|wall|floor|curtains?|sofa|rug|house|flat|worktop|bedside)",
        r"{melt} (?:the|a|my|our|through) (?:plastic|carpet|table|wall|floor|socket|cable|worktop|bedside|windowsill)"),
    cue("fire", 1.0,
        r"(?:got|gets|getting|went|became|was) (?:really |very |so |extremely |incredibly |dangerously |boiling )?(?:hot|warm) and (?:\w+ ){0,2}(?:melt\w*|smok\w*|swell\w*|bulg\w*|hiss\w*|pop\w*|crack\w*)"),
    cue("fire", 0.55, r"burning smell", r"smell of burning", r"smells? (?:of )?(?:burning|smoke|burnt)",
        r"{scorch}", r"{melt}", r"smoke", r"smoking", r"sparks", r"sparking", r"sparked", r"{overheat}",
        r"{smoulder}", r"charred", r"blackened", r"(?:started|began|starting|beginning|begun) to (?:smoke|smoulder|melt|burn)",
        r"(?:smoke|fire) alarms? (?:went|go|goes|going) off", r"fumes", r"(?:went|go|goes) (?:pop|bang)",
        r"glowing (?:red|orange|hot)", r"embers", r"{blow} out",
        r"(?:started|began|starting) (?:burning|to burn)", r"smells? like (?:burning|smoke|burnt)"),
    # electrical warning signs and fumes, weak alone ("the lamp crackles"), a case together ("crackles when I plug it
    # in and the lights flicker"); a fuel heater in a tent with a headache is carbon monoxide
    cue("fire", 0.55, r"crackl\w*", r"(?:all the lights|(?:lights?|power|electrics?) in the (?:house|room|flat|kitchen|home|building|hall|lounge|bedroom))\b(?: \w+){0,2}? "
        r"(?:flicker\w*|go off|goes off|went off|go out|went out|cut out|trip\w*|dim\w*)",
        r"(?:trips?|tripped|tripping|blows?|blew|blowing) (?:the |our |a )?(?:electrics|fuse|fuses|power|breaker|circuit)",
        r"(?:heater|stove|burner|generator|bbq|barbecue)\b(?: \w+){0,2}? (?:inside|in) (?:the |a |our |my )?(?:tent|caravan|awning|garage|camper)",
        r"(?:headaches?|dizz\w*|drowsy|nause\w*)\b[^.?!]{0,60}\b(?:heater|stove|burner|generator|bbq|barbecue|fumes)",
        r"(?:heater|stove|burner|generator|bbq|barbecue)\b[^?!]{0,80}\b(?:headaches?|dizz\w*|drowsy|nause\w*)"),
    cue("allergic_reaction", 0.55, r"tight chest", r"chest (?:feels |is |gets |went |goes )?tight", r"wheez\w*", r"asthma\w*"),
    # ------------------------------------------------------------------ burns
    cue("burn", 1.0, r"{scald}", r"burns? (?:on|to|all over|down) " + POSS, r"burn marks?",
        r"(?:first|second|third)[- ]degree", r"{burn} " + POSS + r" " + W + r"{0,1}" + BODY,
        r"{burn} (?:myself|himself|herself|themselves)", BODY + r" (?:got|was|were|is|are) (?:badly |really )?{burn}",
        r"(?:got|have|had|with) (?:a |bad |nasty |some )?burns?", r"burns unit",
        r"(?:badly|severely|seriously) {burn}", r"{blister} " + POSS + r" " + BODY),
    cue("burn", 0.55, r"{blister}", r"welts?", r"red mark", r"{mark} " + POSS + r" (?:\w+(?:'s)? )?" + BODY, r"so hot (?:it|that)", r"red hot", r"scorching hot", r"too hot to (?:touch|hold)",
        r"(?:hot|boiling|scalding|burning|molten|melted) (?:wax|oil|water|tea|coffee|liquid|metal|fat|soup|plastic|milk) (?:\w+ )?(?:splash\w*|spill\w*|spilt|pour\w*|went|spat|sprayed|shot|dripped|ran)",
        r"{sear}",
        r"(?:splash\w*|spill\w*|spilt|spat|poured) (?:\w+ )?(?:on|onto|over|all over) (?:me|my|him|her)"),
    # ------------------------------------------------------------------ injury
    cue("injury", 1.0, r"{cut} " + POSS + r" " + W + r"{0,1}" + BODY, r"{slice} " + POSS + r" " + W + r"{0,1}" + BODY,
        r"{gash}", r"{bleed}", r"blood", r"stitches", r"a ?& ?e", r"accident and emergency", r"emergency room",
        r"\ber\b", r"ambulance", r"paramedics?", r"hospital", r"concussion", r"{fracture}", r"{sprain}",
        r"{break} " + POSS + r" " + BONE, r"{crack} (?:a|my|his|her) " + BONE, r"in a (?:cast|sling|brace)",
        r"{hurt} " + POSS, r"{hurt} (?:my|his|her|their) " + BODY, r"badly {hurt}", r"(?:got|was|were|been|is|are|get) {hurt}",
        r"{injure}", r"injury", r"injuries", r"knocked (?:me |him |her )?(?:out|unconscious)", r"black eye",
        r"(?:hit|struck|whipped|smacked|caught|landed on|fell on|fell onto|toppled onto|on to|onto) " + POSS
        + r" " + W + r"{0,1}" + BODY, r"(?:hit|whipped|struck|poked|caught) (?:me|him|her) in the " + BODY,
        r"{trap} (?:my|his|her) " + BODY, r"(?:my|his|her) " + BODY + r" (?:got|was|were|is) (?:trapped|crushed|caught)",
        r"{crush} (?:my|his|her) " + BODY, r"(?:fell|fallen|falling) (?:and|down|off|over|through) " + W + r"{0,3}"
        r"(?:hurt|injur\w*|broke|bruis\w*|hospital|cut|hit|bang\w*)", r"{bruise}", r"doctor",
        r"\bgp\b", r"(?:eye |minor injuries |walk-in |urgent care )?clinic", r"urgent care", r"(?<![£$€.,\d])\b(?:999|911|111)\b(?![.,]\d)",
        r"(?:glass|shards?|splinters?|pieces?|nail|screw|staple|needle|spike)s? (?:of \w+ )?(?:went |got |is |are |was |stuck )?(?:in|into|stuck in|through|embedded in) "
        r"(?:my|his|her) " + BODY, r"(?:can|could)(?:n't| not| barely| hardly) (?:walk|move|stand|see|sit|use my \w+)",
        r"{dislocate}", r"(?:{smash}|{bang}|{whack}|{slam}|{twist}|{jar}) " + POSS + r" " + BODY, r"(?:nearly|almost) (?:lost|cut off|severed|took off) (?:a|my|his|her)", r"(?:knocked|broke|chipped|cracked|lost) (?:\w+ )?(?:my|his|her|a) (?:\w+ )?(?:tooth|teeth)", r"(?:tooth|teeth) (?:knocked )?out", r"{puncture} (?:my|his|her)", r"(?:lost|losing) (?:a|my|his|her) (?:tooth|teeth|nail|fingertip)"),
    cue("injury", 0.55, r"{cut}", r"sharp edge", r"{hurt}", r"painful", r"pain", r"{collapse} (?:under|on) (?:me|him|her)",
        r"{fold} (?:up )?on (?:me|him|her)", r"{topple} (?:over|onto|on)", r"{fall} on (?:me|him|her|top of)",
        r"{crush}", r"{trap}", r"sore", r"{sting}"),
    # ------------------------------------------------------------------ child or pet (harm words: see CHILD_HARM)
    # ------------------------------------------------------------------ allergic reaction
    cue("allergic_reaction", 1.0, r"allergic reaction", r"(?:had|having|got|a) (?:an? )?(?:bad |severe |nasty )?reaction",
        r"reaction to", r"anaphyla\w*", r"antihistamines?", r"epi-?pen", r"hives",
        r"(?:came|come|comes|coming|broke|break|breaking|broken) (?:out|up) in (?:a )?(?:\w+ )?(?:rash|hives|spots|welts|blisters|bumps|lumps|blotches)",
        BODY + r" (?:is |are |was |were |has |have |had |started |keep |)(?:all )?(?:{swell}|puffy|puffed up|{puff} up)",
        r"{swell} (?:up|shut)", r"(?:{puff}|puffy) (?:up)?", r"red raw", r"(?:itchy|itching|burning|stinging) (?:skin|rash|eyes|scalp|face|lips)",
        r"(?:skin|scalp|face|eyes?|lips|neck|cheeks|eyelids) (?:is|are|was|were) (?:red|itchy|burning|stinging|peeling|streaming|sore|raw|blotchy)",
        r"(?:made|makes|left) (?:my|his|her) " + BODY + r" " + W + r"{0,2}(?:{swell}|{blister}|{burn}|{itch}|{peel}|{sting}|red|raw|puffy)",
        r"{swell} " + W + r"{0,3}" + BODY, BODY + r" " + W + r"{0,3}{swell}",
        r"(?:throat|chest|airways?) (?:went|got|goes|is|was|felt|feels|closing|closed) (?:\w+ )?(?:tight|up|closing)",
        r"(?:can't|cannot|couldn't|struggl\w* to|hard to|difficulty) breath\w*", r"{wheeze}",
        r"(?:left|made|makes|leaving) (?:my|his|her) " + BODY + r" (?:\w+ )?(?:raw|weeping|oozing|red|sore|blotchy|bumpy|flaking|peeling|cracked)",
        BODY + r" (?:are|is|were|was|went|gone|look|looks) (?:\w+ )?(?:raw and|red and|weeping|oozing)"),
    cue("allergic_reaction", 0.55, r"covered in (?:red |itchy |angry )?\w+", r"{swell}", r"rash", r"{itch}", r"itchy", r"{peel}", r"streaming", r"blotch\w*",
        r"{sting}", r"puffy", r"bumps"),
    # ------------------------------------------------------------------ food poisoning
    cue("food_poisoning", 1.0, r"food poisoning", r"{poison}", r"{vomit}", r"{throw} up", r"diarrh?o?ea",
        r"stomach (?:bug|upset|cramps?|ache|pains?)", r"upset stomach", r"(?:been|being|was|were|got|felt|feel|feeling|fell) "
        r"(?:all |both |so )?(?:really |violently |so |very )?(?:sick|ill|poorly|unwell)(?! of)", r"sick (?:all|through) (?:night|the night|day)",
        r"made (?:me|him|her|us|them|my \w+) (?:really |so |very )?(?:ill|sick|poorly|unwell)", r"\bnause\w*",
        r"ended up (?:with|in) (?:a )?(?:stomach|hospital)", r"the runs", r"the trots", r"(?:belly|tummy|gut) ?(?:ache|bug|upset|pains?)",
        r"up all night (?:being )?(?:sick|ill)", r"on the (?:toilet|loo)(?: \w+)? (?:all|since|through)", r"(?:running|ran|back and forth) to the (?:toilet|loo)"),
    cue("food_poisoning", 0.55, r"rancid", r"cramps", r"mouldy", r"moldy", r"mould", r"mold", r"out of date", r"gone off", r"smelled off",
        r"something growing", r"{contaminate}", r"(?:glass|metal|plastic|hair) in the"),
    # ------------------------------------------------------------------ legal threat
    cue("legal_threat", 1.0, r"solicitors?", r"lawyers?", r"attorney", r"barrister", r"{sue}", r"legal (?:action|team|advice|"
        r"letter|proceedings|department|route|steps|claim)", r"legally", r"(?:in|to|at) court", r"small claims", r"(?:file|filing|filed|lodge|lodging|make|making|start|starting|bring|bringing) a small claim",
        r"trading standards", r"ombudsman", r"advertising standards", r"false(?:ly)? advertis\w*", r"misleading (?:advert\w*|ads?|claims?)", r"\basa\b", r"consumer (?:rights|protection)", r"citizens advice",
        r"(?:report|reporting|reported) (?:you|this|it|northwind|your company) to (?:the )?(?:police|authorit\w+|regulator|watchdog|\w+ standards|asa|cma|ico)\b",
        r"chargeback", r"letter before action", r"\bcourts?\b(?! ?(?:yard|shoes))", r"formal notice", r"illegal\w*",
        r"(?:breaking|broken|breaks|against|breach\w* of) the law", r"press charges", r"(?:to|going to|contact\w*|call\w*) the police",
        r"(?:consumer|data protection|competition|regulatory) (?:authority|regulator|body|watchdog|centre|center)",
        r"(?:report|reporting|reported) you to", r"breach of (?:contract|the \w+ act)", r"judge", r"lawsuit", r"{file} (?:a |an )?(?:claim|lawsuit|case|suit) against",
        r"claim against (?:you|northwind|your)", r"(?:statutory|legal) rights", r"section 75", r"{take} (?:you|this|northwind) to court"),
    # ------------------------------------------------------------------ fraud
    cue("fraud", 1.0, r"fraud\w*", r"{scam} (?:me|by)", r"(?:been|got|was|were|i've been|being) scammed", r"scammers? "
        r"(?:pretend\w*|posing|claiming|sent|is|are|texting|calling|emailing)", r"phis\w*ing", r"phising", r"{impersonate}",
        r"scam\w* (?:text|email|e-mail|call|message|link|site|website|sms|letter|voucher|caller)", r"(?:gift card|voucher|text|email|phone) scam\w*",
        r"(?:someone|somebody) (?:ordered|bought|paid|shopped) (?:\w+ )?(?:with|using) my (?:credit |debit |bank )?(?:card|details|paypal|account)",
        r"pay a fee to (?:claim|receive|get|release)", r"safe account", r"move (?:my |the |all my )?(?:money|savings|funds)", r"(?:pay|paid|enter|click) (?:\S+ ){0,3}(?:through|via|using|on|in) (?:a|the|this|that) link",
        r"(?:text|email|e-mail|message|call|caller|link|sms|letter|website|site)\b[^.?!]{0,80}[.,!]? ?(?:is|was) (?:this|that|it) (?:genuine|real|legit|legitimate|a scam|really you|from you)", r"owe (?:you|northwind|your company)(?: \w+)? money",
        r"(?:so-called|fake|bogus|pretend|supposed) (?:agent|rep|representative|seller|shop|staff|support|courier|customer service)",
        r"never existed", r"(?:order|orders|debt|purchase|parcel|account)s? (?:that |which )?(?:isn't|is not|wasn't|was not|aren't|are not) mine",
        r"(?:said|claimed|claiming|saying|says) (?:he|she|they) (?:was|were|is|are) (?:your|from (?:you|northwind|your))",
        r"(?:set up|opened|created|made) (?:a |an )?(?:northwind |new )?account (?:with|using|in) my (?:email|name|details|address)",
        r"(?:whatsapp|telegram|facebook|instagram|tiktok) (?:\w+ )?(?:took|taking|asked|wanted|sent|charged)",
        r"(?:didn't|did not|never) (?:place|make|submit) (?:this|that|these|those|the|an|any) orders?",
        r"pretend\w* to be (?:from )?(?:you|northwind|your)", r"claim\w* to be (?:from )?(?:you|northwind|your)",
        r"posing as", r"fake (?:email|website|site|text|sms|page|account|shop|call|message|invoice|link|northwind)",
        r"{steal} (?:card|credit card|bank card|identity|details)", r"(?:card|identity|details) (?:was |were |got |has been |have been )?{steal}",
        r"identity theft", r"{clone}", r"in my name", r"used my (?:card|bank|credit|details|identity|paypal)",
        r"asked (?:me )?for my (?:pin|password|bank|card|security|login)",
        r"(?:someone|somebody|a stranger|someone else) (?:is|has been|was|keeps|is still) using my (?:card|paypal|account|details|bank|identity|name)",
        r"(?:looks?|seems?|seemed|looked) (?:fake|dodgy|suspicious|like a scam|like phishing)", r"suspicious (?:text|email|call|message|link|sms)",
        r"is (?:this|that|it) (?:email|text|message|call|link) (?:real|genuine|legit|from you)", r"(?:order|orders) (?:on my account )?(?:i|that i) (?:never|didn't|did not) (?:place|make|order)",
        # orders or parcels the customer knows nothing of ("delivery notifications for stuff i haven't bought",
        # "30 orders that nobody in our office placed", "an order going to Lyon. I've never been to Lyon")
        r"(?:stuff|things|items|orders?|parcels?|packages?|deliveries|notifications?)\b[^.?!]{0,40}\b(?:i|we) (?:haven't|have not|never|didn't|did not) (?:bought|ordered|placed|made|asked for)",
        r"orders? (?:that |which )?(?:nobody|no one|no-one)\b[^.?!]{0,25}\b(?:placed|ordered|made)",
        r"(?:order|delivery|parcel|address)\b[^?!]{0,80}\bi've never (?:been|lived) (?:to|in|at)"),
    # ------------------------------------------------------------------ unauthorised charge
    cue("unauthorized_charge", 1.0,
        r"(?:didn't|did not|never) authori[sz]\w*", r"(?:not|un)authori[sz]ed", r"who authori[sz]ed", r"without (?:my )?(?:permission|consent|asking|authori[sz]ation)",
        r"(?:don't|do not|didn't) recogni[sz]e", r"unrecogni[sz]ed", r"unknown (?:payment|charge|transaction|debit|purchase)s?",
        r"never (?:shopped|ordered|bought|used|heard of)", r"(?:don't|do not|never) (?:have|had|made) an account",
        r"(?:didn't|did not|never) (?:buy|order|make|purchase)", r"nothing (?:from you|ordered)",
        r"after i cancel\w*", r"(?:still|keep|kept) (?:taking|charging|billing|debiting)",
        r"(?:renewed|charged|billed|took|taken|debited)\b[^.?!]{0,50}?\b(?:even though|although|despite|when) (?:i|we) (?:had |have |'d )?(?:already )?(?:cancel\w*|unsubscribed|ended|stopped)",
        r"(?:free trial|trial (?:was|is) (?:meant|supposed) to be free)\b[^.?!]{0,60}?\b(?:i was charged|i've been charged|i got charged|charged me|billed me|you took|you've taken|debited)",
        r"no idea what (?:it's |it is |this is |that is |this was |it was )?for", r"(?:what|who) is this (?:charge|payment|debit|transaction)",
        r"(?:don't|do not) know what (?:this|it|the charge|the payment) (?:is|was) for", r"(?:know|knew) nothing about",
        r"(?:no|zero) (?:knowledge|record|memory|recollection) of", r"not (?:something|anything) i (?:ordered|bought|signed up|agreed)",
        r"(?:never|didn't|did not) (?:sign|signed) up", r"(?:never|didn't|did not) agree(?:d)? to", r"(?:nobody|no one|no-one) (?:here |in (?:my|our) (?:house|family) )?(?:bought|ordered|purchased|made)"),
    # ------------------------------------------------------------------ account takeover
    cue("account_takeover", 1.0, r"{hack}", r"hackers?", r"taken over (?:my|the) account", r"{take} over (?:my|the) account",
        r"(?:someone|somebody|stranger|a stranger|someone else)(?:'s)? (?!(?:to|who can|that can|could|can) (?:reply|respond|answer|get back|help|look|call|"
        r"contact|talk|speak|check|sort|deal|read)\b)" + W + r"{0,4}(?:log\w* in|logged|account|password|email|login|details|access\w*|changed|taken|using|placing|placed)",
        r"(?:wasn't|was not|isn't|is not|not) (?:me|mine)", r"(?:didn't|did not) do (?:it|that|this)",
        r"(?:device|location|country|address|number|email|phone)s? (?:that )?(?:i|i've|isn't|aren't|is not|are not|i don't|i do not) "
        r"(?:don't |do not |never )?(?:recogni[sz]e|know|mine)", r"another country", r"stranger's", r"login alert",
        r"(?:isn't|is not|aren't|not) mine", r"{compromise}", r"{hijack}", r"account takeover",
        r"(?:didn't|did not|never) (?:request|ask for|asked for|reset|change|changed) (?:it|that|this|a reset|one)",
        r"(?:unknown|new|strange|unfamiliar|unrecogni[sz]ed|suspicious) (?:login|log-in|sign-in|device|location)s?",
        r"someone else (?:is|was|has been) (?:in|on|using|into) (?:it|my account)",
        r"(?:wasn't|was not|weren't|wasnt) (?:trying to|logging|signing|the one)",
        r"password (?:was|has been|had been|got) (?:changed|reset)", r"kicked out of (?:my|the) account",
        r"recovery (?:email|e-mail|phone|number|address) (?:was |has been |got )?(?:replaced|changed|removed|swapped)",
        r"(?:password|email|e-mail|address|login|account|details|pin) (?:change|reset|update|request)s? (?:that )?i (?:never|didn't|did not) (?:make|made|request|requested|ask|asked|do|did)", r"(?:address|email|e-mail|phone number|number|details|name) on my account "
        r"(?:was|were|has been|have been|got) (?:changed|switched|altered|swapped|replaced)", r"(?:haven't|have not|hadn't|never) (?:logged|signed) in (?:for|since|in)",
        r"(?:points|balance|credit|gift card|voucher|store credit)s? (?:have |has )?(?:been |all been |gone )?(?:all )?(?:spent|used|redeemed|emptied|drained|gone)"),
    cue("account_takeover", 0.5, r"password (?:stopped working|no longer works|doesn't work|was changed|has been changed|changed)",
        r"locked out", r"(?:can't|cannot|couldn't) (?:get into|log into|access|sign into) my account", r"strange orders",
        r"password (?:no longer|doesn't|does not|won't) work",
        r"(?:orders?|purchases?) (?:i|that i) (?:didn't|did not|never) (?:make|place|order)", r"email (?:was|has been) changed"),
    # ------------------------------------------------------------------ bereavement
    cue("bereavement", 1.0, FAMILY + r"(?:'s)? " + W + r"{0,3}(?:passed(?! (?:the|a|an|it|me|my|him|her|them|us|on the|over|by|out|through|your)\b)|died|{pass} away|death|funeral|{die})",
        r"{pass} away", r"late (?:" + FAMILY + r")", r"funeral", r"bereave\w*", r"condolences", r"death in the family",
        r"(?:after|since|following) (?:his|her|their|the) death", r"(?:lost|losing|lose) (?:my|our|his|her) " + FAMILY,
        r"(?:for|at|after) the wake", r"in memory of", r"memorial", r"{die} (?:in|last|recently|suddenly|this)"
        r"(?! (?:minutes?|seconds?|hours?))", r"(?:he|she) (?:died|passed)", r"(?:he|she)(?:'s| has) passed(?: on| now| away)?(?=[.,!?;]|$| and| last| recently| in| on)", r"widow\w*", r"rest in peace",
        r"(?:my|our) (?:\w+ )?(?:passed|died) (?:away|last|recently|suddenly|in|on)", r"{sort} out (?:my|her|his) \w+'s affairs",
        r"'s affairs", r"\w+(?:'s)? estate\b", r"executor", r"probate", r"stillb\w+", r"miscarr\w+", r"no longer with us",
        r"(?:isn't|is not|aren't) with us (?:any ?more)", r"deceased", r"next of kin", r"lost the baby",
        r"(?:took|taken|take) (?:his|her|their) own life", r"(?:he|she|they) (?:killed|hanged) (?:himself|herself|themselves)"),
    # ------------------------------------------------------------------ financial hardship
    cue("financial_hardship", 1.0, r"(?:lost|lose|losing) (?:my|our|his|her) (?:job|jobs|income|work)", r"made redundant",
        r"{redundancy}", r"redundant", r"evict\w*", r"(?:more than|beyond what) (?:i|we) can (?:afford|pay|manage)", r"nowhere to (?:live|go|stay|put (?:it|them|anything))",
        r"(?:can't|cannot|couldn't) (?:manage|afford|do) (?:the )?(?:\d+|two|three|four|five|six) (?:payments|instalments|installments)", r"(?:choose|choosing|chose|decide|deciding) between (?:heating|eating|food|rent|the rent|bills|heat)\b", r"heat or eat", r"unemployed", r"out of work", r"jobless", r"on benefits", r"universal credit",
        r"(?:housing|disability|child) benefit", r"bankrupt\w*", r"insolven\w*", r"debt relief", r"food ?banks?",
        r"financial (?:difficult\w*|hardship|trouble|problems?|struggles?)", r"(?:in|into) debt", r"debt collectors?",
        r"(?:can't|cannot|can not|unable to|couldn't) afford", r"barely afford", r"no money (?:left|for|at all)",
        r"money(?:'s| is) (?:very |really |so )?tight", r"hours (?:got |have been |were )?cut", r"{struggle} (?:to|with) (?:pay|money|bills|rent|afford|the payments)",
        r"behind (?:on|with) (?:my |the )?(?:payments|rent|bills|everything|instalments)", r"can't make (?:the|my|this) payments?",
        r"nothing (?:left )?for food", r"laid off", r"furlough\w*", r"(?:low|no|reduced|fixed|lost|tiny|small|limited|one) income", r"sick pay",
        r"(?:can't|cannot|unable to|won't be able to|couldn't|not able to) (?:make|afford|meet|manage|cover) (?:the|my|this|next|these|"
        r"this month's|next month's|any) (?:\w+ )?(?:payments?|instalments?|installments?|repayments?)", r"{lose} (?:my|our) (?:house|home)",
        r"(?:on|getting) (?:a )?(?:pension|jobseeker'?s)", r"(?:maternity|paternity|statutory|sick) pay", r"(?:can't|cannot|couldn't) stretch to",
        r"left me with (?:the |all the |a )?(?:debt|debts|bills|payments?|payment plan|finance|loan)", r"single income",
        r"(?:can't|cannot|couldn't|unable to) manage (?:it|them|the payments?|the plan|this)(?! (?:on|in|online|through|via))", r"{pause} (?:the|my) (?:payments?|instalments?|payment plan|plan|finance)"),
    cue("financial_hardship", 0.5, r"(?:can't|cannot|unable to|couldn't) (?:pay|keep up)", r"{struggle}", r"skint",
        r"broke (?:this|until)", r"(?:until|till|til) payday", r"payment (?:holiday|break)", r"spread the cost", r"rent", r"bills", r"single (?:mum|mom|parent|dad)",
        r"low (?:paid|wage)", r"pension"),
    # ------------------------------------------------------------------ distress
    cue("distress", 1.0, r"(?:can't|cannot|can not) cope", r"breaking point", r"(?:not|don't feel|do not feel|never feel) safe (?:at home|in my (?:own )?home|with (?:him|her|my partner))",
        r"(?:partner|husband|wife|boyfriend|girlfriend|ex) (?:checks|reads|controls|monitors|tracks|goes through) (?:my|all my)",
        r"(?:there's|theres|there is|is there|i see|see) (?:no|any) point (?:anymore|any more|in anything|to anything)",
        r"what'?s the point (?:of (?:anything|it all|trying|even trying|me)|anymore|any more)", r"panic attacks?", r"falling apart", r"in tears",
        r"(?:can't|cannot|couldn't) stop (?:crying|shaking|sobbing|panicking)", r"mental health", r"(?:a )?(?:bad|dark) place", r"broken me", r"(?:i'm|i am) not ok(?:ay)?",
        r"(?:can't|cannot) take (?:it |this |any ?)?(?:more|anymore|any more)", r"end of my tether", r"tipped me over",
        r"(?:so |completely |totally )?overwhelmed", r"(?:desperate|scared|terrified|frightened),? (?:and|i)",
        r"(?:i'm|i am) (?:so |really )?(?:desperate|terrified)(?! (?:for|to))", r"shaking and crying",
        r"(?:no ?one|nobody) to (?:help|turn to|talk to)", r"at my wits'? end",
        r"(?:can't|cannot) (?:handle|deal with|manage|bear) (?:this|it|any of this|things)? ?(?:any ?more|anymore)",
        r"getting on top of me", r"barely holding (?:it|myself|things) together", r"(?:haven't|have not|can't|cannot) (?:slept|sleep|eat|eaten) (?:in|for)",
        r"{sob}", r"anxiety", r"(?:can't|cannot) think straight", r"(?:i'm|i am|like i'm|like i am) (?:drowning|sinking|suffocating)", r"(?:i'm|i am) (?:such |a complete |an absolute )?a (?:wreck|mess)(?! (?:with|at))",
        r"(?:please )?(?:just )?make (?:this|it) (?:all )?stop", r"(?:can't|cannot) keep (?:doing|going on like) this", r"losing my mind", r"end of my rope",
        r"(?:i'm|i am) not coping", r"nervous breakdown"),
    cue("distress", 0.5, r"crying", r"shaking", r"scared", r"alone", r"(?:don't|do not) know what to do", r"{struggle}",
        r"last straw", r"desperate(?! (?:for|to))", r"please help", r"(?:really |very )?hard time", r"(?:completely |totally )lost",
        r"(?:i'm|i am) lost", r"(?:nobody|no one|no-one) (?:will|wants to|is willing to|cares|seems to) (?:help|listen|care)", r"(?:i'm|i am) (?:really |completely |totally )?(?:broken|shattered|devastated|heartbroken)",
        r"(?:i'm|i am) done", r"homeless", r"nowhere to (?:live|go|stay|sleep)"),
    # someone at home hurts them ("my mum hits me when parcels come")
    cue("distress", 1.0, r"(?:mum|mom|mother|dad|father|partner|husband|wife|boyfriend|girlfriend|ex|he|she) (?:hits|beats|slaps|kicks|hurts|chokes) me"),
    # the warning signs of suicide told as plans (giving things away, not being around, a goodbye): weak
    # alone ("I won't be around on Tuesday"), a case when the reading by meaning agrees (bot/classify/safety.py)
    cue("self_harm", 0.5, r"(?:won't|will not|wont) be (?:around|here)", r"giving (?:\w+ ){0,2}(?:things|stuff|everything|belongings|it all) away",
        r"(?:doesn't|does not|don't|won't) (?:really )?matter (?:anymore|any more)", r"nothing (?:really )?matters", r"goodbye (?:kind of thing|present|gift)",
        r"(?:won't|will not|wont) need (?:it|them|any of it|anything) (?:anymore|any more|now|after)", negatable=False),
    # ------------------------------------------------------------------ self-harm
    cue("self_harm", 1.0, r"end it all", r"{end} my (?:own )?life", r"kill(?:ing)? myself", r"take my (?:own )?life",
        r"suicid\w*", r"self[- ]harm\w*", r"{hurt} myself", r"{harm} myself", r"(?:don't|do not) want to (?:be alive|live|"
        r"be here|exist|wake up)", r"want to die", r"wish i (?:was|were) dead", r"better (?:off )?without me", r"(?:can't|cannot|couldn't) keep (?:living|going|on living)",
        r"(?:no|any) point (?:in )?(?:living|going on|carrying on|being alive)", r"see the point (?:in|of) (?:going on|carrying on|living|anything|it all|any of it|being here)",
        r"(?:written|writing|wrote|left|leaving) (?:\w+ )?(?:goodbye )?(?:letters?|notes?) (?:for|to) (?:everyone|everybody|all of them|my family|my kids|the kids)",
        r"disappear (?:for good|forever)", r"(?:can't|cannot) go on", r"not (?:be|being) (?:here|around) anymore",
        r"want (?:it|everything) (?:all )?to stop", r"nothing to live for", r"overdose",
        r"(?:no|any|what's the) (?:reason|point) (?:to|in|of) (?:keep(?:ing)? going|keep(?:ing)? living|liv\w+|go(?:ing)? on|carry(?:ing)? on|being here|wak\w+ up|any of it)",
        r"(?:thought|thinking|think) about (?:hurting|harming|killing|ending) (?:myself|it)",
        r"pills (?:lined up|ready|saved|counted)", r"(?:what|something) (?:i'll|i will|i might|i'd) do to myself",
        r"(?:planning|plan|going|want|tempted) to (?:end|take) (?:it|my life|my own life)", r"(?:won't|will not|wont|not going to) be (?:around|here|alive) (?:much longer|for much longer|any ?more|for long|to (?:use|enjoy|need) (?:it|them|this|the refund))",
        r"(?:won't|will not|wont) need (?:it|this|them|anything|any of it) where i'm going", r"where i'm going (?:i won't|i will not|there's no)",
        r"(?:done|finished) with (?:life|living|everything|it all)", r"{end} everything", r"(?:life|living) (?:isn't|is not|ain't|is no longer) worth",
        r"not worth living", r"goodbye (?:forever|cruel|everyone)", r"{end} things", r"not wake up",
        negatable=False),
)

CHILD_HARM = _rx(r"{swallow}", r"{choke}", r"{gag}", r"in (?:his|her|their|its) mouth", r"(?:ate|eaten|eat|chewed off|bit off) "
                 r"(?:a (?:piece|bit|part|chunk)|some of|part|piece|bit|one of|the (?:stuffing|filling|battery|batteries|magnet|beads?|button|string|cord|cable))", r"{drink} (?:some|the|a)", r"{trap}", r"{strangle}", r"tangled",
                 r"{fall} (?:down|off|out|from|through)", r"{hurt}", r"{injure}", r"{bleed}", r"blood", r"{cut}",
                 r"rash", r"{swell}", r"{burn}", r"{scald}", r"(?:being|been|was|is) sick", r"{vomit}", r"{throw} up",
                 r"\bvet\b", r"vets", r"hospital", r"a ?& ?e", r"doctor", r"{poison}", r"button batter\w*", r"magnets?",
                 r"{shock}", r"{electrocute}", r"not breathing", r"turned blue", r"surgery", r"ambulance", r"{bruise}",
                 r"{pinch}", r"{crush}", r"stuck (?:in|round|around) (?:his|her|its) (?:neck|throat|nose|ear)", r"{drown}",
                 r"went under", r"under the water", BODY + r"s? (?:got |was |were |is |are )?(?:stuck|wedged|jammed|caught|trapped)", r"{drool}",
                 r"(?:not|stopped|won't|isn't) eating", r"(?:very |really |so )?(?:unwell|lethargic|poorly)", r"\bill\b",
                 r"up (?:his|her|their|its) nose", r"in (?:his|her|their|its) (?:ear|nose|eye)", r"{lick} (?:the|some|a)", r"(?:wrapped|caught|tangled|stuck|twisted|wound) (?:round|around) (?:his|her|its|their) (?:neck|throat)", r"(?:can't|couldn't|stopped) breath\w*", r"limping", r"{rush} to")
CHILD_CTX = re.compile(r"\b(?:" + CHILD + "|" + PET + r")\b")
SURPRISE = re.compile(r"\bshock(?:ed|ing)?\b\s+(?:at|by|how|to see|that|seeing|with)|\bshocking\b|"
                      r"\b(?:bit of a|such a|what a|quite a|real) shock\b(?!\s+(?:off|from|when i touch))|"
                      r"\bshock\b\s+(?:when|as) (?:i|we) (?:saw|see|opened|looked|read|checked)|\bshock\b\s+(?:at|seeing) the (?:price|bill|cost|size|total)|"
                      r"\bshocked\b(?!\s+(?:me|him|her|us))")
# a battery that swells is a fire risk, not an allergic reaction: read as "bulging" before the cues run
DEVICE_SWELLING = re.compile(r"\b((?:batter(?:y|ies)|power ?banks?)\b(?:\W+\w+){0,6}?\W+)(?:swollen|swelled|swelling|swells?)(?: up)?\b")
FIGURATIVE = re.compile(r"\b(?:killing it|dying (?:to|for)|died laughing|(?:will|gonna|going to) (?:kill|murder) me|"
                        r"(?:battery|phone|laptop|kettle|lamp|torch|charger|it) (?:has |had |just )?died|dead on arrival|"
                        r"(?:burn(?:ed|t)?|burning) (?:through|to disc|a hole in my pocket)|this jacket is fire|is fire\b|"
                        r"got burned by (?:a|the) (?:courier|seller|shop|company)|wallet is crying|"
                        r"(?:die|died|dying) (?:of|from) (?:embarrassment|shame|laughter|laughing|boredom|cringe|curiosity)|to die for)")
