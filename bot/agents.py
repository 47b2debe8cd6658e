"""Agent accounts: creation, password hashing (scrypt) and verification."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Agent

SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MIN_PASSWORD = 8


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


class AgentExists(Exception):
    pass


async def add_agent(sessions: async_sessionmaker[AsyncSession], name: str, password: str) -> int:
    name = name.strip()
    if not name or len(name) > 100:
        raise ValueError("the name must be 1-100 characters")
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"the password must have at least {MIN_PASSWORD} characters")
    async with sessions.begin() as s:
        if await s.scalar(select(Agent.id).where(Agent.name == name)):
            raise AgentExists(f"an agent named {name!r} exists already")
        agent = Agent(name=name, password_hash=hash_password(password), active=True)
        s.add(agent)
        await s.flush()
        return agent.id


async def set_password(sessions: async_sessionmaker[AsyncSession], name: str, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"the password must have at least {MIN_PASSWORD} characters")
    async with sessions.begin() as s:
        agent = await s.scalar(select(Agent).where(Agent.name == name))
        if agent is None:
            raise LookupError(f"no agent named {name!r}")
        agent.password_hash = hash_password(password)


async def authenticate(sessions: async_sessionmaker[AsyncSession], name: str, password: str) -> Agent | None:
    async with sessions() as s:
        agent = await s.scalar(select(Agent).where(Agent.name == name.strip(), Agent.active.is_(True)))
    if agent is None:
        hash_password(password)  # same work either way: no timing hint whether the name exists
        return None
    return agent if verify_password(password, agent.password_hash) else None


async def list_agents(sessions: async_sessionmaker[AsyncSession]) -> list[Agent]:
    async with sessions() as s:
        return list((await s.scalars(select(Agent).order_by(Agent.name))).all())
