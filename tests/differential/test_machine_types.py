"""Differential: QEMU 7.2's machine types (query-machines, -M with each kind of type), their QOM trees as
recorded (an older pc/q35 version: the 7.2 board and its differences; the boards of their own), and the
refusal of a machine type QEMU does not have."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.oracle import Script, Step, call, differential_tests, fakeqemu_target, qemu_target, script

BASE = ("-display", "none", "-nodefaults")


def _run(argv: list[str]) -> tuple[int, str]:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return res.returncode, res.stderr


def walk(path: str, *props: str) -> list[Step]:
    out = call("qom-list", {"path": path})
    for prop in props:
        out += call("qom-get", {"path": path, "property": prop})
    return out


SCRIPTS: list[Script] = [
    script("machine-types-listed", call("query-machines"), machine="none"),
    script(
        "machine-type-pc-2.0",
        walk("/", "type"),
        walk("/machine", "type", "suppress-vmdesc"),
        walk("/machine/fw_cfg", "x-file-slots", "dma_enabled"),
        walk("/machine/i440fx", "pci-hole64-start", "x-pci-hole64-fix"),
        walk("/machine/unattached/device[18]", "memory-hotplug-support", "smm-compat", "addr"),
        call("query-pci"),
        machine="pc-i440fx-2.0",
    ),
    script(
        "machine-type-pc-1.7-deprecated",
        walk("/machine/fw_cfg"),
        call("qom-get", {"path": "/machine", "property": "type"}),
        machine="pc-i440fx-1.7",
    ),
    script(
        "machine-type-q35-5.2",
        walk("/machine", "type"),
        walk("/machine/unattached/device[2]"),
        call("qom-list", {"path": "/machine/unattached/device[2]/acpi-pci-hotplug[0]"}),
        machine="pc-q35-5.2",
    ),
    script("machine-type-q35-alias", call("qom-get", {"path": "/machine", "property": "type"}), machine="q35"),
    script("machine-type-isapc", walk("/"), walk("/machine", "type"), walk("/machine/unattached"), machine="isapc"),
    script("machine-type-microvm", walk("/machine", "type"), machine="microvm"),
    script("machine-type-x-remote", walk("/machine", "type"), walk("/machine/unattached"), machine="x-remote"),
    script("machine-type-none", walk("/machine", "type"), walk("/chardevs"), machine="none"),
]
# a memory backend on a machine without a board: /objects appears with it on none (listed second under /)
SCRIPTS += [
    script(
        f"machine-type-{machine}-object-add",
        call("query-memdev"),
        call("object-add", {"qom-type": "memory-backend-ram", "id": "ram1"}),
        call("object-del", {"id": "ram1"}),
        call("object-add", {"qom-type": "memory-backend-ram", "id": "ram1", "size": 1048576}),
        call("object-add", {"qom-type": "memory-backend-ram", "id": "ram1", "size": 1048576}),
        walk("/"),
        walk("/objects"),
        call("query-memdev"),
        call("object-del", {"id": "ram1"}),
        walk("/objects"),
        machine=machine,
    )
    for machine in ("none", "isapc")
]

test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)


@pytest.mark.qemu
@pytest.mark.parametrize("machine", ["pc-i440fx-1.3", "pc-q35-2.3", "nosuch", "pc-i440fx-7.3"])
def test_unsupported_machine_refused_like_qemu(qemu_binary: str, tmp_path: Path, machine: str) -> None:
    args = [*BASE, "-M", machine]
    expected = _run(qemu_target().command(args))
    actual = _run(fakeqemu_target().command(args))
    assert expected[0] == 1, expected
    assert actual == expected


@pytest.mark.qemu
@pytest.mark.parametrize("machine", ["pc-i440fx-1.4", "pc-i440fx-1.7", "pc-i440fx-2.0"])
def test_deprecated_machine_warned_like_qemu(qemu_binary: str, machine: str) -> None:
    """QEMU warns about a deprecated machine type (not under -qtest) before it creates the devices: a
    refused -device ends both, after the warning."""
    args = [*BASE, "-M", machine, "-S", "-device", "nosuch"]
    expected = _run(qemu_target().command(args))
    actual = _run(fakeqemu_target().command(args))
    assert expected[0] == 1, expected
    assert actual == expected
