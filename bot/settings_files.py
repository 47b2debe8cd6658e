"""Where the configuration comes from: the file (found, read as YAML), the environment, and the paths and
SQLite URLs in it, which are relative to the config file's folder. Its errors are ConfigErrors.

bot/settings.py builds the validated Settings from these; it re-exports the names here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "supportbot.yaml"


class ConfigError(Exception):
    """A configuration problem a person can fix: which file, which key, why."""

    def __init__(self, file: Path | str, key: str, reason: str, more: list[tuple[str, str]] | None = None):
        self.file, self.key, self.reason = str(file), key, reason
        self.more = more or []  # further (key, reason) pairs of the same file, so one run shows them all
        lines = [f"{file}: {k or '(top level)'}: {r}" for k, r in [(key, reason), *self.more]]
        super().__init__("\n".join(lines))


class Env(BaseSettings):
    """What comes from the environment (never from a file)."""

    model_config = SettingsConfigDict(env_prefix="SUPPORTBOT_", extra="ignore")
    config: str | None = None
    database_url: str | None = None
    model_cache: str | None = None  # overrides classifier.cache_dir: where models trained from the config are kept
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = None  # overrides the command's default


def find_config(explicit: str | Path | None = None) -> Path:
    """--config, else $SUPPORTBOT_CONFIG, else ./supportbot.yaml, else the shipped demo."""
    for candidate in (explicit, Env().config):
        if candidate:
            p = Path(candidate).expanduser()
            if not p.is_file():
                raise ConfigError(p, "", "file not found")
            return p
    local = Path("supportbot.yaml")
    if local.is_file():
        return local
    for demo in (Path("examples/supportbot.yaml"), REPO_EXAMPLE):
        if demo.is_file():
            return demo
    raise ConfigError("supportbot.yaml", "", "no config found: pass --config or set SUPPORTBOT_CONFIG")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, "", "file not found") from None
    except UnicodeDecodeError as e:
        raise ConfigError(path, "", f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(path, "", f"invalid YAML: {where}{getattr(e, 'problem', e)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(path, "", f"expected a mapping at the top, got {type(data).__name__}")
    return data


def sqlite_relative_to(url: str, folder: Path) -> str:
    """A SQLite URL from the config with a relative file path, made absolute against the config's folder,
    so `--config shop/supportbot.yaml` finds the same database from any current folder."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - a bad URL is reported where the engine is made, with its reason
        return url
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:" \
            or parsed.database.startswith("file:") or Path(parsed.database).is_absolute():
        return url
    return parsed.set(database=str((folder / parsed.database).resolve())).render_as_string(hide_password=False)


def secret(name: str) -> str | None:
    """Read a secret from the environment; the only way keys enter the process."""
    value = os.environ.get(name, "").strip()
    return value or None
