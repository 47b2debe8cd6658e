"""Canned replies in the agents' reply box (issue 18): placeholders filled for the conversation at hand."""

from __future__ import annotations

from datetime import datetime, timezone

from bot.handoff.escalations import EscalationView
from bot.settings import load_settings
from bot.web.console import fill_canned
from tests.conftest import EXAMPLE_CONFIG


def view(channel: str, customer: str, name: str | None) -> EscalationView:
    return EscalationView(1, 1, "claimed", "asked", "signal: wants human", None, None, channel, customer, 1, "ann",
                          datetime.now(timezone.utc), None, {}, name)


def test_placeholders_are_filled_and_a_missing_name_reads_as_the_bot_greets():
    settings = load_settings(EXAMPLE_CONFIG)
    hello = settings.handoff.canned_replies["Hello, I'm here"]
    assert fill_canned(hello, view("telegram", "Alice", "Alice"), "Ann", settings).startswith(
        "Hi Alice, I'm Ann from the Northwind Goods team.")
    assert fill_canned(hello, view("web", "web visitor 3f9a01", None), "Ann", settings).startswith(
        "Hi there, I'm Ann from the Northwind Goods team.")  # never "Hi web visitor 3f9a01", as the bot greets
    assert fill_canned(hello, view("console", "demo-customer", "demo-customer"), "Ann", settings).startswith(
        "Hi there,")  # an id passed as the name is not a name
    stop = fill_canned(settings.handoff.canned_replies["Stop using it"], view("slack", "Bob", "Bob"), "Ann", settings)
    assert settings.company.support_email in stop and "{" not in stop


def test_an_unknown_placeholder_or_a_stray_brace_is_left_as_written():
    settings = load_settings(EXAMPLE_CONFIG)
    v = view("telegram", "Alice", "Alice")
    assert fill_canned("Your code is {voucher}, {customer_name}.", v, "Ann", settings) == "Your code is {voucher}, Alice."
    assert fill_canned("a { stray brace", v, "Ann", settings) == "a { stray brace"
