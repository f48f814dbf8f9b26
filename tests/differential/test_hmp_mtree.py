"""Differential: HMP ``info mtree`` (and ``-o``, ``-D``, ``-d``, ``-f``, its option errors) through
human-monitor-command: the board's regions, each PCI function's bus-master address space, BARs a guest
(qtest's config cycles) or the firmware (SeaBIOS under TCG) programs, bridge and root-port windows, a
hot-plugged device's regions and their removal on eject.

QEMU prints address spaces (and flat views) in the order of a hash table keyed by pointers, which changes
from run to run: both transcripts get their blocks (separated by a blank line) sorted, flat views
unnumbered. After the firmware has run, only the
blocks the model derives are compared (the I/O space, the PCI containers, the bus-master spaces of
functions no boot driver touches): SeaBIOS's PAM and SMRAM settings and kvmvapic's ROM are not modelled.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection

import pytest

from tests.differential.test_firmware_pci import PC_DEVICES, Q35_DEVICES
from tests.differential.test_hmp_commands import hmp
from tests.differential.test_hmp_monitor import transcript
from tests.oracle import (
    Expect,
    Poll,
    Qtest,
    QtestPoll,
    Script,
    Send,
    Step,
    WaitEvent,
    call,
    cmd,
    differential_tests,
    fakeqemu_target,
    qemu_target,
    script,
)

_REPLY = re.compile(rb'^\{"return": "((?:[^"\\]|\\.)*)"')


def blocks(keep: Collection[str] = ()) -> tuple[bytes, Callable[[re.Match[bytes]], bytes]]:
    """A scrub that sorts an ``info mtree`` reply's blocks (only those whose heading is in ``keep``,
    when given)."""

    def canonical(m: re.Match[bytes]) -> bytes:
        text: str = json.loads(b'"' + m[1] + b'"')
        if not text.startswith(("address-space: ", "memory-region: ", "FlatView #")):
            return m[0]
        text = re.sub(r"^FlatView #\d+", "FlatView #N", text, flags=re.M)  # numbered in that order
        parts = [p for p in text.split("\r\n\r\n") if p]
        if keep:
            parts = [p for p in parts if any(p.startswith(k + "\r\n") or f"\r\n{k}\r\n" in p for k in keep)]
        return b'{"return": ' + json.dumps("\r\n\r\n".join(sorted(parts))).encode()

    return _REPLY.pattern, canonical


def cfg(bus_dev_fn: int, offset: int, size: str, value: int) -> list[Step]:
    """A configuration write through 0xcf8/0xcfc (``size``: l, w or b)."""
    addr = 0x80000000 | (bus_dev_fn << 8) | (offset & ~3)
    return [Qtest(f"outl 0xcf8 0x{addr:x}"), Qtest(f"out{size} 0x{0xCFC + (offset & 3):x} 0x{value:x}")]


def qom(device: str, *regions: str) -> list[Step]:
    """qom-get of what a mapping changes in each of ``device``'s memory regions."""
    steps: list[Step] = []
    for region in regions:
        for prop in ("addr", "size", "priority", "container"):
            steps += call("qom-get", {"path": f"{device}/{region}", "property": prop})
    return steps


MTREE = ("info mtree", "info mtree -o", "info mtree -D", "info mtree -d -o -D", "info mtree -f", "info mtree -f -o")
ERRORS = ("info mtree -x", "info mtree -fo", "info mtree -o -f", "info mtree -", "info mtree -D -", "info mtree x")

#: 00:06.0 (devfn 0x30) and a bridge at 00:05.0 (devfn 0x28)
NIC, BRIDGE = 0x30, 0x28
PROGRAMMED: list[Step] = [
    *call("device_add", {"driver": "virtio-net-pci", "id": "hn", "addr": "0x6", "romfile": ""}),
    *hmp("info mtree -o"),
    *cfg(NIC, 0x10, "l", 0xC101),  # legacy I/O BAR
    *cfg(NIC, 0x14, "l", 0xFEB00000),  # MSI-X
    *cfg(NIC, 0x20, "l", 0xFE000000),  # the modern BAR (64-bit)
    *cfg(NIC, 0x24, "l", 0),
    *hmp("info mtree -o"),  # decoding still off: nothing mapped
    *cfg(NIC, 0x04, "w", 0x0007),  # I/O, memory, bus master
    *cfg(BRIDGE, 0x1C, "w", 0xC0C0),  # I/O window 0xc000-0xcfff
    *cfg(BRIDGE, 0x20, "l", 0xFE9FFE80),  # memory window 0xfe800000-0xfe9fffff
    *cfg(BRIDGE, 0x04, "w", 0x0001),  # I/O only
    *hmp("info mtree -o -D"),
    *qom("/machine/peripheral/hn", "virtio-pci[0]", "virtio-pci[1]", "virtio-net-pci-msix[0]"),
    *qom("/machine/peripheral/br", "pci_bridge_io[1]", "pci_bridge_mem[0]"),
    *cfg(NIC, 0x04, "w", 0x0002),  # memory only, no bus master
    *cfg(BRIDGE, 0x04, "w", 0x0003),
    *hmp("info mtree -o"),
    DEL := Send(cmd("device_del", {"id": "hn"})),
    Expect(1),
    Qtest("outl 0xae08 0x40"),
    WaitEvent("DEVICE_DELETED", device="hn"),
    *hmp("info mtree -o"),
]

#: QEMU 7.2's ``info mtree -f`` leaks a reference on each flat view several address spaces share: a device
#: with a memory BAR in the system view then is never finalized (no DEVICE_DELETED); one plugged after it
#: and deleted later is (its event comes after the one that never does: call_rcu keeps order)
LEAK: list[Step] = [
    *call("device_add", {"driver": "virtio-net-pci", "id": "hn", "addr": "0x6", "romfile": ""}),
    *cfg(NIC, 0x14, "l", 0xFEB00000),
    *cfg(NIC, 0x04, "w", 0x0002),
    *hmp("info mtree -f"),
    *call("device_add", {"driver": "virtio-net-pci", "id": "hn2", "addr": "0x7", "romfile": ""}),
    *call("device_del", {"id": "hn"}),
    Qtest("outl 0xae08 0x40"),
    WaitEvent("DEVICE_DELETED"),
    *call("device_del", {"id": "hn2"}),
    Qtest("outl 0xae08 0x80"),
    WaitEvent("DEVICE_DELETED", device="hn2"),
    *call("qom-list", {"path": "/machine/peripheral"}),
]

#: chipset registers a guest writes: the i440FX's SMRAM (open, then closed with SMRAM on, as SeaBIOS does);
#: q35's PCIEXBAR (MMCONFIG at 0xb0000000) and ICH9's RCBA
SMRAM = [*cfg(0, 0x72, "b", 0x4A), *hmp("info mtree -o", "info mtree -f"), *cfg(0, 0x72, "b", 0x0A), *hmp("info mtree")]
Q35_REGISTERS = [
    *cfg(0, 0x64, "l", 0),
    *cfg(0, 0x60, "l", 0xB0000001),
    *cfg(0xF8, 0xF0, "l", 0xFED1C001),
    *hmp("info mtree -o", "info mtree -f"),
    *cfg(0, 0x60, "l", 0xB0000004),  # 64 MiB, disabled
    *hmp("info mtree"),
]

#: q35 with the controllers SeaBIOS boots from and a network card whose option ROM (iPXE) runs: each one's
#: command register is polled through MMCONFIG until bus mastering is on, then their bus-master spaces
#: (virtio-net without a ROM stays off)
DRIVEN = (
    "-device", "pcie-root-port,id=rp1,chassis=1,addr=0x4", "-blockdev", "null-co,node-name=d0",
    "-device", "virtio-blk-pci,id=vb,bus=rp1,drive=d0", "-device", "e1000e,id=ee,addr=0x5",
    "-device", "qemu-xhci,id=x,addr=0x6", "-device", "virtio-net-pci,id=vn,romfile=,addr=0x7",
)  # fmt: skip
DRIVEN_STEPS: list[Step] = [
    *(QtestPoll(f"readw 0x{0xB0000004 + (b << 20) + (d << 15) + (f << 12):x}", b"OK 0x0000000000000107", interval=0.05)
      for b, d, f in ((1, 0, 0), (0, 5, 0), (0, 6, 0), (0, 0x1F, 2))),
    *hmp("info mtree -o"),
]  # fmt: skip
DRIVEN_BLOCKS = (
    "address-space: virtio-blk-pci", "address-space: e1000e", "address-space: qemu-xhci",
    "address-space: virtio-net-pci", "address-space: ich9-ahci", "address-space: pcie-root-port",
)  # fmt: skip

#: after the firmware: the blocks the model derives (and bus-master spaces of functions no boot driver uses)
PCI_BLOCKS = (
    "address-space: I/O",
    "memory-region: pci",
    "memory-region: pci_bridge_pci",
    "memory-region: pci_bridge_io",
)
PC_BOOTED = (
    "address-space: virtio-net-pci",
    "address-space: e1000",
    "address-space: pci-bridge",
    "address-space: PIIX4_PM",
)
Q35_BOOTED = (
    "address-space: virtio-net-pci",
    "address-space: pcie-root-port",
    "address-space: ICH9-LPC",
    "address-space: mch",
)


VN = "/machine/peripheral/vn"
PC_QOM: list[Step] = [
    *qom(VN, "virtio-pci[0]", "virtio-pci[1]", "virtio-net-pci-msix[0]", "msix-table[0]", "bus master[0]"),
    *qom("/machine/peripheral/e1", "e1000-mmio[0]", "e1000-io[0]"),
    *qom("/machine/peripheral/br", "pci_bridge_io[0]", "pci_bridge_io[1]", "pci_bridge_mem[0]"),
    *qom("/machine/peripheral/br", "pci_bridge_pref_mem[0]", "shpc-bar[0]"),
    *qom("/machine/peripheral/vb", "virtio-pci[0]", "virtio-pci[1]"),
]
Q35_QOM: list[Step] = [
    *qom(VN, "virtio-pci[0]", "virtio-net-pci-msix[0]"),
    *qom("/machine/peripheral/rp1", "pci_bridge_io[1]", "pci_bridge_mem[0]", "pci_bridge_pref_mem[0]"),
    *qom("/machine/peripheral/rp2", "pci_bridge_mem[0]"),
]


def booted(machine: str, until: bytes, devices: tuple[str, ...], keep: tuple[str, ...]) -> Script:
    """Once the firmware's last write shows in query-pci (see test_firmware_pci)."""
    steps = [
        Poll("query-pci", until),
        *hmp("info mtree -o", "info mtree -D"),
        *(PC_QOM if machine == "pc" else Q35_QOM),
    ]
    scrub = [blocks(PCI_BLOCKS + keep)]
    return script(f"mtree-{machine}-booted", steps, machine=machine, paused=False, extra_args=devices, scrub=scrub)


#: a display, USB, sound and ISA devices (regions of their own beside their BARs, owners below the device)
MIXED = (
    "-device", "VGA,id=v", "-device", "qemu-xhci,id=x,p2=15,p3=15", "-device", "intel-hda,id=snd",
    "-chardev", "null,id=c0", "-device", "isa-serial,chardev=c0,id=s0", "-device", "ib700", "-device", "pvpanic",
)  # fmt: skip
CIRRUS = ("-device", "cirrus-vga,id=v", "-device", "ich9-usb-ehci1,id=e")

SCRIPTS: list[Script] = [
    script("mtree-pc", hmp(*MTREE, *ERRORS), machine="pc", scrub=[blocks()]),
    script("mtree-q35", hmp(*MTREE), machine="q35", scrub=[blocks()]),
    script("mtree-pc-devices", hmp(*MTREE), PC_QOM, machine="pc", extra_args=PC_DEVICES, scrub=[blocks()]),
    script("mtree-q35-root-ports", hmp(*MTREE), Q35_QOM, machine="q35", extra_args=Q35_DEVICES, scrub=[blocks()]),
    script(
        "mtree-programmed-flat",
        PROGRAMMED[: PROGRAMMED.index(DEL)],
        hmp("info mtree -f", "info mtree -f -o"),
        machine="pc",
        extra_args=("-device", "pci-bridge,id=br,chassis_nr=1,addr=5"),
        scrub=[blocks()],
    ),
    script("mtree-flat-leak", LEAK, machine="pc", scrub=[blocks()]),
    script("mtree-smram", SMRAM, machine="pc", scrub=[blocks()]),
    script("mtree-q35-registers", Q35_REGISTERS, machine="q35", scrub=[blocks()]),
    script(
        "mtree-programmed-hotplug",
        PROGRAMMED,
        machine="pc",
        extra_args=("-device", "pci-bridge,id=br,chassis_nr=1,addr=5"),
        scrub=[blocks()],
    ),
    script("mtree-pc-mixed", hmp(*MTREE), machine="pc", extra_args=MIXED, scrub=[blocks()]),
    script(
        "mtree-q35-3g", hmp("info mtree -o", "info mtree -f"), machine="q35", extra_args=("-m", "3G"), scrub=[blocks()]
    ),
    script(
        "mtree-pc-4g", hmp("info mtree -o", "info mtree -f"), machine="pc", extra_args=("-m", "4G"), scrub=[blocks()]
    ),
    script(
        "mtree-pc-ports",
        hmp("info mtree -o"),
        machine="pc",
        extra_args=(
            "-chardev",
            "null,id=c0",
            "-device",
            "isa-serial,chardev=c0,id=s0,index=1",
            "-device",
            "pvpanic,ioport=0x506",
        ),
        scrub=[blocks()],
    ),
    script("mtree-q35-cirrus", hmp(*MTREE), machine="q35", extra_args=CIRRUS, scrub=[blocks()]),
    script(
        "mtree-pc-mixed-booted",
        Poll("query-pci", b'"address": 4273946624'),  # intel-hda's BAR, the last function set up
        hmp("info mtree -o"),
        qom("/machine/peripheral/x/xhci-core", "xhci[0]"),
        qom("/machine/peripheral/v", "vga.vram[0]", "vga.mmio[0]", "vga-lowmem[0]"),
        machine="pc",
        paused=False,
        extra_args=MIXED,
        scrub=[blocks(PCI_BLOCKS)],
    ),
    script(
        "mtree-boot-drivers",
        DRIVEN_STEPS,
        machine="q35",
        paused=False,
        extra_args=DRIVEN,
        scrub=[blocks(DRIVEN_BLOCKS)],
    ),
    booted("pc", b'"address": 49152', PC_DEVICES, PC_BOOTED),
    booted("q35", b'"address": 4271898624', Q35_DEVICES, Q35_BOOTED),
]


test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)


@pytest.mark.qemu
def test_human_monitor_socket(qemu_binary: str) -> None:
    """The same through ``-monitor`` (readline echo, CRLF, the prompt), blocks sorted."""
    typed = [(b"info mtree -o\n", 1), (b"info mtree -D -x\n", 1)]

    def blocks_of(command: list[str]) -> list[list[bytes]]:
        out = []
        for chunk in transcript(command, typed):
            at = chunk.find(b"address-space: ")  # the echoed line first, then the blocks
            at = len(chunk) if at < 0 else at
            out.append([chunk[:at], *sorted(chunk[at:].split(b"\r\n\r\n"))])
        return out

    assert blocks_of(fakeqemu_target().command([])) == blocks_of(qemu_target().command([]))
