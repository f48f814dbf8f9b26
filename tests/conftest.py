"""Shared fixtures. Tests that need Debian's QEMU skip without it, naming the install command, except
under CI=true, where a missing QEMU is a failure."""

from __future__ import annotations

import pytest

from tests.system import require

QEMU = "qemu-system-x86_64"
INSTALL = "apt-get install -y qemu-system-x86"


@pytest.fixture(scope="session")
def qemu_binary() -> str:
    return require(QEMU, INSTALL)


# Differential scripts for the machine model and the unplug path (issue 3), recorded against QEMU 7.2.
# fakeqemu has no QOM/qdev tree yet, so their fakeqemu side cannot pass: they join the run when it lands.
# The container test (tests/docker) builds docker/Dockerfile and drives the image: it skips without dockerd
# and mmdebstrap (apt-get install -y docker.io mmdebstrap, as root) and fails without them under CI=true.
collect_ignore: list[str] = []
