"""The shop's actions offered to the LLM as tools (issue 17): their specs, and running one call.

A tool call is trusted no more than the customer's own words. Its arguments go through each
parameter's pattern (the one for an answer to its question) after the redaction is undone on them,
and the action runs through the same step as a form: a value still missing is asked for, a write
with `confirm` asks the customer first, an amount over its limit waits for an agent. Those take over
the reply (the model's answer is not used). A call made gives the model its outcome, the action's
reply text with personal data redacted, to answer from. One action call per message.
"""

from __future__ import annotations

from typing import Any, Protocol

from bot.actions import form
from bot.actions.runner import Actions, Step
from bot.llm.answer import ToolOutcome
from bot.llm.types import ToolCall, ToolSpec
from bot.messages import ActionRecord
from bot.pipeline import guardrails
from bot.settings import Settings

class CallContext(Protocol):
    """What a tool call needs of the message being answered (bot/pipeline/respond.py Context has it)."""

    text: str
    redaction: guardrails.Redaction
    message_id: int | None
    channel: str
    customer_id: str
    key: str
    language: str  # the customer's language ("" or language.default: the default's)


MAX_ARGUMENT = 200  # characters of one argument that are read


def tool_specs(settings: Settings) -> tuple[ToolSpec, ...]:
    """Every action as a tool: its description, and its parameters as strings described by their question."""
    return tuple(ToolSpec(name, action.description, {
        "type": "object",
        "properties": {p: {"type": "string", "description": param.ask[:300]} for p, param in action.params.items()},
        "required": [],
        "additionalProperties": False,
    }) for name, action in settings.actions.items())


class ToolRunner:
    """Runs the model's tool calls for one message; afterwards `took_over` (a step that now talks to the
    customer) or `record` (the call made) say what happened."""

    def __init__(self, settings: Settings, actions: Actions, ctx: CallContext):
        self.settings, self.actions, self.ctx = settings, actions, ctx
        self.took_over: Step | None = None
        self.record: ActionRecord | None = None
        self.calls: list[str] = []  # "order_status: ok", for the decision's reason

    def values(self, name: str, arguments: dict[str, Any]) -> dict[str, str]:
        """The arguments that pass their parameter's pattern, written as the action writes them."""
        action, out = self.settings.actions[name], {}
        for p, param in action.params.items():
            raw = arguments.get(p)
            if isinstance(raw, (str, int, float)) and not isinstance(raw, bool) and str(raw).strip():
                found = form.find(param, self.ctx.redaction.restore(str(raw))[:MAX_ARGUMENT], asked=True)
                if found is not None:
                    out[p] = found[0]
        return out

    async def __call__(self, call: ToolCall) -> ToolOutcome:
        action = self.settings.actions.get(call.name)
        if action is None:
            return ToolOutcome({"error": f"there is no tool {call.name!r}"})
        if self.record is not None:
            return ToolOutcome({"error": "one action per message: answer with what you have"})
        ctx = self.ctx
        step = await self.actions.step(call.name, "", known=self.values(call.name, call.arguments), intent=action.intents[0],
                                       original=ctx.text, message_id=ctx.message_id, channel=ctx.channel,
                                       customer_id=ctx.customer_id, key=ctx.key,
                                       language=ctx.language if ctx.language != self.settings.language.default else "")
        self.calls.append(f"{call.name}: {step.note}")
        if step.pending is not None or step.approval is not None or step.gave_up:
            self.took_over = step  # the bot asks the customer (a value, a yes) or an agent: the model is done
            return ToolOutcome({}, take_over=True)
        self.record = step.record
        said = guardrails.redact(step.text, ctx.redaction).text  # the model sees no personal data
        return ToolOutcome({"status": step.record.status if step.record else "done", "reply": said})
