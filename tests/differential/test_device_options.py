"""Differential: odd ``-device`` values on QEMU's command line: ``DRIVER,help`` (the property listing,
exit 0), a JSON ``addr`` that is neither a number nor a string, JSON that does not parse (exit 1)."""

from __future__ import annotations

import subprocess

import pytest

from tests.oracle import Target, fakeqemu_target, qemu_target

BASE = ("-M", "pc", "-display", "none", "-nodefaults", "-S")
CASES = [
    *(["-device", f"{driver},help"] for driver in ("e1000", "virtio-net-pci", "virtio-blk-pci", "pcie-root-port")),
    *(["-device", f'{{"driver": "e1000", "addr": {addr}}}'] for addr in ('{"a": 1}', "[1]", "true", "null", "1.5")),
    *(
        ["-device", text]
        for text in (
            '{"driver":"e1000"',
            '{"driver":e1000}',
            '{"driver":"e1000"}}',
            '{"driver":"e1000",}',
            '{"driver":"e1000" "id":"x"}',
            '{"driver":"e1000"} x',
        )
    ),
]


def _outcome(target: Target, args: list[str]) -> tuple[int, str, str]:
    res = subprocess.run(
        target.command([*BASE, *args]), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    return res.returncode, res.stdout, res.stderr


@pytest.mark.qemu
@pytest.mark.parametrize("args", CASES, ids=[c[1][:40] for c in CASES])
def test_device_option_like_qemu(qemu_binary: str, args: list[str]) -> None:
    qemu = _outcome(qemu_target(), args)
    assert qemu[0] in (0, 1), qemu
    assert _outcome(fakeqemu_target(), args) == qemu
