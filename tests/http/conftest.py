"""Fixtures for the HTTP plane's tests. The dashboard test needs Debian's chromium (driven by Playwright,
which downloads no browser of its own): without it the test skips, naming the install command, except
under CI=true, where a missing chromium is a failure."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = "chromium"
INSTALL = "apt-get install -y chromium"


@pytest.fixture(scope="session")
def chromium_binary() -> str:
    path = shutil.which(CHROMIUM)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing under CI=true: .ci/run must install it ({INSTALL})")
        pytest.skip(f"needs Debian's {CHROMIUM}: {INSTALL}")
    return path
