"""`supportbot agent ...` and `supportbot models ...`: accounts and classifier versions."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Awaitable, Callable, Optional, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Agent
from bot.handoff.agents import AgentExists, add_agent, set_active, set_password, unlock
from bot.cli.common import ConfigOpt, err, run, settings_or_exit, with_db

Sessions = async_sessionmaker[AsyncSession]
R = TypeVar("R")

agent_app = typer.Typer(help="Agent accounts for the web console and dashboard.", no_args_is_help=True)


def _password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


def _change_account(config: Optional[Path], password_stdin: bool, action: Callable[[Sessions, str], Awaitable[object]],
                    failure: str, done: str) -> None:
    settings = settings_or_exit(config)
    password = _password(password_stdin)
    try:
        run(with_db(settings, lambda sessions: action(sessions, password)))
    except (ValueError, LookupError, AgentExists) as e:
        err.print(f"[red]{failure}:[/red] {e}", highlight=False)
        raise typer.Exit(2) from None
    err.print(done, highlight=False)


@agent_app.command("add")
def agent_add(
    name: str = typer.Argument(..., help="The agent's login name."),
    config: Optional[Path] = ConfigOpt,
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
) -> None:
    """Create an agent account (the password is asked for, or read from stdin)."""
    _change_account(config, password_stdin, lambda s, pw: add_agent(s, name, pw), "cannot add agent",
                    f"agent {name!r} added")


@agent_app.command("passwd")
def agent_passwd(
    name: str = typer.Argument(...),
    config: Optional[Path] = ConfigOpt,
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
) -> None:
    """Set an agent's password (ends every session of the agent)."""
    _change_account(config, password_stdin, lambda s, pw: set_password(s, name, pw), "cannot set the password",
                    f"password of {name!r} changed")


def _account_change(config: Optional[Path], action: Callable[[Sessions], Awaitable[R]], failure: str,
                    done: Callable[[R], str]) -> None:
    """Run action(sessions) on the database; done(result) is printed, LookupError exits 2."""
    settings = settings_or_exit(config)
    holder: list[R] = []

    async def act(sessions: Sessions) -> None:
        holder.append(await action(sessions))

    try:
        run(with_db(settings, act))
    except LookupError as e:
        err.print(f"[red]{failure}:[/red] {e}", highlight=False)
        raise typer.Exit(2) from None
    err.print(done(holder[0]), highlight=False)


@agent_app.command("unlock")
def agent_unlock(name: str = typer.Argument(...), config: Optional[Path] = ConfigOpt) -> None:
    """Clear an agent's failed logins, ending a lockout of the account."""
    _account_change(config, lambda s: unlock(s, name), "cannot unlock",
                    lambda n: f"agent {name!r} unlocked ({n} failed logins cleared)")


@agent_app.command("disable")
def agent_disable(name: str = typer.Argument(...), config: Optional[Path] = ConfigOpt) -> None:
    """Disable an agent: no more logins, and every session of the agent ends."""
    _account_change(config, lambda s: set_active(s, name, False), "cannot disable",
                    lambda _: f"agent {name!r} disabled, sessions ended")


@agent_app.command("enable")
def agent_enable(name: str = typer.Argument(...), config: Optional[Path] = ConfigOpt) -> None:
    """Enable a disabled agent again."""
    _account_change(config, lambda s: set_active(s, name, True), "cannot enable",
                    lambda _: f"agent {name!r} enabled")


@agent_app.command("list")
def agent_list(config: Optional[Path] = ConfigOpt) -> None:
    """List agent accounts."""
    from bot.handoff.agents import list_agents

    settings = settings_or_exit(config)
    holder: list[Agent] = []

    async def collect(sessions: Sessions) -> None:
        holder.extend(await list_agents(sessions))

    run(with_db(settings, collect))
    for a in holder:
        print(f"{a.name}\t{'active' if a.active else 'disabled'}\t{a.slack_user_id or '-'}")


models_app = typer.Typer(help="Versions of the classifier made by `supportbot train`, and `check` for the LLMs.",
                         no_args_is_help=True)


@models_app.command("list")
def models_list(config: Optional[Path] = ConfigOpt) -> None:
    """List stored versions; * marks the active one."""
    from bot.classify.models_store import ModelStore

    store = ModelStore.for_settings(settings_or_exit(config))
    versions = store.versions()
    if not versions:
        err.print(f"no trained versions in {store.root}", highlight=False)
    for v in versions:
        t = v.get("training") or {}
        print(f"{'*' if v['active'] else ' '} {v['name']}\t{v.get('kind', 'tfidf')}\t{v.get('created_at', '')}\t"
              f"{v.get('n_examples', '?')} examples\t{t.get('feedback_examples', 0)} feedback")


@models_app.command("activate")
def models_activate(version: str = typer.Argument(...), config: Optional[Path] = ConfigOpt) -> None:
    """Serve this version from now on (checked to load first); restart `serve` to pick it up."""
    from bot.classify.minilm import ExtraMissing
    from bot.classify.models_store import ModelStore

    store = ModelStore.for_settings(settings_or_exit(config))
    try:
        store.activate(version)
    except (ValueError, ExtraMissing) as e:
        err.print(f"[red]cannot activate:[/red] {e}", highlight=False)
        raise typer.Exit(2) from None
    err.print(f"active model: {version}", highlight=False)


@models_app.command("check")
def models_check(config: Optional[Path] = ConfigOpt,
                 as_json: bool = typer.Option(False, "--json", help="One JSON object per model.")) -> None:
    """Call each LLM of the catalog once with a tiny prompt: reachable, latency, tokens, price per call,
    structured output. Exit 1 when a model with its key set fails."""
    import asyncio
    import json

    from bot.llm.check import check_models, render

    checks = asyncio.run(check_models(settings_or_exit(config)))
    if as_json:
        for c in checks:
            print(json.dumps(c.as_dict()))
    else:
        print(render(checks))
    if any(not c.ok and not c.detail.startswith("no key") for c in checks):
        raise typer.Exit(1)
