"""QEMU 7.2's own Python harness (python/qemu/machine: QEMUMachine, QEMUQtestMachine) drives fakeqemu
unchanged, and the same script gives the same answers from Debian's QEMU 7.2.

The harness is not vendored: it comes from Debian's qemu source package, unpacked in
``$FAKEQEMU_QTEST_DIR`` (default /var/cache/fakeqemu-qtest) by tools/qemu_qtest_build.sh, which also builds
the qtest accelerator module QEMUQtestMachine's ``-accel qtest`` needs from Debian's QEMU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import QEMU
from tests.system import require, unavailable

SCRIPT = Path(__file__).with_name("machine_script.py")
FAKEQEMU = str(Path(sys.executable).with_name("fakeqemu-system-x86_64"))


def _qtest_dir() -> Path:
    base = Path(os.environ.get("FAKEQEMU_QTEST_DIR", "/var/cache/fakeqemu-qtest"))
    if not (base / "src/python/qemu/machine/machine.py").exists() or not (base / "modules").is_dir():
        unavailable(f"needs QEMU 7.2's python/qemu and qtest module in {base}: run tools/qemu_qtest_build.sh as root")
    return base


def _run(binary: str, qtest_dir: Path, sock_dir: Path, env: dict[str, str]) -> list[object]:
    env = {**os.environ, **env, "PYTHONPATH": str(qtest_dir / "src/python")}
    res = subprocess.run(
        [sys.executable, str(SCRIPT), binary, str(sock_dir)], capture_output=True, text=True, timeout=120, env=env
    )
    assert res.returncode == 0, res.stderr
    out: list[object] = json.loads(res.stdout)
    return out


@pytest.mark.qemu
def test_qemu_machine_drives_fakeqemu_as_it_drives_qemu(tmp_path: Path) -> None:
    qtest_dir = _qtest_dir()
    qemu = require(QEMU, "apt-get install -y qemu-system-x86")
    (tmp_path / "q").mkdir()
    (tmp_path / "f").mkdir()
    expected = _run(qemu, qtest_dir, tmp_path / "q", {"QEMU_MODULE_DIR": str(qtest_dir / "modules")})
    assert _run(FAKEQEMU, qtest_dir, tmp_path / "f", {}) == expected
