"""The private libvirtd each libvirt test module runs (tests/libvirt/test_virsh.py: Libvirt)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.libvirt.test_virsh import Libvirt, _missing
from tests.system import unavailable


@pytest.fixture(scope="module")
def libvirt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Libvirt]:
    reason = _missing()
    if reason is not None:
        unavailable(reason)
    lv = Libvirt(tmp_path_factory.mktemp("libvirt"))
    try:
        lv.start()
        yield lv
    finally:
        lv.stop()
