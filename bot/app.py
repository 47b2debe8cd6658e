"""Assembly: builds every piece of the service from settings, opens and closes them in one place."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import AsyncIterator

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.actions.runner import Actions
from bot.pipeline.builders import build_anger, build_classifier, build_readers, build_safety, make_decider  # noqa: F401 - tests import them here
from bot.runtime.channel import ChannelRegistry
from bot.classify.cascade import Cascade
from bot.classify.llm import LLMClassifier
from bot.classify.protocol import Classifier
from bot.db.engine import check_migrated, make_engine, session_factory
from bot.db.store import Store
from bot.handoff.assign import Assigner
from bot.handoff.escalations import Handoff
from bot.runtime.inbox import Inbox
from bot.pipeline.knowledge import KnowledgeBase
from bot.llm.pricing import check_catalog
from bot.llm.router import LLMRouter
from bot.pipeline.orchestrator import Orchestrator
from bot.runtime.outbox import Outbox
from bot.pipeline.respond import Responder
from bot.settings import Settings
from bot.runtime.worker import Worker


@dataclass
class App:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    http: httpx.AsyncClient
    channels: ChannelRegistry
    inbox: Inbox
    outbox: Outbox
    store: Store
    orchestrator: Orchestrator
    worker: Worker
    handoff: Handoff
    router: LLMRouter | None = None
    actions: Actions | None = None  # set actions.self_url once the address of the mounted apps is known
    classifier_label: str = ""  # "embeddings emb-3f2a9c01d4e5-sk1.5.2": kind and version, for the start-up summary

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings, *, model_dir: str | None = None,
                   classifier: Classifier | None = None) -> AsyncIterator["App"]:
        db = settings.database
        engine = make_engine(db.url, db.echo, pool_size=db.pool_size, pre_ping=db.pre_ping)
        http = httpx.AsyncClient(timeout=httpx.Timeout(settings.llm.timeout_s, connect=settings.llm.connect_timeout_s))
        try:
            check_catalog(settings)
            await check_migrated(engine)
            sessions = session_factory(engine)
            # the models by meaning are fitted beside the classifier (a first start trains both; numpy's
            # matrix products release the GIL, so on two cores they overlap)
            readers = asyncio.ensure_future(asyncio.to_thread(build_readers, settings))
            try:
                if classifier is None:
                    classifier = await asyncio.to_thread(build_classifier, settings, model_dir)
            finally:
                built = await readers
            kb = KnowledgeBase.of(settings)
            router = LLMRouter(settings, http, sessions)  # one per process: breaker state lives here
            remote = _build_llm_classifier(settings, router)
            cascade = Cascade(classifier, remote, settings.policy.confidence_threshold)
            store = Store(sessions)
            decider = make_decider(settings, cascade, kb, router.available, readers=built)
            actions = Actions(settings, http)
            orchestrator = Orchestrator(settings, store, decider, Responder(settings, kb, router, actions))
            channels = ChannelRegistry()
            inbox = Inbox(sessions)
            replies_queued = asyncio.Event()
            handoff = Handoff(settings, sessions, outbox_wake=replies_queued)
            handoff.actions = actions
            assigner = Assigner(handoff)  # round robin and teams (bot/handoff/assign.py), in the escalation's transaction
            store.on_escalation = assigner.on_escalation
            handoff.freed.append(assigner.fill)
            yield cls(settings=settings, engine=engine, sessions=sessions, http=http, channels=channels,
                      inbox=inbox, store=store, orchestrator=orchestrator,
                      worker=Worker(inbox, orchestrator, replies_queued=replies_queued, handoff=handoff,
                                    concurrency=settings.worker.concurrency,
                                    lease_seconds=settings.worker.lease_seconds),
                      handoff=handoff, router=router, actions=actions, classifier_label=f"{settings.classifier.kind} {classifier.model_version}",
                      outbox=Outbox(sessions, channels, lease_seconds=settings.worker.lease_seconds))
        finally:
            await http.aclose()
            await engine.dispose()


def _build_llm_classifier(settings: Settings, router: LLMRouter) -> LLMClassifier | None:
    """The cascade's second stage, when the classify tier has a model with a key."""
    if not router.available(settings.llm.classify_tier):
        return None
    intents = {name: i.description or name for name, i in settings.intents.items()}
    return LLMClassifier(router, intents, tier=settings.llm.classify_tier)
