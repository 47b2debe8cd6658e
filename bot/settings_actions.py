"""The `actions:` and `apps:` sections of supportbot.yaml: what the bot may do on the shop's data
(look up an order, start a return) and the shop apps `serve` mounts beside it (the demo order API).

An action is declared, not coded: which intents use it, the parameters it needs (each found in the
message by a pattern, or asked for), one HTTP call (secrets by the name of an environment variable,
never in the file), and Jinja2 templates that turn the JSON answer into the reply. bot/actions/ runs
them; bot/settings.py holds the rest of the configuration.
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any, Callable, Iterable, Literal

from jinja2 import Environment, TemplateSyntaxError
from pydantic import Field, field_validator, model_validator

from bot.settings_policy import Strict

IDENT = re.compile(r"^[a-z][a-z0-9_]*$")
_JINJA = Environment()  # syntax only; bot/actions/reply.py renders in a sandbox


def templates(*fields: str) -> Any:
    """A validator of `fields`, each a Jinja2 template that must parse (or None): a template that does not
    is a config error naming the key, not a reply that fails. Used as `_parses = templates("ok", ...)`."""

    def parses(cls: type, v: str | None) -> str | None:
        return _template(v) if v is not None else None

    return field_validator(*fields)(classmethod(parses))


class Param(Strict):
    """One value the action needs, e.g. an order number: found in the message, else asked for."""

    # where the value is in any message ("NW-48213" anywhere); the first group, when there is one, is the value
    pattern: str | None = None
    # where it is in the answer to its own question (default: pattern): looser, e.g. bare digits, or a
    # postcode, which is looked for only when asked so a year in "ordered in 2024" is not read as one
    when_asked: str | None = None
    value: str = "{0}"  # how the found text is written for the call: "NW-{1}" (groups), "{0}" the whole match
    upper: bool = False  # write the value in capitals ("sw1a 1aa" -> "SW1A 1AA")
    ask: str  # the question when it is missing: "What's your order number? It starts with NW-"
    masked: bool = True  # shown as "SW1***" in the audit row (action_calls.params): personal data

    @field_validator("pattern", "when_asked")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        try:
            if v is not None:
                re.compile(v)
        except re.error as e:
            raise ValueError(f"not a regular expression: {e}") from None
        return v

    @model_validator(mode="after")
    def _a_pattern(self) -> "Param":
        if self.pattern is None and self.when_asked is None:
            raise ValueError("give pattern (found in any message) or when_asked (in the answer to ask), or both")
        return self


class Http(Strict):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    # {param} for the parameters (URL-quoted), {self_url} for where supportbot serves its mounted apps,
    # and the company variables: "{self_url}/demo-shop/orders/{order_number}?postcode={postcode}"
    url: str
    headers: dict[str, str] = {}  # plain headers
    headers_env: dict[str, str] = {}  # header -> the environment variable holding its value (a key, a token)
    json_body: dict[str, str] | None = None  # POST/PUT/PATCH: field -> "{param}" template
    timeout_s: float = Field(5.0, gt=0, le=60)
    retries: int = Field(1, ge=0, le=5)  # on a timeout, a refused connection or a 5xx

    @field_validator("headers_env")
    @classmethod
    def _env_names(cls, v: dict[str, str]) -> dict[str, str]:
        for header, env in v.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", env):
                raise ValueError(f"{header}: {env!r} is not an environment variable name")
        return v


class Replies(Strict):
    """Jinja2 templates over `result` (the JSON answer) and `params`; `day` formats an ISO date."""

    ok: str  # a 2xx answer
    # 404, and a 403 (the second factor did not match): the same words, so a stranger learns nothing
    not_found: str = ("I couldn't find an order with those details. Please check the order number and the "
                      "postcode on the order, or ask for a person.")
    # another 4xx: the shop said no (already shipped, already returned); `result` is its JSON answer
    rejected: str = ("Sorry, I can't do that for this order{% if result.reason %}: {{ result.reason }}{% endif %}. "
                     "A person from our team can look at it with you if you like.")
    failed: str = ("Sorry, I can't reach our order system right now, so nothing has been changed. "
                   "Please try again in a few minutes, or ask for a person.")

    _parses = templates("ok", "not_found", "rejected", "failed")


class Approval(Strict):
    """A write whose amount may be over what the bot decides alone (a refund over guardrails.refund_limit):
    over the limit it waits for an agent's Approve or Deny (console, Slack card), and the customer is told.
    The templates see `params`, `lookup` (the JSON of the action's lookup) and `amount`; `denied` also `note`."""

    amount: str  # a template giving the amount as a number: "{{ lookup.total_eur }}"
    over: float | None = Field(None, ge=0)  # the limit (default: guardrails.refund_limit)
    reason: str = "{{ amount }} is over the limit of {{ limit }}"  # what agents read on the card
    waiting: str = ("This is more than I can approve on my own, so I've asked a colleague to check it. "
                    "Nothing has been changed yet.")
    denied: str = ("A colleague looked at your request and couldn't approve it{% if note %}: {{ note }}{% endif %}. "
                   "Nothing has been changed. Reply here if you'd like to talk it through.")

    _parses = templates("amount", "reason", "waiting", "denied")


class Action(Strict):
    description: str  # what it does, for people (and, later, as the LLM tool's description)
    intents: list[str] = Field(min_length=1)  # the intents that use it
    params: dict[str, Param] = {}  # asked for in this order
    # a read before the confirmation (GET): its JSON answer is `lookup` in confirm, approval and reply
    # ("Refund €{{ lookup.total_eur }} for order ...?"); not found or failed ends the action with that reply
    lookup: Http | None = None
    http: Http
    reply: Replies
    approval: Approval | None = None  # over a limit, the write waits for an agent's Approve / Deny
    # always: the intent starts the action (asking for what is missing); with_value: only a message that
    # already holds one of its values does ("return NW-50118"), others get the intent's canned answer
    start: Literal["always", "with_value"] = "always"
    # a write the customer says yes to first: a Jinja2 template over `params` ("Cancel order {{ params.order_number }}?")
    confirm: str | None = None
    confirm_buttons: tuple[str, str] = ("Yes", "No")
    cancel_reply: str = "No problem, I've left it. Anything else I can help with?"
    max_asks: int = Field(2, ge=1, le=5)  # a value asked for this many times and not given: a person takes over

    _confirm_parses = templates("confirm")

    @field_validator("params")
    @classmethod
    def _names(cls, v: dict[str, Param]) -> dict[str, Param]:
        for name in v:
            if not IDENT.fullmatch(name):
                raise ValueError(f"{name!r}: parameter names are lower-case words (a-z, 0-9, _)")
        return v


class MountedApp(Strict):
    """A shop app `serve` serves beside the bot: a Python file defining create_app() -> aiohttp.web.Application."""

    path: str  # URL prefix: "/demo-shop"
    file: str  # relative to the config: "shop_api.py"

    @field_validator("path")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not re.fullmatch(r"/[a-z0-9][a-z0-9_-]*", v):
            raise ValueError("a URL prefix like /demo-shop (lower case, one segment)")
        return v


def _template(text: str) -> str:
    """A template that does not parse is a config error naming the key, not a reply that fails."""
    try:
        _JINJA.parse(text)
    except TemplateSyntaxError as e:
        raise ValueError(f"template error on line {e.lineno}: {e.message}") from None
    return text


def _fields(where: str, text: str) -> list[str]:
    try:
        return [f for _, f, _, _ in string.Formatter().parse(text) if f]
    except ValueError as e:
        raise ValueError(f"{where}: bad braces: {e}") from None


def config_errors(actions: dict[str, Action], apps: list[MountedApp], intents: Iterable[str],
                  variables: Iterable[str], resolve: Callable[[str], Path]) -> list[tuple[str, str]]:
    """(key, reason) for what the models cannot check alone: the intents exist, one action per intent,
    the URL's placeholders are known, the apps' files exist. `resolve` makes a config path absolute."""
    errors: list[tuple[str, str]] = []
    known_intents, owner = set(intents), dict[str, str]()
    for name, action in actions.items():
        if not IDENT.fullmatch(name):
            errors.append((f"actions.{name}", "action names are lower-case words (a-z, 0-9, _)"))
        for i, intent in enumerate(action.intents):
            if intent not in known_intents:
                errors.append((f"actions.{name}.intents.{i}", f"unknown intent {intent!r}"))
            elif intent in owner:
                errors.append((f"actions.{name}.intents.{i}", f"intent {intent!r} already uses action {owner[intent]!r}"))
            owner.setdefault(intent, name)
        known = set(action.params) | {"self_url"} | set(variables)
        texts = [("http.url", action.http.url), *((f"http.json_body.{k}", t) for k, t in (action.http.json_body or {}).items())]
        if action.lookup is not None:
            texts += [("lookup.url", action.lookup.url)]
            if action.lookup.method != "GET":
                errors.append((f"actions.{name}.lookup.method", "a lookup reads: GET"))
        for where, text in texts:
            try:
                unknown = sorted(set(_fields(where, text)) - known)
            except ValueError as e:
                errors.append((f"actions.{name}.{where}", str(e).partition(": ")[2]))
                continue
            if unknown:
                errors.append((f"actions.{name}.{where}", f"unknown placeholder {{{unknown[0]}}}; known: "
                               f"{', '.join(sorted(known))}"))
    for i, app in enumerate(apps):
        if not resolve(app.file).is_file():
            errors.append((f"apps.{i}.file", f"{resolve(app.file)}: file not found"))
    return errors
