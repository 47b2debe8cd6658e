"""Checks on what a client sends that must end in a 4xx, never in a 500.

    same_secret(sent, expected)   constant-time comparison of a token or secret from a request
    parse_json(raw)               a request body as JSON; BadBody for anything else

hmac.compare_digest raises TypeError for a str with non-ASCII characters, and aiohttp hands
header values over with undecodable bytes as lone surrogates; same_secret compares UTF-8 bytes
(surrogates passed through), so any such value is simply not the secret. json.loads raises
RecursionError on deeply nested input ([[[[...]]]]); parse_json turns that into BadBody too.
"""

from __future__ import annotations

import hmac
import json
from typing import Any, Callable


class BadBody(ValueError):
    """The body is not the JSON we take (not UTF-8, not JSON, nested too deeply)."""


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


def same_secret(sent: object, expected: str | bytes | None) -> bool:
    """True only when `sent` (a str or bytes from the request; anything else is False) is `expected`."""
    if not expected or not isinstance(sent, (str, bytes)):
        return False
    return hmac.compare_digest(_bytes(sent), _bytes(expected))


def parse_json(raw: bytes | str, loads: Callable[[str], Any] = json.loads) -> Any:
    """The JSON value of a request body; BadBody (a ValueError) for anything that is not one."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        return loads(text)
    except RecursionError:
        raise BadBody("JSON nested too deeply") from None
    except ValueError as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise BadBody(f"not JSON: {type(e).__name__}") from None
