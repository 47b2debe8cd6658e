"""The Slack channel inside the real serve(), against the fake Slack Web API (tests/fakes/slack_api.py):
the `settings` (mini config on SQLite) and `service` fixtures (Events API over HTTP, `svc.events` its
URL), `http_env`, the signing secret and the mini config's answer, and `rows` / `count` of the tables."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.fakes.doubles import Scripted
from tests.fakes.slack_api import FakeSlack
from tests.helpers import mini_settings
from tests.service_harness import running_service


SECRET = "s3cret"
ORDER_REPLY = "Hi u1, track your order at https://shop.test/orders."  # the fake's U1 is named "u1" (users.info)


@pytest.fixture
def settings(sqlite_db):
    s = mini_settings()
    s.database.url = sqlite_db
    return s


def http_env(fake: FakeSlack) -> dict:
    return {"SLACK_BOT_TOKEN": fake.bot_token, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake.api_url}


@pytest.fixture
async def service(fake_slack, settings):
    async with running_service(settings, http_env(fake_slack), classifier=Scripted()) as svc:
        svc.events = svc.url + "/slack/events"
        yield svc


async def count(svc, model, *where) -> int:  # noqa: ANN001
    async with svc.app.sessions() as s:
        return await s.scalar(select(func.count()).select_from(model).where(*where))


async def rows(svc, model, *where) -> list:  # noqa: ANN001
    async with svc.app.sessions() as s:
        return (await s.scalars(select(model).where(*where).order_by(model.id))).all()
