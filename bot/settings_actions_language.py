"""The actions' words in another language: the files `language.actions` names (examples/actions.de.yaml).

Only words, never what an action does: each action's questions (`params.<name>.ask`), its confirmation,
buttons and the reply to a no (`confirm`, `confirm_buttons`, `cancel_reply`), its replies (`reply.ok`,
`not_found`, `rejected`, `failed`) and what the customer reads around an approval (`approval.waiting`,
`denied`). Patterns, calls and limits stay in supportbot.yaml. `texts:` holds the words every action
shares in the language: the "didn't catch that", the request to answer with a button, the apology when
something broke, the answers that mean yes, no or "never mind", and the built-in replies (not_found, ...)
for the actions that keep the default ones.

Checked at load, every problem of a file at once, each naming the file and key: the action and its
parameters exist in supportbot.yaml, a confirmation or approval is translated only where the action has
one, every template parses and uses the same placeholders ({{ result.number }}, {{ params.postcode }}) as
the default language's text it translates. What a file leaves out is said in the default language, after
`language.unavailable` (bot/actions/words.py picks the words).
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Iterable

from jinja2 import TemplateSyntaxError, nodes
from pydantic import ValidationError, ValidationInfo, field_validator

from bot.settings_actions import _JINJA, Action, Approval, Replies, templates
from bot.settings_files import ConfigError, _read_yaml
from bot.settings_policy import Strict

REPLY_KEYS = ("ok", "not_found", "rejected", "failed")
# the default language's shared words (a file's `texts:` gives them in its language)
DIDNT_CATCH = "Sorry, I didn't catch that."
ANSWER_BUTTONS = "Please answer '{yes}' or '{no}'."
WENT_WRONG = "Sorry, something went wrong on our side and nothing has been changed. A person from our team can help."
CANCEL_REPLY = str(Action.model_fields["cancel_reply"].default)


class ParamWords(Strict):
    ask: str  # the question for the value, in this language


class ReplyWords(Strict):
    ok: str | None = None
    not_found: str | None = None
    rejected: str | None = None
    failed: str | None = None

    _parses = templates(*REPLY_KEYS)


class ApprovalWords(Strict):
    waiting: str | None = None
    denied: str | None = None

    _parses = templates("waiting", "denied")


class ActionWords(Strict):
    """One action's words in this language; what is not given is said in the default language."""

    params: dict[str, ParamWords] = {}
    confirm: str | None = None
    confirm_buttons: tuple[str, str] | None = None
    cancel_reply: str | None = None
    reply: ReplyWords = ReplyWords()
    approval: ApprovalWords | None = None

    _parses = templates("confirm")


class SharedWords(Strict):
    """What every action says in this language."""

    didnt_catch: str | None = None  # before a question asked again: "Sorry, I didn't catch that."
    answer_buttons: str | None = None  # after a confirmation asked again: "Please answer '{yes}' or '{no}'."
    went_wrong: str | None = None  # when even the failed reply could not be written
    # (not `yes:` / `no:`, which YAML reads as true / false)
    yes_answers: list[str] = []  # answers that mean yes to a confirmation ("ja", "ja bitte"), besides its first button
    no_answers: list[str] = []  # ... and no ("nein", "nein danke"), besides its second button
    cancel_answers: list[str] = []  # answers that leave a form at any question ("vergiss es", "abbrechen")
    # the replies of the actions that keep the built-in ones (supportbot.yaml does not set them)
    not_found: str | None = None
    rejected: str | None = None
    failed: str | None = None
    cancel_reply: str | None = None
    waiting: str | None = None  # approval.waiting
    denied: str | None = None  # approval.denied
    # how the replies' `day` and `money` filters write: "Dienstag, 1. Dezember", "1.250,00"
    weekdays: str | None = None  # seven names, Monday first
    months: str | None = None  # twelve names, January first
    day: str | None = None  # "{weekday}, {day}. {month}" (English: "{weekday} {day} {month}")
    decimal: str | None = None  # ","
    thousands: str | None = None  # "."

    _parses = templates("not_found", "rejected", "failed", "waiting", "denied")

    @field_validator("weekdays", "months")
    @classmethod
    def _names(cls, v: str | None, info: ValidationInfo) -> str | None:
        want = 7 if info.field_name == "weekdays" else 12
        if v is not None and len(v.split()) != want:
            raise ValueError(f"{want} names separated by spaces, got {len(v.split())}")
        return v

    @field_validator("day")
    @classmethod
    def _day(cls, v: str | None) -> str | None:
        if v is not None and "{day}" not in v:
            raise ValueError("write {day} for the day of the month, and {weekday} and {month} for the names")
        return v


class ActionsFile(Strict):
    actions: dict[str, ActionWords] = {}
    texts: SharedWords = SharedWords()


def placeholders(template: str) -> set[str]:
    """The values a Jinja2 template reads: "result.number", "params.order_number", "note"."""
    found: set[str] = set()

    def walk(node: nodes.Node) -> None:
        if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
            found.add(f"{node.node.name}.{node.attr}")
            return
        if isinstance(node, nodes.Name) and node.ctx == "load":
            found.add(node.name)
            return
        for child in node.iter_child_nodes():
            walk(child)

    walk(_JINJA.parse(template))
    return found


def _same_placeholders(key: str, translated: str | None, default: str) -> list[tuple[str, str]]:
    if translated is None:
        return []
    try:
        theirs, ours = placeholders(translated), placeholders(default)
    except TemplateSyntaxError:  # reported by the model's own check
        return []
    if extra := sorted(theirs - ours):
        return [(key, f"uses {{{{ {extra[0]} }}}}, which the default language's text does not "
                      f"(it uses: {', '.join(sorted(ours)) or 'none'})")]
    if left_out := sorted(ours - theirs):
        return [(key, f"leaves out {{{{ {left_out[0]} }}}}, which the default language's text gives")]
    return []


def _check_action(name: str, words: ActionWords, action: Action) -> list[tuple[str, str]]:
    at, errors = f"actions.{name}", list[tuple[str, str]]()
    for param in words.params:
        if param not in action.params:
            errors.append((f"{at}.params.{param}", f"action {name!r} has no parameter {param!r} "
                           f"(it has: {', '.join(action.params) or 'none'})"))
    for key in ("confirm", "confirm_buttons"):
        if getattr(words, key) is not None and action.confirm is None:
            errors.append((f"{at}.{key}", f"action {name!r} asks no confirmation in supportbot.yaml"))
    if words.confirm is not None and action.confirm is not None:
        errors += _same_placeholders(f"{at}.confirm", words.confirm, action.confirm)
    for key in REPLY_KEYS:
        errors += _same_placeholders(f"{at}.reply.{key}", getattr(words.reply, key), getattr(action.reply, key))
    if words.approval is not None:
        if action.approval is None:
            errors.append((f"{at}.approval", f"action {name!r} has no approval in supportbot.yaml"))
        else:
            for key in ("waiting", "denied"):
                errors += _same_placeholders(f"{at}.approval.{key}", getattr(words.approval, key),
                                             getattr(action.approval, key))
    return errors


def _check_shared(texts: SharedWords) -> list[tuple[str, str]]:
    errors = []
    for key in ("not_found", "rejected", "failed"):
        errors += _same_placeholders(f"texts.{key}", getattr(texts, key), str(Replies.model_fields[key].default))
    for key in ("waiting", "denied"):
        errors += _same_placeholders(f"texts.{key}", getattr(texts, key), str(Approval.model_fields[key].default))
    if texts.answer_buttons is not None:
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(texts.answer_buttons) if f is not None}
        except ValueError as e:
            return [*errors, ("texts.answer_buttons", f"bad braces: {e}")]
        if unknown := sorted(fields - {"yes", "no"}):
            errors.append(("texts.answer_buttons", f"unknown placeholder {{{unknown[0]}}}; known: no, yes"))
    return errors


def _validation_errors(err: ValidationError) -> list[tuple[str, str]]:
    return [(".".join(str(p) for p in e["loc"]), "unknown key" if e["type"] == "extra_forbidden"
             else e["msg"].removeprefix("Value error, ")) for e in err.errors()]


def read_actions_file(path: Path, actions: dict[str, Action]) -> ActionsFile:
    """One language's file, checked against the actions of supportbot.yaml; a ConfigError names every problem."""
    try:
        words = ActionsFile.model_validate(_read_yaml(path))
    except ValidationError as e:
        (key, reason), *more = _validation_errors(e)
        raise ConfigError(path, key, reason, more) from None
    errors = []
    for name, action_words in words.actions.items():
        if name not in actions:
            errors.append((f"actions.{name}", f"no action named {name!r} in supportbot.yaml "
                           f"(it has: {', '.join(actions) or 'none'})"))
        else:
            errors += _check_action(name, action_words, actions[name])
    errors += _check_shared(words.texts)
    if errors:
        (key, reason), *more = errors
        raise ConfigError(path, key, reason, more)
    return words


def read_actions_files(files: Iterable[tuple[str, Path]], actions: dict[str, Action]) -> dict[str, ActionsFile]:
    """language -> its actions file, for `language.actions` (paths already made absolute)."""
    return {code: read_actions_file(path, actions) for code, path in files}
