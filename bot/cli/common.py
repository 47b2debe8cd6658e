"""What every `supportbot` command shares: loading the config, running a coroutine, readable errors."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Awaitable, Callable, Coroutine, Optional, TypeVar

import typer
from rich.console import Console

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.engine import NotMigrated
from bot.settings import ConfigError, Settings, load_settings

err = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")

ConfigOpt = typer.Option(None, "--config", "-c", help="Config file (default: $SUPPORTBOT_CONFIG, "
                         "./supportbot.yaml, examples/supportbot.yaml).")


def settings_or_exit(config: Optional[Path], level: int = logging.WARNING) -> Settings:
    from bot.logs import setup
    from bot.settings import Env

    env = Env()
    setup(env.log_format, getattr(logging, env.log_level) if env.log_level else level)
    try:
        return load_settings(config)
    except ConfigError as e:
        err.print(f"[red]config error:[/red] {e}", highlight=False)
        raise typer.Exit(2) from None


def run(coro: Coroutine[Any, Any, object]) -> None:
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


async def with_db(settings: Settings, fn: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]) -> T:
    from bot.db.engine import check_migrated, make_engine, session_factory

    engine = make_engine(settings.database.url)
    try:
        await check_migrated(engine)
        return await fn(session_factory(engine))
    finally:
        await engine.dispose()
