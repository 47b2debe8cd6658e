"""The shop apps the config's `apps:` names (the demo order API): loaded from their files, mounted
under their prefix on `serve`'s web server, or served alone on a local port for `chat`, so the
actions that call them work in both."""

from __future__ import annotations

import importlib.util
import sys
from contextlib import asynccontextmanager
from typing import AsyncIterator

from aiohttp import web

from bot.settings import ConfigError, Settings


def load(settings: Settings) -> list[tuple[str, web.Application]]:
    """(prefix, app) for each entry of `apps:`; a file without create_app() is a config error."""
    loaded = []
    for i, entry in enumerate(settings.apps):
        path = settings.path(entry.file)
        name = f"supportbot_app_{i}_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ConfigError(settings.source, f"apps.{i}.file", f"{path}: not a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        create = getattr(module, "create_app", None)
        if not callable(create):
            raise ConfigError(settings.source, f"apps.{i}.file", f"{path}: defines no create_app()")
        app = create()
        if not isinstance(app, web.Application):
            raise ConfigError(settings.source, f"apps.{i}.file", f"{path}: create_app() did not return an aiohttp app")
        loaded.append((entry.path, app))
    return loaded


def mount(web_app: web.Application, settings: Settings) -> None:
    for prefix, app in load(settings):
        web_app.add_subapp(prefix, app)


def own_url(host: str, port: int) -> str:
    """Where this process reaches its own server: a wildcard bind is reached on the loopback."""
    reach = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    return f"http://[{reach}]:{port}" if ":" in reach else f"http://{reach}:{port}"


@asynccontextmanager
async def served_alone(settings: Settings) -> AsyncIterator[str | None]:
    """For commands without the web server (chat): the apps on 127.0.0.1 at a free port; yields its URL
    (None when the config names no apps)."""
    if not settings.apps:
        yield None
        return
    root = web.Application()
    mount(root, settings)
    runner = web.AppRunner(root, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        host, port = runner.addresses[0][:2]
        yield own_url(str(host), int(port))
    finally:
        await runner.cleanup()
