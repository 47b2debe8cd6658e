"""Logging set-up: readable lines by default, one JSON object per event with SUPPORTBOT_LOG_FORMAT=json.

Both carry the fields a call passes in `extra` (conversation_id, route, latency_ms, ...): the text
line ends with them as key=value, values with spaces quoted, so `grep route=human` works."""

from __future__ import annotations

import json
import logging
import sys

STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname.lower(),
                "logger": record.name, "event": record.getMessage()}
        data.update({k: v for k, v in vars(record).items() if k not in STANDARD})
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = [f"{k}={_value(v)}" for k, v in vars(record).items() if k not in STANDARD]
        if not fields:
            return line
        head, sep, rest = line.partition("\n")  # a traceback or a multi-line message stays below the fields
        return f"{head} {' '.join(fields)}{sep}{rest}"


def _value(v: object) -> str:
    text = v if isinstance(v, str) else json.dumps(v, default=str)
    return json.dumps(text) if (not text or any(c in text for c in ' "=\n')) else text


def setup(fmt: str = "text", level: int = logging.WARNING) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
