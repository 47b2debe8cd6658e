"""The one HTTP call behind an action.

The URL and body are templates over the parameters (URL-quoted), the company variables and
{self_url}; secret headers come from environment variables named in the config and are never
logged. Every call carries who asks (X-Supportbot-Channel, X-Supportbot-Customer) so the shop can
check the customer acts on their own data, and a write carries an Idempotency-Key made from the
inbound message, so a retry, or the same message handled again after a crash, does the thing once.
Timeouts, refused connections and 5xx answers are retried (Http.retries); whatever happens, the
result says so and nothing raises.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from bot.settings import secret
from bot.settings_actions import Action, Http

log = logging.getLogger("supportbot.actions")
OK, NOT_FOUND, REJECTED, FAILED = "ok", "not_found", "rejected", "failed"
MAX_BODY = 256 * 1024  # an answer larger than this is not a reply to a lookup


@dataclass
class CallResult:
    status: str  # ok | not_found (404/403: no such order for these details) | rejected (other 4xx) | failed
    http_status: int | None
    latency_ms: float
    data: Any = None  # the JSON answer
    error: str | None = None  # what went wrong, for the audit row and the log (never a secret)
    attempts: int = 0


def _fill(template: str, values: dict[str, str], variables: dict[str, str], self_url: str, quoted: bool) -> str:
    params = {k: quote(v, safe="") if quoted else v for k, v in values.items()}
    return template.format(**{**variables, **params, "self_url": self_url.rstrip("/")})


def _classify(response: httpx.Response) -> tuple[str, Any, str | None]:
    if len(response.content) > MAX_BODY:
        return FAILED, None, f"answer of {len(response.content)} bytes is too large"
    try:
        data = response.json() if response.content else {}
    except ValueError:
        data = None
    code = response.status_code
    if 200 <= code < 300:
        return (OK, data, None) if data is not None else (FAILED, None, f"HTTP {code}: the answer is not JSON")
    if code in (403, 404, 410):
        return NOT_FOUND, data, f"HTTP {code}"
    if 400 <= code < 500 and code not in (408, 429):
        return REJECTED, data if isinstance(data, dict) else {}, f"HTTP {code}"
    return FAILED, None, f"HTTP {code}"


async def call(action: Action, values: dict[str, str], http: httpx.AsyncClient, *, variables: dict[str, str],
               self_url: str, channel: str, customer_id: str, idempotency_key: str,
               cfg: Http | None = None) -> CallResult:
    """The action's call (`cfg`: another of its calls, the lookup)."""
    cfg = cfg or action.http
    started = time.perf_counter()
    try:
        url = _fill(cfg.url, values, variables, self_url, quoted=True)
        body = {k: _fill(t, values, variables, self_url, quoted=False) for k, t in cfg.json_body.items()} \
            if cfg.json_body is not None else None
    except (KeyError, IndexError, ValueError) as e:
        return CallResult(FAILED, None, 0.0, error=f"template: {type(e).__name__}: {e}")
    headers = {**cfg.headers, "X-Supportbot-Channel": channel, "X-Supportbot-Customer": customer_id}
    if cfg.method != "GET":
        headers["Idempotency-Key"] = idempotency_key
    for header, env in cfg.headers_env.items():
        value = secret(env)
        if value is None:
            return CallResult(FAILED, None, 0.0, error=f"environment variable {env} (header {header}) is not set")
        headers[header] = value
    result = CallResult(FAILED, None, 0.0)
    for attempt in range(cfg.retries + 1):
        result.attempts = attempt + 1
        try:
            response = await http.request(cfg.method, url, json=body, headers=headers,
                                          timeout=httpx.Timeout(cfg.timeout_s), follow_redirects=False)
        except httpx.TimeoutException:
            result.status, result.http_status, result.error = FAILED, None, f"timed out after {cfg.timeout_s:g} s"
        except httpx.HTTPError as e:
            result.status, result.http_status, result.error = FAILED, None, f"{type(e).__name__}: {str(e)[:200]}"
        else:
            result.http_status = response.status_code
            result.status, result.data, result.error = _classify(response)
            if result.status != FAILED or response.status_code < 500:
                break
        if attempt < cfg.retries:
            await asyncio.sleep(min(0.2 * 2 ** attempt, 2.0))
    result.latency_ms = (time.perf_counter() - started) * 1000
    if result.status == FAILED:
        log.warning("action call failed", extra={"method": cfg.method, "attempts": result.attempts,
                                                  "error": result.error})
    return result
