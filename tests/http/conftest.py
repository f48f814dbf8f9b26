"""Fixtures for the HTTP plane's tests. The dashboard test needs Debian's chromium (driven by Playwright,
which downloads no browser of its own): without it the test skips, naming the install command, except
under CI=true, where a missing chromium is a failure."""

from __future__ import annotations

import pytest

from tests.system import require

CHROMIUM = "chromium"
INSTALL = "apt-get install -y chromium"


@pytest.fixture(scope="session")
def chromium_binary() -> str:
    return require(CHROMIUM, INSTALL)
