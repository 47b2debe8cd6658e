"""Headless Debian Chromium for the browser tests, driven by Playwright (no browser download)."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# without the background-networking flags Chromium keeps dialling Google hosts this sandbox refuses
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

# CI sets SUPPORTBOT_REQUIRE_BROWSER (and `make test` installs chromium): there these tests always run.
needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and not os.environ.get("SUPPORTBOT_REQUIRE_BROWSER"),
    reason="Debian chromium is not installed (`make test` installs it; CI requires these tests)")


async def launch(pw):  # noqa: ANN001, ANN201 - playwright objects
    return await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
