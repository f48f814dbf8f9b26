"""Differential: pcie-pci-bridge on q35 behind a pcie-root-port (QEMU 7.2's hw/pci-bridge/pcie_pci_bridge.c):
its QOM and qtree shape, query-pci and ``info pci`` before and after SeaBIOS numbers the buses, the devices
behind it unplugged through ACPI pcihp (the cold-plugged bridge's secondary bus gets the ACPI handler) and
through its own SHPC once hot-added, the pending unplug a system_reset carries out, a repeated device_del,
and what QEMU refuses."""

from __future__ import annotations

import pytest

from tests.differential.hotplug_steps import deleted, peripheral
from tests.differential.test_firmware_pci import booted
from tests.oracle import (
    Gather,
    Poll,
    Qtest,
    Script,
    Send,
    Step,
    Sync,
    WaitEvent,
    call,
    cmd,
    differential_tests,
    fakeqemu_target,
    qemu_target,
    script,
    start_outcome,
)

PORT = ["-device", "pcie-root-port,id=p1,chassis=1,addr=0x4"]
BRIDGE = [*PORT, "-device", "pcie-pci-bridge,bus=p1,id=b1"]
SEL = 0xCD0
NULL = ["-blockdev", "driver=null-co,node-name=d1"]
NO_ACPI_BRIDGES = ["-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off"]
BEHIND = (
    "-device", "virtio-net-pci,id=vn,bus=b1,addr=1,romfile=",
    "-drive", "if=none,id=d0,file=null-co://",
    "-device", "virtio-blk-pci,id=vb,bus=b1,addr=2,drive=d0",
)  # fmt: skip


def regs(bsel: int) -> list[Step]:
    """The ICH9 pcihp registers (up, down, rmv, sel) of bus ``bsel``."""
    return [Qtest(f"outl {hex(SEL)} {hex(bsel)}"), *(Qtest(f"inl {hex(p)}") for p in (0xCC0, 0xCC4, 0xCCC, SEL))]


def cfg_read(bus: int, off: int, devfn: int = 0) -> list[Step]:
    """A dword of function ``devfn`` (slot 0 function 0 by default) of ``bus`` through the type-1 ports."""
    return [Qtest(f"outl 0xcf8 {hex(0x80000000 | bus << 16 | devfn << 8 | off)}"), Qtest("inl 0xcfc")]


def shpc_window(dwords: tuple[int, ...], bus: int = 1, cap: int = 0x40, devfn: int = 0) -> list[Step]:
    """SHPC registers read through the bridge's capability: the DWORD select written, the data read."""
    steps: list[Step] = []
    for dword in dwords:
        steps += [
            Qtest(f"outl 0xcf8 {hex(0x80000000 | bus << 16 | devfn << 8 | cap)}"),
            Qtest(f"outb {hex(0xCFC + (cap + 2) % 4)} {hex(dword)}"),
        ]
        steps += cfg_read(bus, cap + 4, devfn)
    return steps


def at_once(execute: str, args: dict[str, str], messages: int = 3) -> list[Step]:
    """A command whose devices QEMU finalizes at once: its reply races the DEVICE_DELETED events that
    QEMU's call_rcu thread sends (a virtio proxy's backend, then the device)."""
    return [Send(cmd(execute, args)), Gather(messages)]


def shape(dev: str) -> list[Step]:
    return [
        *peripheral(),
        *call("qom-list", {"path": f"/machine/peripheral/{dev}"}),
        *call("qom-get", {"path": f"/machine/peripheral/{dev}", "property": "parent_bus"}),
        *call("qom-get", {"path": f"/machine/peripheral/{dev}", "property": "hotpluggable"}),
        *call("qom-get", {"path": f"/machine/peripheral/{dev}", "property": "msi"}),
        *call("human-monitor-command", {"command-line": "info qtree"}),
        *call("query-pci"),
        *call("human-monitor-command", {"command-line": "info pci"}),
    ]


SCRIPTS: list[Script] = [
    script(
        # device-plug-test's q35-pci-unplug-request: the request is pending until a reset ejects it
        "pcie-pci-bridge-unplug-on-reset",
        shape("b1"),
        call("qom-get", {"path": "/machine/peripheral/dev0", "property": "parent_bus"}),
        call("qom-get", {"path": "/machine/peripheral/dev0", "property": "hotpluggable"}),
        call("qom-get", {"path": "/machine/peripheral/p1", "property": "chassis"}),
        regs(0),
        regs(1),
        call("device_del", {"id": "dev0"}),
        regs(0),
        regs(1),
        call("device_del", {"id": "dev0"}),
        at_once("system_reset", {}, 4),  # RESET, the reply, the backend's and the device's DEVICE_DELETED
        Sync(),
        regs(0),
        peripheral(),
        machine="q35",
        extra_args=[*BRIDGE, "-device", "virtio-mouse-pci,bus=b1,id=dev0"],
        must=[deleted("dev0")],
    ),
    script(
        # once the VM has run its virtual clock moves: a repeated device_del is accepted and the request
        # sent again (pcihp's pending_deleted_expires_ms), where under -S it is refused
        "pcie-pci-bridge-repeat-running",
        Poll("query-pci", b'"secondary": 2'),  # SeaBIOS has run: the virtual clock is past 0 ms
        call("device_del", {"id": "dev0"}),
        call("device_del", {"id": "dev0"}),
        regs(1),
        call("device-list-properties", {"typename": "pcie-pci-bridge"}),
        machine="q35",
        paused=False,
        extra_args=[*BRIDGE, "-device", "virtio-mouse-pci,bus=b1,id=dev0,addr=0x3"],
    ),
    script(
        # msi=off: no MSI capability (msi_init is the bridge's last capability, the head of the list); the
        # root port given bus 1 so that its configuration space answers on the type-1 ports
        "pcie-pci-bridge-msi-off",
        Qtest("outl 0xcf8 0x80002018"),
        Qtest("outl 0xcfc 0x10100"),
        *(step for off in (0x04, 0x34, 0x84, 0x8C, 0x90, 0x94) for step in cfg_read(1, off)),
        Qtest("outl 0xcfc 0xffffffff"),
        Qtest("inl 0xcfc"),
        call("qom-get", {"path": "/machine/peripheral/b1", "property": "msi"}),
        machine="q35",
        extra_args=[*PORT, "-device", "pcie-pci-bridge,bus=p1,id=b1,msi=off"],
    ),
    script(
        # drive_del-test's device_add_q35: hot-added onto the cold bridge's bus (ACPI pcihp), ejected
        "pcie-pci-bridge-acpi-hotplug",
        regs(0),
        regs(1),
        call("device_add", {"driver": "virtio-blk-pci", "id": "blk0", "bus": "b1", "drive": "d1"}),
        call("device_add", {"driver": "virtio-net-pci", "id": "net0", "bus": "b1", "addr": "0x5"}),
        regs(0),
        regs(1),
        call("qom-get", {"path": "/machine/peripheral/net0", "property": "parent_bus"}),
        call("device_del", {"id": "net0"}),
        regs(1),
        Qtest("outl 0xcc8 0x20"),
        WaitEvent("DEVICE_DELETED", device="net0"),
        Sync(),
        regs(1),
        call("device_del", {"id": "blk0"}),
        at_once("system_reset", {}, 4),
        Sync(),
        call("query-block"),
        peripheral(),
        machine="q35",
        extra_args=[*BRIDGE, *NULL],
        must=[deleted("net0"), deleted("blk0")],
    ),
    script(
        # what QEMU refuses: hotplug onto pcie.0, unplugging the cold bridge or its port, the bridge on a
        # bus that is not there, unknown properties
        "pcie-pci-bridge-refusals",
        call("device_add", {"driver": "pcie-pci-bridge", "id": "b2"}),
        call("device_add", {"driver": "pcie-pci-bridge", "id": "b2", "bus": "nope"}),
        call("device_add", {"driver": "pcie-pci-bridge", "id": "b2", "bus": "p1", "chassis_nr": 3}),
        call("device_add", {"driver": "pcie-pci-bridge", "id": "b2", "bus": "p1", "msi": "maybe"}),
        call("device_add", {"driver": "pcie-pci-bridge", "id": "b1", "bus": "p1"}),
        call("device_add", {"driver": "virtio-net-pci", "id": "n1", "bus": "b1", "addr": "0x0"}),
        call("device_add", {"driver": "virtio-net-pci", "id": "n1", "bus": "b1", "addr": "0x1f"}),
        call("device_del", {"id": "n1"}),
        call("device_del", {"id": "p1"}),
        call("device_del", {"id": "b1"}),
        Sync(),
        peripheral(),
        machine="q35",
        extra_args=[*BRIDGE, "-device", "virtio-mouse-pci,bus=b1,id=dev0,addr=0x0"],
    ),
    script(
        # a hot-added pcie-pci-bridge: its own SHPC is the handler of its bus; a device plugged behind it
        # sits in an unpowered slot until a reset, so a device_del removes it at once; after the reset the
        # request goes to the guest, and a repeat is accepted (SHPC keeps no pending state)
        "pcie-pci-bridge-shpc",
        call("device_add", {"driver": "pcie-pci-bridge", "id": "b1", "bus": "p1"}),
        shape("b1"),
        at_once("device_add", {"driver": "virtio-net-pci", "id": "net0", "bus": "b1"}, 2),
        Sync(),
        peripheral(),
        call("device_add", {"driver": "virtio-net-pci", "id": "net0", "bus": "b1", "addr": "0x1"}),
        call("qom-get", {"path": "/machine/peripheral/net0", "property": "hotpluggable"}),
        at_once("device_del", {"id": "net0"}),
        Sync(),
        call("device_add", {"driver": "virtio-net-pci", "id": "net1", "bus": "b1", "addr": "0x3"}),
        Send(cmd("system_reset")),
        Sync(unordered=True),
        call("device_del", {"id": "net1"}),
        call("device_del", {"id": "net1"}),
        Send(cmd("system_reset")),
        Sync(unordered=True),
        peripheral(),
        call("device_del", {"id": "b1"}),
        Sync(),
        peripheral(),
        machine="q35",
        extra_args=PORT,
        must=[deleted("net0")],
    ),
    script(
        # where else QEMU takes it and what goes behind it: a pcie-pci-bridge behind another one or behind
        # a pci-bridge, a root port or a PCIe NIC on its bus (QEMU checks none of this)
        "pcie-pci-bridge-placement",
        call("device_add", {"driver": "pcie-pci-bridge", "id": "b2", "bus": "b1", "addr": "0x3"}),
        call("device_add", {"driver": "pcie-root-port", "id": "p2", "bus": "b1", "addr": "0x4", "chassis": 5}),
        call("device_add", {"driver": "pcie-pci-bridge", "id": "b3", "bus": "pb", "addr": "0x3"}),
        call("device_add", {"driver": "e1000e", "id": "e1", "bus": "b1", "addr": "0x6"}),
        call("device_add", {"driver": "virtio-net-pci", "id": "n9", "bus": "b2", "addr": "0x1"}),
        call("qom-get", {"path": "/machine/peripheral/n9", "property": "parent_bus"}),
        call("device_del", {"id": "b2"}),
        regs(1),
        Sync(),
        peripheral(),
        call("query-pci"),
        machine="q35",
        extra_args=[*BRIDGE, "-device", "pci-bridge,id=pb,chassis_nr=3,bus=pcie.0,addr=0x6"],
    ),
    script(
        # without ACPI hotplug on bridges the cold bridge keeps its SHPC: hotplug onto it works, a device
        # present at start sits in a powered slot (the request goes to the guest), a new one does not
        "pcie-pci-bridge-shpc-cold",
        call("device_add", {"driver": "virtio-net-pci", "id": "n1", "bus": "b1", "addr": "0x3"}),
        call("device_del", {"id": "n0"}),
        at_once("device_del", {"id": "n1"}),
        Sync(),
        peripheral(),
        machine="q35",
        extra_args=[*NO_ACPI_BRIDGES, *BRIDGE, "-device", "virtio-net-pci,bus=b1,id=n0,addr=0x2"],
    ),
    script(
        # the SHPC registers, through the capability's window (select, then data; QEMU refreshes the data
        # only on a write to the capability, and writes its own register at the capability's offset) and
        # through BAR 0 once mapped; a plug latches the presence, MRL and button events; device_del of a
        # powered slot latches the button; the guest's slot command (disable, power LED off) ejects
        "pcie-pci-bridge-shpc-registers",
        call("device_add", {"driver": "pcie-pci-bridge", "id": "b1", "bus": "p1"}),
        Qtest("outl 0xcf8 0x80002018"),
        Qtest("outl 0xcfc 0x10100"),
        shpc_window((0, 3, 4, 5, 6, 8, 9, 10, 0x13)),
        call("device_add", {"driver": "virtio-net-pci", "id": "n1", "bus": "b1", "addr": "0x1"}),
        shpc_window((6, 9)),
        at_once("device_del", {"id": "n1"}),
        shpc_window((6, 9)),
        call("device_add", {"driver": "virtio-net-pci", "id": "n2", "bus": "b1", "addr": "0x2"}),
        Send(cmd("system_reset")),
        Sync(unordered=True),
        Qtest("outl 0xcf8 0x80002018"),
        Qtest("outl 0xcfc 0x10100"),
        shpc_window((9, 10)),
        call("device_del", {"id": "n2"}),
        call("device_del", {"id": "n2"}),
        shpc_window((6, 10)),
        # BAR 0 at 0xe0000000: the root port's memory window, the bridge's BAR, memory decoding on both
        Qtest("outl 0xcf8 0x80002020"),
        Qtest("outl 0xcfc 0xe0f0e000"),
        Qtest("outl 0xcf8 0x80002004"),
        Qtest("outl 0xcfc 0x6"),
        Qtest("outl 0xcf8 0x80010010"),
        Qtest("outl 0xcfc 0xe0000000"),
        Qtest("outl 0xcf8 0x80010004"),
        Qtest("outl 0xcfc 0x6"),
        Qtest("readl 0xe0000028"),
        Qtest("readl 0xe0000018"),
        Qtest("writew 0xe000002a 0x4"),  # the button event cleared (write 1)
        Qtest("readl 0xe0000028"),
        Qtest("writeb 0xe0000015 0x2"),
        Qtest("writeb 0xe0000014 0xf"),  # slot 2: disable, power LED off
        WaitEvent("DEVICE_DELETED", device="n2"),
        Sync(),
        Qtest("readl 0xe0000014"),
        Qtest("readl 0xe0000020"),
        Qtest("readl 0xe0000028"),
        Qtest("writeb 0xe0000014 0x48"),
        Qtest("readl 0xe0000014"),
        peripheral(),
        machine="q35",
        extra_args=PORT,
    ),
    script(
        # the same controller in a pci-bridge hot-added on pc (at 00:05.0, its BAR 0 on the root bus)
        "pci-bridge-shpc-registers-pc",
        call("device_add", {"driver": "pci-bridge", "id": "br", "chassis_nr": 1, "addr": "0x5"}),
        call("device_add", {"driver": "virtio-net-pci", "id": "n1", "bus": "br", "addr": "0x1"}),
        shpc_window((3, 6, 9, 10), bus=0, devfn=0x28),
        Send(cmd("system_reset")),
        Sync(unordered=True),
        shpc_window((9, 10), bus=0, devfn=0x28),
        call("device_del", {"id": "n1"}),
        Qtest("outl 0xcf8 0x80002810"),
        Qtest("outl 0xcfc 0xe0000000"),
        Qtest("outl 0xcf8 0x80002804"),
        Qtest("outl 0xcfc 0x6"),
        Qtest("readl 0xe0000024"),
        Qtest("writeb 0xe0000015 0x1"),
        Qtest("writeb 0xe0000014 0x3f"),  # slot 1: disable, power and attention LEDs off
        WaitEvent("DEVICE_DELETED", device="n1"),
        Sync(),
        Qtest("readl 0xe0000024"),
        Qtest("readl 0xe0000020"),
        peripheral(),
        machine="pc",
    ),
    script(
        # cold-plugged on pcie.0 of q35 and hot-added on pc's pci.0 (a PCI Express device on a PCI bus)
        "pcie-pci-bridge-on-root-bus",
        shape("b0"),
        call("device_add", {"driver": "virtio-net-pci", "id": "net0", "bus": "b0"}),
        machine="q35",
        extra_args=["-device", "pcie-pci-bridge,id=b0,addr=0x5"],
    ),
    script(
        "pcie-pci-bridge-pc",
        call("device_add", {"driver": "pcie-pci-bridge", "id": "b0", "addr": "0x6"}),
        shape("b0"),
        call("device_add", {"driver": "virtio-net-pci", "id": "net0", "bus": "b0", "addr": "0x2"}),
        at_once("device_del", {"id": "net0"}),
        Sync(),
        machine="pc",
        must=[deleted("net0")],
    ),
    script(
        # SeaBIOS numbers the buses (p1: 1, b1: 2) and sets up the bridge's 64-bit SHPC BAR, its windows and
        # the devices behind it; virtio-blk is set up last (its I/O BAR at 0xc000 marks the end)
        "firmware-q35-pcie-pci-bridge",
        booted(b'"address": 49152'),
        machine="q35",
        paused=False,
        extra_args=[*BRIDGE, *BEHIND],
    ),
]


test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)


# --- start-up refusals --------------------------------------------------------------------------------

COLD = [
    # without ACPI on bridges, the cold bridge's SHPC refuses slot 0 (the device unrealized: QEMU exits 1)
    ["-M", "q35", *NO_ACPI_BRIDGES, *BRIDGE, "-device", "virtio-net-pci,bus=b1,id=n0"],
    ["-M", "q35", *BRIDGE, "-device", "pcie-pci-bridge,bus=p1,id=b2,addr=0x0"],
    ["-M", "q35", *PORT, "-device", "pcie-pci-bridge,bus=p1,id=b1,msi=no-such"],
]


@pytest.mark.qemu
@pytest.mark.parametrize("args", COLD, ids=[" ".join(c[-2:])[:60] for c in COLD])
def test_cold_refusal_like_qemu(qemu_binary: str, args: list[str]) -> None:
    qemu = start_outcome(qemu_target(), args)
    assert qemu[0] == 1, qemu
    assert start_outcome(fakeqemu_target(), args) == qemu
