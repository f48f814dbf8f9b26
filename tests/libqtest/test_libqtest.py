"""QEMU 7.2's own qtest programs (libqtest/libqos, built from Debian's source package by
tools/qemu_qtest_build.sh) run against fakeqemu-system-x86_64: every subtest in passing.txt must pass.

passing.txt is the fakeqemu column of the README's table (tools/libqtest_run.py writes both); the others
fail for the reasons the table gives. Without the build this skips naming the command (fails under CI=true).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from tests.system import unavailable
from tools.libqtest_run import build_dir, environment

PASSING = Path(__file__).with_name("passing.txt")


#: qom-test walks every machine type (about 1 s each): the older pc/q35 versions are run as a sample, the
#: oldest and the newest of each, unless LIBQTEST_ALL=1 (tools/libqtest_run.py runs them all)
_OLD_VERSION = re.compile(r"/(pc-i440fx|pc-q35)-(\d+\.\d+(?:\.\d+)?)$")
_SAMPLE = frozenset({"pc-i440fx-1.4", "pc-i440fx-7.1", "pc-q35-2.4", "pc-q35-7.1"})


#: device-introspect-test's concrete cases walk every device type (~4 s each): those of the boardless
#: machine types (isapc, microvm, x-remote) run only with LIBQTEST_ALL=1
_CONCRETE = re.compile(r"/concrete/(?:no)?defaults/(isapc|microvm|x-remote)$")


def sampled(path: str) -> bool:
    if os.environ.get("LIBQTEST_ALL") == "1":
        return True
    if _CONCRETE.search(path):
        return False
    m = _OLD_VERSION.search(path)
    if m is None or m.group(2) == "7.2":
        return True
    return f"{m.group(1)}-{m.group(2)}" in _SAMPLE


def expected() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in PASSING.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            program, path = line.split()
            if sampled(path):
                out.setdefault(program, []).append(path)
    return out


@pytest.mark.parametrize("program", sorted(expected()))
def test_qtest_program_passes_on_fakeqemu(program: str) -> None:
    binary = build_dir() / program
    if not binary.exists():
        unavailable(f"needs QEMU 7.2's qtest programs: run tools/qemu_qtest_build.sh (as root; {build_dir()})")
    paths = expected()[program]
    cmd = [str(binary), "--tap", "-k", "-m", "slow"]
    for path in paths:
        cmd += ["-p", path]
    with subprocess.Popen(
        cmd,
        env=environment("fakeqemu"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            pytest.fail(f"{program} did not finish in 600 s")
    results = {m.group(3): m.group(1) is None for m in re.finditer(r"^(not )?ok (\d+) (\S+)", stdout, re.M)}
    failed = [p for p in paths if not results.get(p, False)]
    assert not failed, f"{program}: {failed} did not pass\n{stderr[-3000:]}"
