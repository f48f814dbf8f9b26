"""Differential: ``-M help`` and its spellings (the machine listing), ``-M TYPE,help`` (a machine type's
properties; an alias, an earlier ``-M`` naming the type, a type QEMU lacks lists every machine), ``-accel
help`` (also ``-accel`` without an accelerator) and ``-cpu help``: stdout, stderr and exit status as QEMU
7.2's, and which help wins when several are asked (QEMU answers -M and -accel help as it parses them,
-cpu help and -device help once the whole command line is read)."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.oracle import Target, fakeqemu_target, qemu_target

CASES = [
    ["-M", "help"],
    ["-M", "?"],
    ["-machine", "help"],
    ["-M", "pc,help"],
    ["-machine", "q35,?"],
    ["-M", "help,type=pc-q35-2.4"],
    ["-M", "pc-i440fx-2.0,help"],
    ["-M", "isapc,help"],
    ["-M", "microvm,help"],
    ["-M", "x-remote,help"],
    ["-M", "none,help"],
    ["-M", "q35", "-M", "help"],
    ["-M", "nosuch,help"],
    ["-device", "help", "-M", "pc,help"],  # -M help is answered first, while parsing
    ["-M", "bogus", "-M", "pc,help"],
    ["-accel", "help"],
    ["-accel", "?"],
    ["-accel", "thread=single"],
    ["-cpu", "help"],
    ["-cpu", "?", "-device", "help"],  # -cpu help before -device help
    ["-cpu", "help", "-M", "bogus"],  # before the machine is selected
    ["-cpu", "help", "-accel", "help"],
    ["-foo", "-M", "help"],
]


def _outcome(target: Target, args: list[str]) -> tuple[int, str, str]:
    res = subprocess.run(target.command(args), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return res.returncode, res.stdout, res.stderr


@pytest.mark.qemu
@pytest.mark.parametrize("args", CASES, ids=[" ".join(c) for c in CASES])
def test_help_like_qemu(qemu_binary: str, args: list[str]) -> None:
    with ThreadPoolExecutor(2) as pool:
        ours = pool.submit(_outcome, fakeqemu_target(), args)
        qemu = _outcome(qemu_target(), args)
    assert qemu[0] in (0, 1), qemu
    assert ours.result() == qemu
