"""`supportbot serve`: one asyncio process with the web server, workers, outbox and channels.

Start-up order: open the app (database, models), create the channels whose settings are
present, mount their routes, start the web server, then the channels, workers and the
outbox sender. Shutdown (SIGTERM, Ctrl-C) runs it backwards: stop taking updates, let the
workers finish the event in hand, flush the outbox, close everything.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from contextlib import suppress
from typing import Mapping

from aiohttp import web
from sqlalchemy.engine import make_url

from bot.app import App
from bot.classify.protocol import Classifier
from bot.runtime.channel import ChannelContext, ChannelRuntime, load_plugin, plugin_names
from bot.settings import Settings
from bot.startup import announce, channel_states, render, summary
from bot.web import apps
from bot.web.server import build_web_app
from bot.runtime.worker import Worker, worker_identity

log = logging.getLogger("supportbot.service")


class Service:
    def __init__(self, app: App, runtimes: list[ChannelRuntime]):
        self.app = app
        self.runtimes = runtimes
        self.address: tuple[str, int] | None = None  # where the web server listens, once started


def create_channels(app: App, env: Mapping[str, str]) -> list[ChannelRuntime]:
    """Every installed channel plugin whose settings are present (the browser chat always is)."""
    ctx = ChannelContext(settings=app.settings, inbox=app.inbox, sessions=app.sessions, env=env,
                         outbox_wake=app.worker.replies_queued, handoff=app.handoff)
    runtimes = []
    for name in plugin_names():
        plugin = load_plugin(name)
        create = getattr(plugin, "create", None)
        if create is None:  # e.g. the terminal chat: not a service channel
            continue
        runtime = create(ctx)
        if runtime is not None:
            runtimes.append(runtime)
    return runtimes


class ServeError(Exception):
    """The service cannot start as asked (a readable reason, exit code 2)."""


async def serve(settings: Settings, host: str, port: int, workers: int = 1, *,
                started: asyncio.Future[Service] | None = None, stop: asyncio.Event | None = None,
                env: Mapping[str, str] | None = None, classifier: Classifier | None = None) -> None:
    """Run until SIGTERM/SIGINT (or `stop` is set). `started` receives the Service once it listens."""
    if workers > 1 and make_url(settings.database.url).get_backend_name() == "sqlite":
        raise ServeError("SQLite serves one worker in one process; use PostgreSQL for --workers > 1")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    async with App.open(settings, classifier=classifier) as app:
        if make_url(settings.database.url).get_backend_name() == "sqlite":
            # one process owns a SQLite database: leases still held belong to a crashed run, so the
            # events and replies it had in hand are taken up now instead of after the lease expires
            taken = await app.inbox.release_all(), await app.outbox.release_all()
            if any(taken):
                log.warning("picked up %s inbox events and %s replies left by a stopped process", *taken)
        runtimes = create_channels(app, os.environ if env is None else env)
        rows = summary(settings, classifier=app.classifier_label, env=os.environ if env is None else env,
                       channels=channel_states([rt.name for rt in runtimes], os.environ if env is None else env))
        print(render(rows), file=sys.stderr, flush=True)  # for the person who started it
        announce(rows)  # for the logs
        for rt in runtimes:
            app.channels.register(rt)
        service = Service(app, runtimes)
        web_app = build_web_app(service)
        for rt in runtimes:
            rt.mount(web_app)
        apps.mount(web_app, settings)  # the shop apps the config names (the demo order API)
        runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=5)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        listening = runner.addresses  # getsockname() of the site's sockets: (host, port[, flow, scope])
        bound = listening[0] if listening else (host, port)
        service.address = (str(bound[0]), int(bound[1]))
        if app.actions is not None:
            app.actions.self_url = apps.own_url(*service.address)
        w0 = app.worker
        # a stable identity: what a killed run of this process held is taken back now, not after its lease
        w0.name = app.outbox.name = identity = worker_identity(settings.worker.name, bound[1])
        taken = await app.inbox.take_back(identity), await app.outbox.take_back(identity)
        if any(taken):
            log.warning("%s took back %s inbox events and %s replies its previous run held", identity, *taken)
        pool = [w0] + [Worker(app.inbox, app.orchestrator, name=f"{w0.name}/{i}", replies_queued=w0.replies_queued,
                              handoff=app.handoff, concurrency=w0.concurrency, lease_seconds=w0.lease_seconds)
                       for i in range(1, workers)]
        for w in pool:  # finished replies go to the local sender leased to it, sent without a claim
            w.outbox = app.outbox
        work_stop = asyncio.Event()
        tasks = [asyncio.create_task(w.run(work_stop), name=f"worker-{i}") for i, w in enumerate(pool)]
        tasks.append(asyncio.create_task(app.outbox.run(work_stop, app.worker.replies_queued), name="outbox"))
        tasks.append(asyncio.create_task(app.handoff.run_sla(work_stop), name="handoff-sla"))
        try:
            for rt in runtimes:
                await rt.start()
            log.warning("supportbot serving on http://%s:%s (channels: %s; workers: %s x %s messages at once)",
                        bound[0], bound[1], ", ".join(rt.name for rt in runtimes) or "none", workers, w0.concurrency)
            if started is not None and not started.done():
                started.set_result(service)
            await stop.wait()
        finally:
            log.warning("supportbot shutting down")
            for rt in runtimes:  # 1. stop taking updates (polling, socket mode)
                with suppress(Exception):
                    await rt.stop()
            await runner.cleanup()  # 2. webhooks: in-flight requests finish, new ones are refused
            work_stop.set()  # 3. workers finish the event in hand; the outbox flushes what is due
            await asyncio.gather(*tasks, return_exceptions=True)
            for rt in runtimes:  # 4. release the platform sessions
                with suppress(Exception):
                    await rt.close()
