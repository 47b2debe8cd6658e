"""The `supportbot` command line: chat, migrate, train."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from bot.db.engine import NotMigrated
from bot.settings import ConfigError, Settings, load_settings

app = typer.Typer(help="supportbot: a customer-support bot that orchestrates models and people.",
                  no_args_is_help=True, add_completion=False)
err = Console(stderr=True, soft_wrap=True)

ConfigOpt = typer.Option(None, "--config", "-c", help="Config file (default: $SUPPORTBOT_CONFIG, "
                         "./supportbot.yaml, examples/supportbot.yaml).")


def _settings(config: Optional[Path], level: int = logging.WARNING) -> Settings:
    from bot.logs import setup
    from bot.settings import Env

    setup(Env().log_format, level)
    try:
        return load_settings(config)
    except ConfigError as e:
        err.print(f"[red]config error:[/red] {e}", highlight=False)
        raise typer.Exit(2) from None


def _run(coro) -> None:  # noqa: ANN001
    try:
        asyncio.run(coro)
    except ConfigError as e:
        err.print(f"[red]config error:[/red] {e}", highlight=False)
        raise typer.Exit(2) from None
    except NotMigrated as e:
        err.print(f"[red]database not ready:[/red] {e}", highlight=False)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


@app.command()
def chat(
    config: Optional[Path] = ConfigOpt,
    customer: str = typer.Option("demo-customer", "--customer", help="The customer's identity."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per message (intent, route, reason...)."),
    model: Optional[Path] = typer.Option(None, "--model", help="A classifier trained by `supportbot train`."),
) -> None:
    """Chat with the bot in the terminal. Without a TTY: one message per line in, one reply per line out."""
    from bot.channel import load_plugin  # channels depend on the core, never the other way round

    settings = _settings(config)
    console = load_plugin("console")
    _run(console.run_chat(settings, customer=customer, as_json=as_json, model_dir=str(model) if model else None,
                  interactive=sys.stdin.isatty() and not as_json))


@app.command()
def serve(
    config: Optional[Path] = ConfigOpt,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", min=1, help="Inbox workers (more than 1 needs PostgreSQL)."),
) -> None:
    """Run the service: web server (browser chat at /, webhooks, /healthz), workers, outbox, channels."""
    from bot.service import ServeError, serve as run_service

    settings = _settings(config, logging.INFO)
    try:
        _run(run_service(settings, host, port, workers))
    except ServeError as e:
        err.print(f"[red]cannot serve:[/red] {e}", highlight=False)
        raise typer.Exit(2) from None


@app.command()
def migrate(
    config: Optional[Path] = ConfigOpt,
    url: Optional[str] = typer.Option(None, "--url", help="Database URL (default: $SUPPORTBOT_DATABASE_URL "
                                      "or the config's database.url)."),
) -> None:
    """Apply the database migrations (SQLite or PostgreSQL)."""
    from sqlalchemy.engine import make_url

    from bot.db.migrate import upgrade

    target = url or _settings(config).database.url
    try:
        upgrade(target)
    except Exception as e:  # noqa: BLE001 - report any driver error readably
        err.print(f"[red]migration failed:[/red] {type(e).__name__}: {e}", highlight=False)
        raise typer.Exit(1) from None
    err.print(f"database {make_url(target).render_as_string(hide_password=True)} is up to date")


@app.command()
def train(
    data: Path = typer.Argument(..., help="CSV with columns text,intent."),
    out: Path = typer.Option(..., "--out", help="Folder to write the model to."),
    config: Optional[Path] = ConfigOpt,
) -> None:
    """Train the local intent classifier from a CSV; use it with --model DIR or classifier.model_dir."""
    from bot.classify.local import LocalClassifier, read_training_csv

    settings = _settings(config)
    try:
        texts, labels = read_training_csv(data)
    except (ValueError, OSError) as e:
        err.print(f"[red]bad training data:[/red] {data}: {e}", highlight=False)
        raise typer.Exit(2) from None
    clf = LocalClassifier.train(texts, labels, oos_threshold=settings.classifier.oos_threshold,
                                max_chars=settings.classifier.max_chars)
    clf.save(out)
    err.print(f"trained on {len(texts)} examples, {len(set(labels))} intents -> {out} (version {clf.model_version})")


agent_app = typer.Typer(help="Agent accounts for the web console and dashboard.", no_args_is_help=True)
app.add_typer(agent_app, name="agent")


def _password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


async def _with_db(settings: Settings, fn):  # noqa: ANN001, ANN202
    from bot.db.engine import check_migrated, make_engine, session_factory

    engine = make_engine(settings.database.url)
    try:
        await check_migrated(engine)
        return await fn(session_factory(engine))
    finally:
        await engine.dispose()


@agent_app.command("add")
def agent_add(
    name: str = typer.Argument(..., help="The agent's login name."),
    config: Optional[Path] = ConfigOpt,
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
) -> None:
    """Create an agent account (the password is asked for, or read from stdin)."""
    from bot.agents import AgentExists, add_agent

    settings = _settings(config)
    password = _password(password_stdin)
    try:
        _run(_with_db(settings, lambda s: add_agent(s, name, password)))
    except (ValueError, AgentExists) as e:
        err.print(f"[red]cannot add agent:[/red] {e}", highlight=False)
        raise typer.Exit(2) from None
    err.print(f"agent {name!r} added")


@agent_app.command("passwd")
def agent_passwd(
    name: str = typer.Argument(...),
    config: Optional[Path] = ConfigOpt,
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
) -> None:
    """Set an agent's password."""
    from bot.agents import set_password

    settings = _settings(config)
    password = _password(password_stdin)
    try:
        _run(_with_db(settings, lambda s: set_password(s, name, password)))
    except (ValueError, LookupError) as e:
        err.print(f"[red]cannot set the password:[/red] {e}", highlight=False)
        raise typer.Exit(2) from None
    err.print(f"password of {name!r} changed")


@agent_app.command("list")
def agent_list(config: Optional[Path] = ConfigOpt) -> None:
    """List agent accounts."""
    from bot.agents import list_agents

    settings = _settings(config)
    holder: list = []

    async def collect(sessions):  # noqa: ANN001, ANN202
        holder.extend(await list_agents(sessions))

    _run(_with_db(settings, collect))
    for a in holder:
        print(f"{a.name}\t{'active' if a.active else 'disabled'}\t{a.slack_user_id or '-'}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
