"""Small builders shared by the unit tests."""

from __future__ import annotations

from pathlib import Path

from bot.messages import Classification, Signals
from bot.settings import Settings, load_settings

MINI = Path(__file__).resolve().parent / "data" / "mini" / "supportbot.yaml"


def mini_settings() -> Settings:
    return load_settings(MINI)


def cls(intent: str, confidence: float, *top: tuple[str, float]) -> Classification:
    return Classification(intent=intent, confidence=confidence, top=((intent, confidence), *top))


def calm() -> Signals:
    return Signals()


def demo_config_copy(folder: Path, cache_dir: Path, tweak=None) -> Path:  # noqa: ANN001 - tweak(dict)
    """The demo config written into `folder` with its file paths made absolute and the model cache
    at `cache_dir`; `tweak(cfg)` may change the parsed YAML first. For servers run elsewhere."""
    import yaml

    demo = Path(__file__).resolve().parents[1] / "examples" / "supportbot.yaml"
    cfg = yaml.safe_load(demo.read_text(encoding="utf-8"))
    cfg["intents_file"] = str(demo.parent / cfg.get("intents_file", "intents.yaml"))
    cfg["answers_file"] = str(demo.parent / cfg.get("answers_file", "answers.yaml"))
    language = cfg.get("language", {})
    cfg["language"] = {**language, **{key: {k: str(demo.parent / v) for k, v in language.get(key, {}).items()}
                                      for key in ("answers", "actions")}}
    knowledge = cfg.get("knowledge", {})
    cfg["knowledge"] = {**knowledge, "path": str(demo.parent / knowledge.get("path", "kb"))}
    cfg["classifier"] = {**cfg.get("classifier", {}), "cache_dir": str(cache_dir)}
    cfg["apps"] = [{**app, "file": str(demo.parent / app["file"])} for app in cfg.get("apps", [])]
    if tweak is not None:
        tweak(cfg)
    path = Path(folder) / "supportbot.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


async def say(app, text: str, thread: str = "t1", customer: str = "c1"):  # noqa: ANN001, ANN201
    """One customer message on the console channel through inbox, worker and outbox; its HandleResult.
    The event id names the thread and text too, so a second App on the same database (a restart) gets new ones."""
    from bot.messages import InboundMessage

    app.n += 1
    msg = InboundMessage(channel="console", customer_id=customer, text=text, conversation_key=thread)
    event_id = await app.inbox.accept(msg, f"e{app.n}:{thread}:{text[:20]}")
    results = await app.worker.drain()
    await app.outbox.flush()
    return results[event_id]
