"""Tests that need a system package (QEMU, chromium, docker, libvirt): without it they skip, naming what to
install; under CI=true, where .ci/run installs everything, a missing package is a failure instead."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true, where nothing may be skipped: {reason} (.ci/run must install it)")
    pytest.skip(reason)


def require(command: str, install: str) -> str:
    """The path of ``command``, or skip / fail naming ``install``."""
    path = shutil.which(command)
    if path is None:
        unavailable(f"needs Debian's {command}: {install}")
    return path
