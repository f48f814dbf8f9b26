"""Differential: ACPI PCI hotplug on q35 (ICH9 pcihp block at 0x0cc0) behind pcie-root-ports."""

from __future__ import annotations

from typing import Any

from tests.differential.hotplug_steps import deleted, peripheral, reply
from tests.oracle import (
    Qtest,
    Script,
    Step,
    Sync,
    WaitEvent,
    call,
    differential_tests,
    script,
)

UP, DOWN, EJ, RMV, SEL = 0xCC0, 0xCC4, 0xCC8, 0xCCC, 0xCD0
RP1 = ["-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1,addr=0x3"]
RP2 = ["-device", "pcie-root-port,id=rp2,bus=pcie.0,chassis=2,addr=0x4"]


def regs(bsel: int | None = None) -> list[Step]:
    sel: list[Step] = [] if bsel is None else [Qtest(f"outl {hex(SEL)} {hex(bsel)}")]
    return sel + [Qtest(f"inl {hex(p)}") for p in (UP, DOWN, RMV, SEL)]


SCRIPTS: list[Script] = [
    script(
        "hotplug-q35-root-port-virtio-net",
        regs(0),
        regs(1),
        call("device_add", {"driver": "virtio-net-pci", "id": "net0", "bus": "rp1"}),
        regs(0),
        regs(1),
        call("query-pci"),
        call("device_del", {"id": "net0"}),
        Sync(),
        regs(0),
        regs(1),
        call("device_del", {"id": "net0"}),
        Qtest("outl 0xcd0 0x1"),
        Qtest("outl 0xcc8 0x1"),
        Sync(),  # wrong bus: nothing
        peripheral(),
        Qtest("outl 0xcd0 0x0"),
        Qtest("outl 0xcc8 0x1"),
        WaitEvent("DEVICE_DELETED", device="net0"),
        Sync(),
        regs(0),
        peripheral(),
        call("query-pci"),
        machine="q35",
        extra_args=RP1,
        must=[
            reply("OK 0x0001"),
            reply("OK 0x0001"),
            deleted("net0"),
            b'{"return": [{"name": "type", "type": "string"}, {"name": "rp1", "type": "child<pcie-root-port>"}]}',
        ],
    ),
    script(
        "hotplug-q35-two-root-ports",
        regs(0),
        regs(1),
        regs(2),
        call("device_add", {"driver": "e1000e", "id": "nic2", "bus": "rp2"}),
        call("device_add", {"driver": "virtio-blk-pci", "id": "blk1", "bus": "rp1", "drive": "d1"}),
        regs(0),
        regs(1),
        regs(2),
        call("device_del", {"id": "nic2"}),
        regs(0),
        regs(1),
        # bsel follows QEMU's bus walk: rp2's bus is 0, rp1's is 1 (reverse creation order)
        Qtest("outl 0xcd0 0x1"),
        Qtest("outl 0xcc8 0x1"),  # the guest ejects blk1 unasked
        WaitEvent("DEVICE_DELETED", device="blk1"),
        Sync(),
        Qtest("outl 0xcd0 0x0"),
        Qtest("outl 0xcc8 0x1"),
        WaitEvent("DEVICE_DELETED", device="nic2"),
        Sync(),
        regs(0),
        regs(1),
        peripheral(),
        must=[deleted("blk1"), deleted("nic2")],
        machine="q35",
        extra_args=[*RP1, *RP2, "-drive", "if=none,id=d1,driver=null-co"],
    ),
    script(
        "hotplug-q35-guest-eject-without-device-del",
        call("device_add", {"driver": "e1000e", "id": "nic0", "bus": "rp1"}),
        Qtest("outl 0xcd0 0x0"),
        Qtest("outl 0xcc8 0x1"),
        WaitEvent("DEVICE_DELETED", device="nic0"),
        Sync(),
        regs(0),
        peripheral(),
        machine="q35",
        extra_args=RP1,
        must=[deleted("nic0")],
    ),
    script(
        "hotplug-q35-errors",
        call("device_add", {"driver": "e1000e", "id": "nic0", "bus": "pcie.0", "addr": "0x5"}),
        call("device_add", {"driver": "pcie-root-port", "id": "rp2", "bus": "pcie.0", "addr": "0x6", "chassis": 2}),
        call("device_add", {"driver": "e1000e", "id": "nic1", "bus": "rp2"}),
        call("device_add", {"driver": "e1000e", "id": "nic1", "bus": "rp1", "addr": "0x1"}),
        call("device_add", {"driver": "e1000e", "id": "nic1", "bus": "rp1"}),
        call("device_add", {"driver": "e1000e", "id": "nic2", "bus": "rp1"}),
        call("device_del", {"id": "rp1"}),
        call("device_del", {"id": "nic0"}),
        peripheral(),
        machine="q35",
        extra_args=RP1,
        must=[
            b'{"error": {"class": "GenericError", "desc": "Bus \'pcie.0\' does not support hotplugging"}}',
            b'{"error": {"class": "GenericError", "desc": "Bus \'rp2\' not found"}}',
        ],
    ),
]


#: every modelled driver behind a root port: add, qom, unplug request, the guest's eject, events, gone
DRIVERS: dict[str, dict[str, Any]] = {
    "virtio-net-pci": {},
    "virtio-blk-pci": {"drive": "d1"},
    "virtio-scsi-pci": {},
    "virtio-serial-pci": {},
    "virtio-balloon-pci": {},
    "e1000": {},
    "e1000e": {},
    "rtl8139": {},
    "pci-bridge": {"chassis_nr": 5},
}
SCRIPTS += [
    script(
        f"hotplug-q35-cycle-{driver}",
        call("device_add", {"driver": driver, "id": "dev0", "bus": "rp1", **extra}),
        peripheral(),
        call("qom-list", {"path": "/machine/peripheral/dev0"}),
        call("qom-get", {"path": "/machine/peripheral/dev0", "property": "parent_bus"}),
        regs(0),
        call("device_del", {"id": "dev0"}),
        regs(0),
        Qtest("outl 0xcc8 0x1"),
        WaitEvent("DEVICE_DELETED", device="dev0"),
        Sync(),
        regs(0),
        peripheral(),
        machine="q35",
        extra_args=[*RP1, "-blockdev", "driver=null-co,node-name=d1"],
        must=[deleted("dev0")],
    )
    for driver, extra in DRIVERS.items()
]


test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
