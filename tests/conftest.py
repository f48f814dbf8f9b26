"""Shared fixtures. Tests that need Debian's QEMU skip without it, naming the install command, except
under CI=true, where a missing QEMU is a failure."""

from __future__ import annotations

import os
import shutil

import pytest

QEMU = "qemu-system-x86_64"
INSTALL = "apt-get install -y qemu-system-x86"


@pytest.fixture(scope="session")
def qemu_binary() -> str:
    path = shutil.which(QEMU)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{QEMU} is missing under CI=true: .ci/run must install it ({INSTALL})")
        pytest.skip(f"needs Debian's {QEMU}: {INSTALL}")
    return path


# Differential scripts for the machine model and the unplug path (issue 3), recorded against QEMU 7.2.
# fakeqemu has no QOM/qdev tree yet, so their fakeqemu side cannot pass: they join the run when it lands.
collect_ignore = [
    "differential/test_hotplug_pc.py",
    "differential/test_hotplug_q35.py",
    "differential/test_pcihp_registers.py",
]
