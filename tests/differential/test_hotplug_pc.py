"""Differential: ACPI PCI hotplug on pc (i440fx/PIIX4 pcihp at 0xae00); the test plays the guest."""

from __future__ import annotations

from typing import Any

from tests.differential.hotplug_steps import deleted, peripheral, reply
from tests.oracle import (
    Expect,
    Qtest,
    Script,
    Send,
    Step,
    Sync,
    WaitEvent,
    call,
    cmd,
    differential_tests,
    script,
)

UP, DOWN, EJ, RMV, SEL = 0xAE00, 0xAE04, 0xAE08, 0xAE0C, 0xAE10


def regs() -> list[Step]:
    """What a guest's ACPI code reads: up, down, removable, selected bus."""
    return [Qtest(f"inl {hex(p)}") for p in (UP, DOWN, RMV, SEL)]


OK = b'{"return": {}}'
NULL_DISK = cmd("blockdev-add", {"driver": "null-co", "node-name": "disk0"})

#: driver -> (extra device_add arguments, steps before device_add)
DEVICES: dict[str, tuple[dict[str, Any], list[Step]]] = {
    "virtio-net-pci": ({}, []),
    "virtio-blk-pci": ({"drive": "disk0"}, [Send(NULL_DISK), Expect(1)]),
    "virtio-scsi-pci": ({}, []),
    "virtio-serial-pci": ({}, []),
    "virtio-balloon-pci": ({}, []),
    "e1000": ({}, []),
    "e1000e": ({}, []),
    "rtl8139": ({}, []),
    "pci-bridge": ({"chassis_nr": 1}, []),
}


def cycle(driver: str) -> Script:
    """device_add at slot 4, device_del (twice), guest ejects slot 4, DEVICE_DELETED, gone."""
    extra, pre = DEVICES[driver]
    return script(
        f"hotplug-pc-{driver}",
        pre,
        regs(),
        call("device_add", {"driver": driver, "id": "dev0", "addr": "0x4", **extra}),
        peripheral(),
        regs(),
        call("query-pci"),
        call("device_del", {"id": "dev0"}),
        Sync(),
        regs(),
        call("device_del", {"id": "dev0"}),
        regs(),
        peripheral(),
        Qtest("outl 0xae08 0x10"),
        WaitEvent("DEVICE_DELETED", device="dev0"),
        Sync(),
        regs(),
        peripheral(),
        call("query-pci"),
        call("device_del", {"id": "dev0"}),
        must=[
            OK,
            reply("OK 0x0010"),
            OK,
            reply("OK 0x0000"),
            reply("OK 0x0010"),
            b'{"error": {"class": "GenericError", "desc": "Device dev0 is already in the process of unplug"}}',
            reply("OK"),
            deleted("dev0"),
            reply("OK 0x0000"),
            reply("OK 0x0000"),
            b'{"return": [{"name": "type", "type": "string"}]}',
            b'{"error": {"class": "DeviceNotFound", "desc": "Device \'dev0\' not found"}}',
        ],
    )


SCRIPTS: list[Script] = [cycle(d) for d in DEVICES]
SCRIPTS += [
    script(
        "hotplug-pc-eject-empty-slot",
        regs(),
        Qtest("outl 0xae08 0x100"),
        Sync(),
        regs(),
        peripheral(),
        call("query-pci"),
    ),
    script(
        "hotplug-pc-eject-builtin-slot",
        Qtest("outl 0xae08 0x3"),
        Sync(),
        regs(),
        call("query-pci"),
    ),
    script(
        "hotplug-pc-guest-eject-without-device-del",
        call("device_add", {"driver": "e1000", "id": "nic0", "addr": "0x6"}),
        regs(),
        Qtest("outl 0xae08 0x40"),
        WaitEvent("DEVICE_DELETED", device="nic0"),
        Sync(),
        regs(),
        peripheral(),
        must=[reply("OK 0x0040"), reply("OK"), deleted("nic0")],
    ),
    script(
        "hotplug-pc-two-slots-one-eject",
        call("device_add", {"driver": "e1000", "id": "a", "addr": "0x4"}),
        call("device_add", {"driver": "virtio-net-pci", "id": "b", "addr": "0x5"}),
        regs(),
        call("device_del", {"id": "b"}),
        call("device_del", {"id": "a"}),
        regs(),
        # QEMU ejects only the lowest slot set in the written mask
        Qtest("outl 0xae08 0x30"),
        WaitEvent("DEVICE_DELETED", device="a"),
        Sync(),
        regs(),
        peripheral(),
        Qtest("outl 0xae08 0x30"),  # lowest bit is now an empty slot: nothing happens
        Sync(),
        peripheral(),
        Qtest("outl 0xae08 0x20"),
        WaitEvent("DEVICE_DELETED", device="b"),
        Sync(),
        regs(),
        peripheral(),
        must=[
            reply("OK 0x0030"),
            reply("OK"),
            deleted("a"),
            reply("OK 0x0020"),
            reply("OK"),
            deleted("b"),
            reply("OK 0x0000"),
        ],
    ),
    script(
        "hotplug-pc-auto-slot",
        call("device_add", {"driver": "e1000", "id": "a"}),
        call("device_add", {"driver": "rtl8139", "id": "b"}),
        regs(),
        call("query-pci"),
        call("device_del", {"id": "a"}),
        regs(),
    ),
    script(
        "hotplug-pc-cold-bridge",
        Qtest("outl 0xae10 0x1"),
        regs(),
        Qtest("outl 0xae10 0x0"),
        regs(),
        call("device_add", {"driver": "e1000", "id": "nic1", "bus": "br1", "addr": "0x3"}),
        regs(),
        Qtest("outl 0xae10 0x1"),
        regs(),
        call("device_del", {"id": "nic1"}),
        regs(),
        Qtest("outl 0xae10 0x0"),
        regs(),
        Qtest("outl 0xae08 0x8"),
        Sync(),
        peripheral(),
        Qtest("outl 0xae10 0x1"),
        Qtest("outl 0xae08 0x8"),
        WaitEvent("DEVICE_DELETED", device="nic1"),
        Sync(),
        regs(),
        peripheral(),
        call("query-pci"),
        extra_args=["-device", "pci-bridge,id=br1,chassis_nr=1,addr=0x5"],
        must=[reply("OK 0x0008"), deleted("nic1")],
    ),
    script(
        "hotplug-pc-hot-bridge",
        call("device_add", {"driver": "pci-bridge", "id": "br2", "addr": "0x7", "chassis_nr": 2}),
        regs(),
        Qtest("outl 0xae10 0x1"),
        regs(),
        call("device_add", {"driver": "e1000", "id": "nic2", "bus": "br2", "addr": "0x1"}),
        regs(),
        Send(cmd("system_reset")),
        Expect(2),
        Qtest("outl 0xae10 0x1"),
        regs(),
        call("device_del", {"id": "nic2"}),
        regs(),
        Qtest("outl 0xae08 0x2"),
        Sync(),
        peripheral(),
        call("query-pci"),
    ),
    script(
        "hotplug-pc-device-add-errors",
        call("device_add", {"driver": "e1000", "id": "nic0", "addr": "0x4"}),
        call("device_add", {"driver": "e1000", "id": "nic0", "addr": "0x5"}),
        call("device_add", {"driver": "e1000", "id": "1bad"}),
        call("device_add", {"driver": "e1000", "id": "a b"}),
        call("device_add", {"driver": "e1000", "id": ""}),
        call("device_add", {"id": "x"}),
        call("device_add", {"driver": "nosuchdev", "id": "x"}),
        call("device_add", {"driver": "e1000", "id": "nic1", "addr": "0x4"}),
        call("device_add", {"driver": "e1000", "id": "nic1", "addr": "0x4.1"}),
        call("device_add", {"driver": "e1000", "id": "nic1", "addr": "0x20"}),
        call("device_add", {"driver": "e1000", "id": "nic1", "addr": "zz"}),
        call("device_add", {"driver": "e1000", "id": "nic1", "addr": 4}),
        call("device_add", {"driver": "e1000", "id": "nic1", "bus": "pci.7"}),
        call("device_add", {"driver": "e1000", "id": "nic1", "bus": "nobus"}),
        call("device_add", {"driver": "e1000", "id": "nic1", "unknownprop": "1"}),
        call("device_add", {"driver": "isa-serial", "id": "ser0"}),
        call("device_add", {"driver": "VGA", "id": "vga0"}),
        call("device_add", {"driver": "virtio-net-device", "id": "vnd"}),
        call("device_add", {"driver": "pci-bridge", "id": "brX"}),
        call("device_add", {"driver": "virtio-blk-pci", "id": "blk0"}),
        call("device_add", {"driver": "virtio-blk-pci", "id": "blk0", "drive": "nodisk"}),
        call("device_del", {}),
        call("device_del", {"id": "nosuch"}),
        call("device_del", {"id": "/machine/i440fx"}),
        call("device_del", {"id": "/machine/unattached/device[0]"}),
        call("device_del", {"id": "/machine/peripheral/nic0"}),
        call("device_del", {"id": "nic0"}),
        peripheral(),
        must=[
            OK,
            b'{"error": {"class": "GenericError", "desc": "Duplicate device ID \'nic0\'"}}',
            b'{"error": {"class": "GenericError", "desc": "Parameter \'id\' expects an identifier"}}',
            b'{"error": {"class": "GenericError", "desc": "Parameter \'driver\' is missing"}}',
            b'{"error": {"class": "GenericError", "desc": "\'nosuchdev\' is not a valid device model name"}}',
            b'{"error": {"class": "GenericError", "desc": "PCI: slot 4 function 0 not available for e1000, '
            b'in use by e1000,id=nic0"}}',
            b'{"error": {"class": "GenericError", "desc": "Bus \'pci.7\' not found"}}',
            b'{"error": {"class": "GenericError", "desc": "Bus \'isa.0\' does not support hotplugging"}}',
            b'{"error": {"class": "GenericError", "desc": "Parameter \'driver\' expects a pluggable device type"}}',
        ],
    ),
]


test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
