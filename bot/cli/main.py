"""The `supportbot` command line: chat, serve, doctor, migrate, train, eval, replay, label, models, report, agent."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console

from bot.cli.admin import agent_app, models_app
from bot.cli.common import ConfigOpt, err, with_db
from bot.cli.common import run as _run
from bot.cli.common import settings_or_exit as _settings
from bot.settings import ConfigError, Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from bot.analytics.shapes import Report
    from bot.classify.protocol import Classifier
    from bot.quality.evaluate import EvalResult
    from bot.quality.replay import Replayed

def _when(value: Optional[str]) -> Optional[str]:
    """Option callback for --since/--until: a bad date or duration is a usage error naming the option."""
    from bot.analytics.sql import parse_since

    if value is not None:
        try:
            parse_since(value)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from None
    return value


app = typer.Typer(help="supportbot: a customer-support bot that orchestrates models and people.",
                  no_args_is_help=True, add_completion=False)


@app.command()
def chat(
    config: Optional[Path] = ConfigOpt,
    customer: str = typer.Option("demo-customer", "--customer", help="The customer's identity."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per message (intent, route, reason...)."),
    model: Optional[Path] = typer.Option(None, "--model", help="A classifier trained by `supportbot train`."),
) -> None:
    """Chat with the bot in the terminal. Without a TTY: one message per line in, one reply per line out."""
    from bot.runtime.channel import load_plugin  # channels depend on the core, never the other way round

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
    concurrency: Optional[int] = typer.Option(
        None, "--concurrency", min=1, help="Messages each worker handles at once (default: worker.concurrency, 32)."),
    name: Optional[str] = typer.Option(
        None, "--name", help="This process's stable identity with the host (default: worker.name, else the port); "
                             "a restart under the same name takes back at once what the killed process held."),
) -> None:
    """Run the service: web server (browser chat at /, webhooks, /healthz), workers, outbox, channels."""
    from bot.service import ServeError, serve as run_service

    settings = _settings(config, logging.INFO)
    if concurrency is not None:
        settings.worker.concurrency = concurrency
    if name is not None:
        settings.worker.name = name
    try:
        _run(run_service(settings, host, port, workers))
    except ServeError as e:
        err.print(f"[red]cannot serve:[/red] {e}", highlight=False)
        raise typer.Exit(2) from None


@app.command()
def doctor(config: Optional[Path] = ConfigOpt) -> None:
    """Say what is on, then check it: the database, each platform token, each model. Exit 1 on a problem."""
    import asyncio

    from bot.doctor import render, run as run_doctor
    from bot.startup import render as render_summary

    rows, findings = asyncio.run(run_doctor(_settings(config)))
    print(render_summary(rows))
    print()
    print(render(findings))
    if not all(f.ok for f in findings):
        raise typer.Exit(1)


@app.command()
def migrate(
    config: Optional[Path] = ConfigOpt,
    url: Optional[str] = typer.Option(None, "--url", help="Database URL (default: $SUPPORTBOT_DATABASE_URL "
                                      "or the config's database.url)."),
) -> None:
    """Apply the database migrations (SQLite or PostgreSQL)."""
    from sqlalchemy.engine import make_url

    from bot.db.migrate import head_revision, upgrade

    target = url or _settings(config).database.url
    try:
        applied = upgrade(target)
    except Exception as e:  # noqa: BLE001 - report any driver error readably
        err.print(f"[red]migration failed:[/red] {type(e).__name__}: {e}", highlight=False)
        raise typer.Exit(1) from None
    where = f"database {make_url(target).render_as_string(hide_password=True)}"
    if applied:
        err.print(f"applied {', '.join(applied)}", highlight=False)
        err.print(f"{where} is up to date at {head_revision()}", highlight=False)
    else:
        err.print(f"{where} already up to date at {head_revision()}", highlight=False)


def _load_model(settings: Settings, model: Optional[str]) -> tuple[Classifier, str | None]:
    """The classifier the bot would serve, or --model (a folder, or a version of `supportbot train`)."""
    from bot.pipeline.builders import build_classifier
    from bot.classify.minilm import ExtraMissing
    from bot.classify.models_store import ModelStore

    try:
        path = str(ModelStore.for_settings(settings).resolve(model)) if model else None
        return build_classifier(settings, path), path
    except (ValueError, ExtraMissing, ConfigError) as e:
        err.print(f"[red]cannot load the classifier:[/red] {e}", highlight=False)
        raise typer.Exit(2) from None


@app.command()
def train(
    data: Optional[Path] = typer.Argument(None, help="CSV with columns text,intent (default: the intents file's examples)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder to write the model to (default: a new version "
                                       "in classifier.models_dir)."),
    config: Optional[Path] = ConfigOpt,
    include_feedback: bool = typer.Option(False, "--include-feedback", help="Add the examples agents and "
                                          "`supportbot label` gave (from the database); a fifth of them is held "
                                          "out to compare the old and the new model."),
    activate: bool = typer.Option(False, "--activate", help="Make the new version the one the bot serves."),
    kind: Optional[str] = typer.Option(None, "--kind", help="tfidf or embeddings (default: classifier.kind)."),
) -> None:
    """Train the intent classifier; a new version in the model store (or --out DIR), activated only with --activate."""
    from bot.quality.training import TrainError, train_command

    settings = _settings(config)
    try:
        lines = train_command(settings, data, out, include_feedback=include_feedback, activate=activate, kind=kind,
                              run=_run)
    except TrainError as e:
        err.print(f"[red]{e.title}:[/red] {e}", highlight=False)
        raise typer.Exit(2) from None
    for line in lines:
        err.print(line, highlight=False)


@app.command("eval")
def eval_cmd(
    data: Path = typer.Argument(..., help="CSV: text, and optionally intent (or oos), route (or auto), channel."),
    config: Optional[Path] = ConfigOpt,
    model: Optional[str] = typer.Option(None, "--model", help="A model folder, or a version of `supportbot train`."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object with the figures."),
    threshold: Optional[float] = typer.Option(None, "--threshold", min=0.0, max=1.0,
                                              help="Override policy.confidence_threshold."),
    with_llm: bool = typer.Option(False, "--with-llm", help="Let the cascade ask the LLM tier when unsure "
                                  "(paid calls, logged in the database)."),
    calibrate: bool = typer.Option(False, "--calibrate", help="Fit a calibration map on this file's intents and "
                                   "save it next to the model (calibration.json)."),
    method: str = typer.Option("temperature", "--method", help="Calibration: temperature or isotonic."),
) -> None:
    """Evaluate the classify -> signals -> policy path on labelled messages; nothing is sent."""
    import json

    from bot.quality import evaluate as ev
    from bot.classify.calibration import METHODS
    from bot.pipeline.builders import make_decider
    from bot.classify.cascade import Cascade
    from bot.pipeline.knowledge import KnowledgeBase
    from bot.classify.models_store import serving_folder

    if method not in METHODS:
        err.print(f"[red]bad --method:[/red] {method!r}; use one of {', '.join(METHODS)}", highlight=False)
        raise typer.Exit(2)
    settings = _settings(config)
    if threshold is not None:
        settings.policy.confidence_threshold = threshold
    try:
        rows = ev.read_eval_csv(data)
    except ev.EvalDataError as e:
        err.print(f"[red]bad evaluation data:[/red] {e}", highlight=False)
        raise typer.Exit(2) from None
    clf, path = _load_model(settings, model)
    calibrated = None
    if calibrate:
        try:
            cal, calibrated = ev.calibrate(clf, rows, method)
            folder = serving_folder(settings, clf, path)
            calibrated["path"] = str(cal.save(folder))
        except (ev.EvalDataError, ValueError, OSError) as e:
            err.print(f"[red]cannot calibrate:[/red] {e}", highlight=False)
            raise typer.Exit(2) from None
        clf.calibrator = cal
    holder: list[EvalResult] = []

    async def go() -> None:
        if not with_llm:  # as live handling with no LLM key: the same Decider, no cascade stage, no LLM routes
            kb = KnowledgeBase.of(settings)
            decider = make_decider(settings, Cascade(clf, None, settings.policy.confidence_threshold), kb)
            holder.append(await ev.evaluate(rows, settings, clf, decider))
            return
        from bot.app import App

        async with App.open(settings, classifier=clf) as a:
            holder.append(await ev.evaluate(rows, settings, clf, a.orchestrator.decider))

    _run(go())
    result = holder[0]
    result.calibrated = calibrated
    if as_json:
        sys.stdout.write(json.dumps(result.as_json()) + "\n")
    else:
        sys.stdout.write(ev.render(result) + "\n")


@app.command()
def replay(
    policy_file: Optional[Path] = typer.Option(None, "--policy", help="Candidate: a complete config, or a YAML with "
                                               "some of policy, models, tiers, classifier, signals, knowledge."),
    since: str = typer.Option("7d", "--since", callback=_when,
                              help="Start: YYYY-MM-DD, 'today', or a duration ago: 45s, 30m, 1h, 7d (Nd: from "
                              "midnight N days ago)."),
    config: Optional[Path] = ConfigOpt,
    model: Optional[str] = typer.Option(None, "--model", help="Candidate classifier: a folder or a version."),
    threshold: Optional[float] = typer.Option(None, "--threshold", min=0.0, max=1.0,
                                              help="Candidate policy.confidence_threshold."),
    csv_out: Optional[Path] = typer.Option(None, "--csv", help="Write every message whose route would change here."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object (summary + the first changes)."),
    url: Optional[str] = typer.Option(None, "--url", help="Database URL (default: $SUPPORTBOT_DATABASE_URL "
                                      "or the config's database.url)."),
) -> None:
    """Re-decide logged messages with a candidate policy/threshold/model/catalog, beside what happened. Sends nothing."""
    import json

    from datetime import time

    from bot.quality import replay as rp
    from bot.analytics.figures import parse_since
    from bot.db.engine import check_migrated, make_engine, session_factory
    from bot.pipeline.knowledge import KnowledgeBase

    settings = _settings(config)
    start = parse_since(since)  # checked by _when
    day = start.date() if start.timetz().replace(tzinfo=None) == time.min else start.replace(microsecond=0)
    candidate = settings
    if policy_file is not None:
        try:
            candidate = rp.load_candidate(settings, policy_file)
        except ConfigError as e:
            err.print(f"[red]config error:[/red] {e}", highlight=False)
            raise typer.Exit(2) from None
    if threshold is not None:
        candidate.policy.confidence_threshold = threshold
    clf, _ = _load_model(candidate, model)
    holder: list[tuple[list[Replayed], int]] = []  # (the replayed messages, inbound messages skipped)

    async def go() -> None:
        engine = make_engine(url or settings.database.url)
        try:
            await check_migrated(engine)
            items, earlier, skipped = await rp.load_logged(session_factory(engine), start,
                                                           candidate.signals.repeat_window_hours)
        finally:
            await engine.dispose()
        kb = KnowledgeBase.of(candidate)
        holder.append((await rp.replay(items, earlier, candidate, clf, kb), skipped))

    _run(go())
    results, skipped = holder[0]
    summary = rp.summary(results, skipped)
    changes = rp.changed_rows(results)
    if csv_out is not None:
        try:
            csv_out.write_text(rp.to_csv(changes), encoding="utf-8")
        except OSError as e:
            err.print(f"[red]cannot write {csv_out}:[/red] {e}", highlight=False)
            raise typer.Exit(1) from None
    label = str(policy_file or "the current config") + (f", threshold {threshold:.2f}" if threshold is not None else "") \
        + (f", model {clf.model_version}" if model else "")
    if as_json:
        sys.stdout.write(json.dumps({**summary, "since": day.isoformat(), "candidate": label,
                                     "changes": changes[:rp.SHOWN_CHANGES]}) + "\n")
    else:
        sys.stdout.write(rp.render(summary, changes, day, label) + "\n")
        if csv_out is not None:
            sys.stdout.write(f"{len(changes)} changed messages written to {csv_out}\n")


@app.command()
def label(
    config: Optional[Path] = ConfigOpt,
    limit: int = typer.Option(20, "--limit", min=1, help="At most this many messages."),
    threshold: Optional[float] = typer.Option(None, "--threshold", min=0.0, max=1.0,
                                              help="Show messages under this confidence (default: "
                                              "policy.confidence_threshold)."),
) -> None:
    """Label low-confidence logged messages with the right intent (stored for `train --include-feedback`)."""
    from bot.quality.labelling import label_loop

    settings = _settings(config)
    limit_threshold = settings.policy.confidence_threshold if threshold is None else threshold
    holder: dict[str, int] = {}

    def read() -> str | None:
        line = sys.stdin.readline()
        return line.rstrip("\r\n") if line else None

    def write(text: str) -> None:
        end = "" if text.endswith("? ") else "\n"
        sys.stdout.write(text + end)
        sys.stdout.flush()

    async def go(sessions: async_sessionmaker[AsyncSession]) -> None:
        holder.update(await label_loop(sessions, sorted(settings.intents), limit_threshold, limit, read, write))

    _run(with_db(settings, go))
    err.print(f"labelled {holder.get('labelled', 0)}, skipped {holder.get('skipped', 0)}; "
              f"`supportbot train --include-feedback` learns from them", highlight=False)


@app.command()
def report(
    config: Optional[Path] = ConfigOpt,
    since: Optional[str] = typer.Option(None, "--since", callback=_when,
                                        help="First UTC day: YYYY-MM-DD, 'today', or a duration ago: 45s, 30m, 1h, "
                                        "7d (the day it falls on). Default: the beginning."),
    until: Optional[str] = typer.Option(None, "--until", callback=_when,
                                        help="Last UTC day (inclusive), same forms. Default: no end."),
    channel: Optional[str] = typer.Option(None, "--channel", help="Only this channel (telegram, slack, web, ...)."),
    fmt: str = typer.Option("table", "--format", help="table (for people), csv (long form) or json."),
    url: Optional[str] = typer.Option(None, "--url", help="Database URL (default: $SUPPORTBOT_DATABASE_URL "
                                      "or the config's database.url)."),
    top: int = typer.Option(10, "--top", min=0, help="How many unhandled messages to list."),
) -> None:
    """Containment, escalations, route mix, cost and savings, latency, CSAT - from the analyst views."""
    from bot.analytics import figures as analytics
    from bot.analytics import report as out
    from bot.db.engine import check_migrated, make_engine

    if fmt not in out.FORMATS:
        err.print(f"[red]bad --format:[/red] {fmt!r}; use one of {', '.join(out.FORMATS)}", highlight=False)
        raise typer.Exit(2)
    settings = _settings(config)
    f = analytics.Filters(since=analytics.parse_day(since) if since else None,  # checked by _when
                          until=analytics.parse_day(until) if until else None, channel=channel)
    holder: list[Report] = []

    async def collect() -> None:
        engine = make_engine(url or settings.database.url)
        try:
            await check_migrated(engine)
            holder.append(await analytics.report(engine, f, sla_seconds=settings.handoff.sla_seconds, top=top,
                                                  soft_window_hours=settings.resolution.soft_window_hours))
        finally:
            await engine.dispose()

    _run(collect())
    if fmt == "json":
        sys.stdout.write(out.to_json(holder[0]) + "\n")
    elif fmt == "csv":
        sys.stdout.write(out.to_csv(holder[0]))
    else:
        out.render_table(holder[0], Console(highlight=False))


app.add_typer(agent_app, name="agent")
app.add_typer(models_app, name="models")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
