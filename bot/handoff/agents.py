"""Agent accounts: creation, password hashing (scrypt) and verification, login sessions and the
lockout after failed logins.

scrypt costs ~30 ms of CPU, so it runs in a small thread pool (HASH_WORKERS threads), never on
the event loop; when more than MAX_PENDING hashes are waiting, `authenticate` raises Busy at
once instead of queueing more work. Sessions (table agent_sessions) and failed logins (table
login_failures) live in the database, so they survive a restart and hold across processes.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import math
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, TypeVar, TypeVarTuple

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.engine import rows_affected
from bot.db.models import Agent, AgentSession, LoginFailure
from bot.messages import utcnow

SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MIN_PASSWORD = 8
HASH_WORKERS = 2  # scrypt threads per process
MAX_PENDING = 16  # login hashes running or waiting per process; beyond: Busy
T = TypeVar("T")
Ts = TypeVarTuple("Ts")
_pool = ThreadPoolExecutor(max_workers=HASH_WORKERS, thread_name_prefix="scrypt")
_pending = 0
_pending_lock = threading.Lock()


class Busy(Exception):
    """Too many logins are being checked right now: answer 503 and let the client retry."""


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **SCRYPT)
    return "scrypt${n}${r}${p}${salt}${hash}".format(
        **SCRYPT, salt=base64.b64encode(salt).decode(), hash=base64.b64encode(digest).decode())


def verify_password(password: str, stored: str | None) -> bool:
    try:
        scheme, n, r, p, salt, digest = (stored or "").split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), dklen=32, n=int(n), r=int(r), p=int(p))
        return hmac.compare_digest(got, base64.b64decode(digest))
    except (ValueError, TypeError):
        return False


async def _off_loop(fn: Callable[[*Ts], T], *args: *Ts, bounded: bool = False) -> T:
    """Run fn(*args) in the scrypt pool; bounded: refuse (Busy) when MAX_PENDING are queued."""
    global _pending
    if not bounded:
        return await asyncio.get_running_loop().run_in_executor(_pool, functools.partial(fn, *args))
    with _pending_lock:
        if _pending >= MAX_PENDING:
            raise Busy("too many logins at once")
        _pending += 1

    def job() -> T:  # counted until the hash ends, even if the request is cancelled
        global _pending
        try:
            return fn(*args)
        finally:
            with _pending_lock:
                _pending -= 1

    try:
        return await asyncio.get_running_loop().run_in_executor(_pool, job)
    except RuntimeError:  # the pool refused the job (shutting down): it never ran
        with _pending_lock:
            _pending -= 1
        raise


class AgentExists(Exception):
    pass


async def add_agent(sessions: async_sessionmaker[AsyncSession], name: str, password: str) -> int:
    name = name.strip()
    if not name or len(name) > 100:
        raise ValueError("the name must be 1-100 characters")
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"the password must have at least {MIN_PASSWORD} characters")
    hashed = await _off_loop(hash_password, password)
    async with sessions.begin() as s:
        if await s.scalar(select(Agent.id).where(Agent.name == name)):
            raise AgentExists(f"an agent named {name!r} exists already")
        agent = Agent(name=name, password_hash=hashed, active=True)
        s.add(agent)
        await s.flush()
        return agent.id


async def _agent_named(s: AsyncSession, name: str) -> Agent:
    agent = await s.scalar(select(Agent).where(Agent.name == name))
    if agent is None:
        raise LookupError(f"no agent named {name!r}")
    return agent


async def _revoke_all(s: AsyncSession, agent_id: int) -> None:
    await s.execute(update(AgentSession).where(AgentSession.agent_id == agent_id, AgentSession.revoked_at.is_(None))
                    .values(revoked_at=utcnow()))


async def set_password(sessions: async_sessionmaker[AsyncSession], name: str, password: str) -> None:
    """A new password ends every session of the agent (a stolen cookie stops working)."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"the password must have at least {MIN_PASSWORD} characters")
    hashed = await _off_loop(hash_password, password)
    async with sessions.begin() as s:
        agent = await _agent_named(s, name)
        agent.password_hash = hashed
        await _revoke_all(s, agent.id)


async def set_active(sessions: async_sessionmaker[AsyncSession], name: str, active: bool) -> None:
    """Disable (ending every session) or re-enable an agent."""
    async with sessions.begin() as s:
        agent = await _agent_named(s, name)
        agent.active = active
        if not active:
            await _revoke_all(s, agent.id)


async def authenticate(sessions: async_sessionmaker[AsyncSession], name: str, password: str) -> Agent | None:
    """The active agent with this name and password, or None. Raises Busy under a flood."""
    async with sessions() as s:
        agent = await s.scalar(select(Agent).where(Agent.name == name.strip(), Agent.active.is_(True)))
    if agent is None:
        await _off_loop(hash_password, password, bounded=True)  # same work either way: no hint the name exists
        return None
    return agent if await _off_loop(verify_password, password, agent.password_hash, bounded=True) else None


async def list_agents(sessions: async_sessionmaker[AsyncSession]) -> list[Agent]:
    async with sessions() as s:
        return list((await s.scalars(select(Agent).order_by(Agent.name))).all())


# -- sessions ---------------------------------------------------------------------------------

def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(sessions: async_sessionmaker[AsyncSession], agent_id: int, max_age: float) -> str:
    """A new session for the agent: returns the random token for the cookie (stored hashed)."""
    token, now = secrets.token_urlsafe(32), utcnow()
    async with sessions.begin() as s:
        await s.execute(delete(AgentSession).where(AgentSession.expires_at < now - timedelta(days=1)))
        s.add(AgentSession(id=_digest(token), agent_id=agent_id, created_at=now,
                           expires_at=now + timedelta(seconds=max_age)))
    return token


async def session_agent(sessions: async_sessionmaker[AsyncSession], token: str) -> tuple[int, str] | None:
    """(agent id, name) if the session is live: not revoked, not expired, its agent still active."""
    async with sessions() as s:
        row = (await s.execute(
            select(Agent.id, Agent.name).join(AgentSession, AgentSession.agent_id == Agent.id)
            .where(AgentSession.id == _digest(token), AgentSession.revoked_at.is_(None),
                   AgentSession.expires_at > utcnow(), Agent.active.is_(True)))).first()
    return (row[0], row[1]) if row else None


async def close_session(sessions: async_sessionmaker[AsyncSession], token: str) -> None:
    async with sessions.begin() as s:
        await s.execute(update(AgentSession).where(AgentSession.id == _digest(token),
                                                   AgentSession.revoked_at.is_(None)).values(revoked_at=utcnow()))


# -- lockout after failed logins --------------------------------------------------------------

@dataclass(frozen=True)
class LoginLimits:
    per_account: int = 5  # failed logins per account name within the window
    per_address: int = 20  # failed logins per client address within the window
    window: timedelta = timedelta(minutes=15)


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)  # SQLite gives naive UTC back


async def begin_attempt(sessions: async_sessionmaker[AsyncSession], name: str, address: str,
                        limits: LoginLimits) -> tuple[int | None, int]:
    """Count a login attempt before its password is checked, so parallel attempts count too.

    Returns (attempt id, 0) when it may go on; the row stays as a failure unless login_succeeded
    or attempt_aborted removes it. Over a limit: (None, seconds until the oldest failure in the
    window ages out), for Retry-After.
    """
    now = utcnow()
    cutoff = now - limits.window
    async with sessions.begin() as s:
        await s.execute(delete(LoginFailure).where(LoginFailure.created_at < cutoff))
        row = LoginFailure(account=name[:100], address=address[:64], created_at=now)
        s.add(row)
        await s.flush()
        attempt = row.id
    waits = []
    async with sessions() as s:
        for column, value, limit in ((LoginFailure.account, name[:100], limits.per_account),
                                     (LoginFailure.address, address[:64], limits.per_address)):
            recent = LoginFailure.created_at >= cutoff
            count = await s.scalar(select(func.count()).where(column == value, recent, LoginFailure.id != attempt)) or 0
            if count >= limit:
                oldest = await s.scalar(select(func.min(LoginFailure.created_at)).where(column == value, recent))
                if oldest is None:  # count >= limit >= 1 rows were there a moment ago; all aged out since
                    continue
                waits.append((_aware(oldest) + limits.window - now).total_seconds())
    if not waits:
        return attempt, 0
    await attempt_aborted(sessions, attempt)
    return None, max(1, math.ceil(max(waits)))


async def attempt_aborted(sessions: async_sessionmaker[AsyncSession], attempt: int) -> None:
    """The attempt was refused before its password was checked: it does not count."""
    async with sessions.begin() as s:
        await s.execute(delete(LoginFailure).where(LoginFailure.id == attempt))


async def login_succeeded(sessions: async_sessionmaker[AsyncSession], name: str) -> None:
    """The right password: the account's failures are forgiven."""
    async with sessions.begin() as s:
        await s.execute(delete(LoginFailure).where(LoginFailure.account == name[:100]))


async def unlock(sessions: async_sessionmaker[AsyncSession], name: str) -> int:
    """Clear an agent's failed logins (`supportbot agent unlock NAME`); returns how many."""
    async with sessions.begin() as s:
        await _agent_named(s, name)
        result = await s.execute(delete(LoginFailure).where(LoginFailure.account == name))
        return rows_affected(result)
