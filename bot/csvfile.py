"""Opening a labelled CSV the way people save them: UTF-8 (a spreadsheet's BOM allowed), a header row,
rows numbered as in a spreadsheet (the header is row 1). Used by `train` (bot/classify/local.py) and
`eval` (bot/quality/evaluate.py), which each read their own columns from it."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Iterator


def open_csv(path: Path, error: type[Exception], expected: str) -> tuple[list[str], Iterator[list[str]]]:
    """(lower-cased header, the remaining rows). A problem raises `error` naming the file and row;
    `expected` says what the header should hold ("a header with a text column"). OSError propagates."""
    raw = path.read_bytes()
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        row = raw[: e.start].count(b"\n") + 1
        raise error(f"{path}: row {row}: not UTF-8 text ({e.reason} at byte {e.start}); "
                    f"save the file as UTF-8") from None
    reader = csv.reader(io.StringIO(content, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise error(f"{path}: row 1: empty file, expected {expected}") from None
    except csv.Error as e:
        raise error(f"{path}: row 1: invalid CSV: {e}") from None
    return header, reader
