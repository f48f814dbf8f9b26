"""Differential: PCI as SeaBIOS leaves it once the VM has run (``-qtest`` without ``-accel qtest``: QEMU
runs its firmware under TCG). Each script starts the VM running, polls query-pci until the last device
SeaBIOS sets up shows its BAR (its command register is the firmware's last write), then compares query-pci,
``info pci``, ``info qtree`` and the chipset's QOM properties byte for byte: bus numbers behind bridges and
root ports, I/O BARs from 0xc000, memory BARs under 0xfec00000, 64-bit prefetchable BARs, bridge windows,
interrupt lines."""

from __future__ import annotations

from tests.differential.test_hmp_commands import hmp
from tests.oracle import Poll, Script, Step, call, differential_tests, script

PC_DEVICES = (
    "-device", "virtio-net-pci,id=vn,romfile=",
    "-device", "e1000,id=e1,romfile=",
    "-device", "pci-bridge,id=br,chassis_nr=1",
    "-drive", "if=none,id=d0,file=null-co://",
    "-device", "virtio-blk-pci,id=vb,bus=br,addr=3,drive=d0",
)  # fmt: skip
Q35_DEVICES = (
    "-device", "pcie-root-port,id=rp1,chassis=1,addr=0x4",
    "-device", "pcie-root-port,id=rp2,chassis=2,addr=0x5",
    "-device", "virtio-net-pci,id=vn,bus=rp1,romfile=",
    "-device", "e1000e,id=ee,romfile=",
)  # fmt: skip


def booted(until: bytes, *qom: tuple[str, str]) -> list[Step]:
    """Wait for the firmware's last write, then what a management tool reads (and QOM properties the
    chipset's registers set)."""
    steps: list[Step] = [Poll("query-pci", until), *call("query-pci"), *hmp("info pci", "info qtree")]
    for path, prop in qom:
        steps += call("qom-get", {"path": path, "property": prop})
    return steps


PIIX4_PM = "/machine/unattached/device[18]"
ICH9_LPC = "/machine/unattached/device[2]"


SCRIPTS: list[Script] = [
    script(
        "firmware-pc-one-nic",
        booted(b'"address": 49152', (PIIX4_PM, "pm_io_base"), (PIIX4_PM, "smb_io_base")),
        machine="pc",
        paused=False,
        extra_args=("-device", "e1000,id=e1,romfile=,addr=5"),  # set up last: its I/O BAR marks the end
    ),
    script("firmware-pc-bridge", booted(b'"address": 49152'), machine="pc", paused=False, extra_args=PC_DEVICES),
    script(
        "firmware-q35-root-ports",
        booted(
            b'"address": 4271898624',
            ("/machine/q35", "MCFG"),
            ("/machine/q35", "mcfg_size"),
            (ICH9_LPC, "pm_io_base"),
            (ICH9_LPC, "gpe0_blk"),
        ),
        machine="q35",
        paused=False,
        extra_args=Q35_DEVICES,
    ),
]


test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
