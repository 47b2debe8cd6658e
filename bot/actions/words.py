"""What an action says, in the customer's language: its words from the language's actions file
(`language.actions`, bot/settings_actions_language.py), each falling back to the default language's.

`Words.said` is the language the step's text is written in: the customer's when every piece came from
their file, else None, so the respond step puts `language.unavailable` before a reply that is partly
in the default language. Also here: reading a yes, a no or a "never mind" in that language.
"""

from __future__ import annotations

from typing import Any

from bot.actions.reply import ENGLISH, Formats, render_reply
from bot.settings import Settings
from bot.settings_actions import Action, Approval, Replies
from bot.settings_actions_language import (ANSWER_BUTTONS, CANCEL_REPLY, DIDNT_CATCH, WENT_WRONG, ActionsFile,
                                           ActionWords, SharedWords)


def _plain(text: str) -> str:
    """"Ja, bitte!" -> "ja bitte": how a customer's short answer is compared with the configured ones."""
    return " ".join(text.lower().replace(",", " ").split()).strip(" .!?¡¿")


class Words:
    def __init__(self, settings: Settings, name: str, language: str = ""):
        self.action: Action = settings.actions[name]
        found: ActionsFile | None = None
        if language and language != settings.language.default:
            found = settings.action_words.get(language) or ActionsFile()  # no file: everything falls back
        self.file = found
        self.language = language if found is not None else ""
        self.own: ActionWords = found.actions.get(name, ActionWords()) if found else ActionWords()
        self.shared: SharedWords = found.texts if found else SharedWords()
        self.missed: list[str] = []  # the pieces said in the default language

    @property
    def foreign(self) -> bool:
        return self.file is not None

    @property
    def said(self) -> str | None:
        return self.language if self.language and not self.missed else None

    def _pick(self, key: str, own: str | None, shared: str | None, default: str, customised: bool) -> str:
        """Its own translation, else (for a text the action keeps at the built-in default) the file's shared
        one, else the default language's, noted as missed."""
        if own:
            return own
        if shared and not customised:
            return shared
        if self.foreign:
            self.missed.append(key)
        return default

    def ask(self, param: str) -> str:
        own = self.own.params.get(param)
        return self._pick(f"params.{param}.ask", own.ask if own else None, None, self.action.params[param].ask, True)

    def didnt_catch(self) -> str:
        return self._pick("texts.didnt_catch", self.shared.didnt_catch, None, DIDNT_CATCH, True)

    def answer_buttons(self, buttons: tuple[str, str]) -> str:
        text = self._pick("texts.answer_buttons", self.shared.answer_buttons, None, ANSWER_BUTTONS, True)
        return text.replace("{yes}", buttons[0]).replace("{no}", buttons[1])

    def went_wrong(self) -> str:
        return self._pick("texts.went_wrong", self.shared.went_wrong, None, WENT_WRONG, True)

    def confirm(self) -> str | None:
        if self.action.confirm is None:
            return None
        return self._pick("confirm", self.own.confirm, None, self.action.confirm, True)

    def buttons(self) -> tuple[str, str]:
        own = self.own.confirm_buttons
        if own:
            return own
        if self.foreign:
            self.missed.append("confirm_buttons")
        return self.action.confirm_buttons

    def cancel_reply(self) -> str:
        return self._pick("cancel_reply", self.own.cancel_reply, self.shared.cancel_reply, self.action.cancel_reply,
                          self.action.cancel_reply != CANCEL_REPLY)

    def reply(self, status: str) -> str:
        """The reply template for a call's status: ok, not_found, rejected, failed."""
        default: str = getattr(self.action.reply, status)
        shared = getattr(self.shared, status, None) if status != "ok" else None
        return self._pick(f"reply.{status}", getattr(self.own.reply, status), shared, default,
                          default != Replies.model_fields[status].default)

    def approval(self, key: str) -> str:
        """approval.waiting or approval.denied."""
        assert self.action.approval is not None
        own = getattr(self.own.approval, key) if self.own.approval is not None else None
        default: str = getattr(self.action.approval, key)
        return self._pick(f"approval.{key}", own, getattr(self.shared, key), default,
                          default != Approval.model_fields[key].default)

    def formats(self) -> Formats:
        """How this language writes dates and amounts (what the file does not say: as in English)."""
        t = self.shared
        return Formats(weekdays=tuple(t.weekdays.split()) if t.weekdays else ENGLISH.weekdays,
                       months=tuple(t.months.split()) if t.months else ENGLISH.months, day=t.day or ENGLISH.day,
                       decimal=t.decimal or ENGLISH.decimal, thousands=t.thousands if t.thousands is not None
                       else ENGLISH.thousands)

    def render(self, template: str, result: Any, values: dict[str, str], **more: Any) -> str:
        """A reply template filled in, its dates and amounts written the language's way."""
        return render_reply(template, result, values, **more, _formats=self.formats())

    def confirmation(self, text: str) -> bool | None:
        """True for a yes in this language (or its first button), False for a no (or the second), else None."""
        plain, buttons = _plain(text), self.own.confirm_buttons or ("", "")
        if plain and (plain == _plain(buttons[0]) or plain in {_plain(w) for w in self.shared.yes_answers}):
            return True
        if plain and (plain == _plain(buttons[1]) or plain in {_plain(w) for w in self.shared.no_answers}):
            return False
        return None

    def is_cancel(self, text: str) -> bool:
        """A "never mind" in this language."""
        plain = _plain(text)
        return bool(plain) and plain in {_plain(w) for w in self.shared.cancel_answers}
