"""Differential: PCI configuration space and the virtio-pci transport as libqtest/libqos reach them (type-1
ports 0xcf8/0xcfc, q35's MMCONFIG window, BAR sizing and mapping, the modern virtio common config)."""

from __future__ import annotations

from tests.oracle import Qtest, Script, Step, WaitEvent, call, differential_tests, script

#: long scripts: QEMU's qtest log would fill the harness's stderr pipe (and -qtest-log is checked on the way)
QUIET = ["-qtest-log", "/dev/null"]
ROOT_PORT = [*QUIET, "-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1,addr=0x3"]


def cf8(bus: int, devfn: int, off: int) -> int:
    return 0x80000000 | (bus << 16) | (devfn << 8) | off


def cfg_read(bus: int, devfn: int, off: int, width: str = "l") -> list[Step]:
    port = 0xCFC + (off & 3)
    return [Qtest(f"outl 0xcf8 {hex(cf8(bus, devfn, off & ~3))}"), Qtest(f"in{width} {hex(port)}")]


def cfg_write(bus: int, devfn: int, off: int, value: int, width: str = "l") -> list[Step]:
    port = 0xCFC + (off & 3)
    return [Qtest(f"outl 0xcf8 {hex(cf8(bus, devfn, off & ~3))}"), Qtest(f"out{width} {hex(port)} {hex(value)}")]


def dump(bus: int, devfn: int, size: int = 256) -> list[Step]:
    """Every dword of a function's configuration space through 0xcf8/0xcfc."""
    out: list[Step] = []
    for off in range(0, size, 4):
        out += cfg_read(bus, devfn, off)
    return out


def sizing(bus: int, devfn: int, bars: range) -> list[Step]:
    """What qpci_iomap does to size a BAR: write all ones, read back, write zero again."""
    out: list[Step] = []
    for bar in bars:
        off = 0x10 + 4 * bar
        out += cfg_write(bus, devfn, off, 0xFFFFFFFF) + cfg_read(bus, devfn, off) + cfg_write(bus, devfn, off, 0)
    return out


def scan(bus: int) -> list[Step]:
    """The vendor/device word of function 0 of every slot (absent ones read all ones)."""
    out: list[Step] = []
    for slot in range(32):
        out += cfg_read(bus, slot << 3, 0)
    return out


def virtio_common(base: int) -> list[Step]:
    """The modern common config at ``base``: what qvirtio_pci_init_virtio_1, qvirtio_start_device and
    feature negotiation do, plus queue registers and a reset."""
    return [
        Qtest(f"readb {hex(base + 0x14)}"),
        Qtest(f"writeb {hex(base + 0x14)} 0x0"),
        Qtest(f"readb {hex(base + 0x14)}"),
        Qtest(f"writeb {hex(base + 0x14)} 0x1"),
        Qtest(f"writeb {hex(base + 0x14)} 0x3"),
        Qtest(f"read {hex(base + 0x14)} 1"),
        Qtest(f"writel {hex(base)} 0x0"),
        Qtest(f"readl {hex(base + 0x4)}"),
        Qtest(f"writel {hex(base)} 0x1"),
        Qtest(f"readl {hex(base + 0x4)}"),
        Qtest(f"writel {hex(base)} 0x2"),
        Qtest(f"readl {hex(base + 0x4)}"),
        Qtest(f"readl {hex(base)}"),
        Qtest(f"writel {hex(base + 0x8)} 0x1"),
        Qtest(f"writel {hex(base + 0xC)} 0x1"),
        Qtest(f"readl {hex(base + 0xC)}"),
        Qtest(f"writel {hex(base + 0x8)} 0x0"),
        Qtest(f"writel {hex(base + 0xC)} 0x20"),
        Qtest(f"readl {hex(base + 0xC)}"),
        Qtest(f"readw {hex(base + 0x12)}"),
        Qtest(f"readw {hex(base + 0x10)}"),
        Qtest(f"readb {hex(base + 0x15)}"),
        Qtest(f"writew {hex(base + 0x16)} 0x1"),
        Qtest(f"readw {hex(base + 0x16)}"),
        Qtest(f"readw {hex(base + 0x18)}"),
        Qtest(f"writew {hex(base + 0x18)} 0x40"),
        Qtest(f"readw {hex(base + 0x18)}"),
        Qtest(f"writew {hex(base + 0x18)} 0x0"),
        Qtest(f"readw {hex(base + 0x18)}"),
        Qtest(f"readw {hex(base + 0x1E)}"),
        Qtest(f"readw {hex(base + 0x1A)}"),
        Qtest(f"writew {hex(base + 0x1A)} 0x0"),
        Qtest(f"readw {hex(base + 0x1A)}"),
        Qtest(f"writew {hex(base + 0x1A)} 0x200"),
        Qtest(f"readw {hex(base + 0x1A)}"),
        Qtest(f"writel {hex(base + 0x20)} 0x12345000"),
        Qtest(f"writel {hex(base + 0x24)} 0x1"),
        Qtest(f"readq {hex(base + 0x20)}"),
        Qtest(f"writew {hex(base + 0x1C)} 0x1"),
        Qtest(f"readw {hex(base + 0x1C)}"),
        Qtest(f"writew {hex(base + 0x16)} 0x400"),
        Qtest(f"readw {hex(base + 0x16)}"),
        Qtest(f"writew {hex(base + 0x16)} 0x3ff"),
        Qtest(f"readw {hex(base + 0x18)}"),
        Qtest(f"readw {hex(base + 0x1C)}"),
        Qtest(f"readl {hex(base + 0x28)}"),
        Qtest(f"writeb {hex(base + 0x14)} 0xf"),
        Qtest(f"readb {hex(base + 0x14)}"),
        Qtest(f"writeb {hex(base + 0x14)} 0x0"),
        Qtest(f"readb {hex(base + 0x14)}"),
        Qtest(f"writew {hex(base + 0x16)} 0x1"),
        Qtest(f"readw {hex(base + 0x18)}"),
        Qtest(f"readw {hex(base + 0x1C)}"),
        Qtest(f"readq {hex(base + 0x20)}"),
        Qtest(f"readl {hex(base + 0xC)}"),
        Qtest(f"readw {hex(base + 0x10)}"),
        Qtest(f"read {hex(base + 0x10)} 8"),
        Qtest(f"readl {hex(base + 0x40)}"),
    ]


def enable_virtio(bus: int, devfn: int, base: int) -> list[Step]:
    """libqos: command |= I/O, memory, master; size BAR 4 (64-bit: the low dword), map it at ``base``."""
    return [
        *cfg_read(bus, devfn, 0x04, "w"),
        *cfg_write(bus, devfn, 0x04, 0x7, "w"),
        *cfg_read(bus, devfn, 0x04, "w"),
        *cfg_write(bus, devfn, 0x20, 0xFFFFFFFF),
        *cfg_read(bus, devfn, 0x20),
        *cfg_write(bus, devfn, 0x20, base),
        *cfg_read(bus, devfn, 0x20),
        *cfg_read(bus, devfn, 0x24),
    ]


SCRIPTS: list[Script] = [
    script(
        "pci-config-pc-board",
        scan(0),
        [s for devfn in (0x00, 0x08, 0x09, 0x0B) for s in dump(0, devfn)],
        sizing(0, 0x09, range(6)),
        dump(0, 0x09, 0x40),
        machine="pc",
        extra_args=QUIET,
    ),
    script(
        "pci-config-q35-board",
        scan(0),
        [s for devfn in (0x00, 0xF8, 0xFA, 0xFB) for s in dump(0, devfn)],
        sizing(0, 0xFA, range(6)),
        machine="q35",
        extra_args=QUIET,
    ),
    script(
        "pci-config-ports",
        Qtest("inl 0xcf8"),
        Qtest("outl 0xcf8 0x80000000"),
        Qtest("inl 0xcf8"),
        Qtest("inw 0xcf8"),
        Qtest("inb 0xcf8"),
        Qtest("outw 0xcf8 0x1234"),
        Qtest("inl 0xcf8"),
        Qtest("inl 0xcfc"),
        Qtest("inw 0xcfe"),
        Qtest("inb 0xcff"),
        Qtest("outl 0xcf8 0x80000002"),
        Qtest("inw 0xcfc"),
        Qtest("inb 0xcfd"),
        Qtest("outl 0xcf8 0x00000000"),
        Qtest("inl 0xcfc"),
        Qtest("outl 0xcf8 0x800000fc"),
        Qtest("inl 0xcfc"),
        Qtest("inw 0xcfe"),
        Qtest("outl 0xcf8 0x80ff0000"),
        Qtest("inl 0xcfc"),
        *cfg_write(0, 0x08, 0x3C, 0xAB, "b"),
        *cfg_read(0, 0x08, 0x3C),
        *cfg_write(0, 0x08, 0x00, 0xFFFFFFFF),
        *cfg_read(0, 0x08, 0x00),
        machine="pc",
        extra_args=QUIET,
    ),
    script(
        "pci-config-pc-devices",
        [
            s
            for n, d in enumerate(["virtio-net-pci", "e1000", "rtl8139", "virtio-scsi-pci", "pci-bridge"])
            for s in call("device_add", {"driver": d, "id": f"d{n}", "addr": hex(4 + n)})
        ],
        call("blockdev-add", {"driver": "null-co", "node-name": "disk0"}),
        call("device_add", {"driver": "virtio-blk-pci", "id": "blk", "drive": "disk0", "addr": "0xa"}),
        call("device_add", {"driver": "virtio-serial-pci", "id": "ser", "addr": "0xb"}),
        call("device_add", {"driver": "virtio-balloon-pci", "id": "bal", "addr": "0xc"}),
        call("device_add", {"driver": "e1000e", "id": "e1000e", "addr": "0xd"}),
        scan(0),
        [s for slot in range(4, 14) for s in dump(0, slot << 3)],
        [s for slot in range(4, 14) for s in sizing(0, slot << 3, range(6))],
        extra_args=[*QUIET, "-device", "pci-bridge,chassis_nr=5,id=br0,addr=0x1f"],
        machine="pc",
    ),
    script(
        "pci-config-pc-cold-devices",
        scan(0),
        [s for slot in range(4, 12) for s in dump(0, slot << 3)],
        [s for slot in range(4, 12) for s in sizing(0, slot << 3, range(6))],
        extra_args=[
            *QUIET,
            *("-device", "virtio-rng-pci,addr=0x4", "-device", "qemu-xhci,addr=0x5", "-device", "VGA,addr=0x6"),
            *("-device", "virtio-gpu-pci,addr=0x7", "-device", "intel-hda,addr=0x8"),
            *("-device", "piix3-usb-uhci,addr=0x9", "-device", "ich9-usb-ehci1,addr=0xa"),
            *("-device", "bochs-display,addr=0xb"),
        ],
        machine="pc",
    ),
    script(
        "pci-config-pc-virtio-transport",
        enable_virtio(0, 0x20, 0xE0000000),
        virtio_common(0xE0000000),
        Qtest("read 0xe0002000 8"),
        Qtest("readb 0xe0001000"),
        Qtest("writel 0xe0003000 0x0"),
        # memory decoding off: the BAR no longer answers
        *cfg_write(0, 0x20, 0x04, 0x0, "w"),
        Qtest("readb 0xe0000014"),
        extra_args=[*QUIET, "-device", "virtio-net-pci,id=net0,addr=0x4"],
        machine="pc",
    ),
    script(
        "pci-config-q35-root-port-slots",
        # an empty port, one with a cold-plugged device, and one that gets a device while looked at
        dump(0, 0x18),
        dump(0, 0x20),
        call("device_add", {"driver": "virtio-net-pci", "id": "net0", "bus": "rp1"}),
        dump(0, 0x18),
        call("device_del", {"id": "net0"}),
        call("qom-get", {"path": "/machine/peripheral/rp1/rp1", "property": "acpi-pcihp-bsel"}),
        Qtest("outl 0xcd0 0x1"),
        Qtest("outl 0xcc8 0x1"),
        WaitEvent("DEVICE_DELETED", device="net0"),
        dump(0, 0x18),
        machine="q35",
        extra_args=[
            *ROOT_PORT,
            *("-device", "pcie-root-port,id=rp2,bus=pcie.0,chassis=2,addr=0x4"),
            *("-device", "e1000e,bus=rp2,id=cold"),
        ],
    ),
    script(
        "pci-config-q35-behind-root-port",
        # nothing behind the port answers until its bus numbers are set
        dump(1, 0x00, 0x40),
        call("device_add", {"driver": "virtio-net-pci", "id": "net0", "bus": "rp1"}),
        dump(1, 0x00, 0x40),
        cfg_write(0, 0x18, 0x18, 0x00010100),
        cfg_read(0, 0x18, 0x18),
        dump(1, 0x00),
        dump(0, 0x18),  # the port's link and slot registers with a device behind it
        # MMCONFIG: off until PCIEXBAR is enabled, then 4 KiB per function
        Qtest("readl 0xb0000000"),
        cfg_read(0, 0x00, 0x60),
        cfg_write(0, 0x00, 0x60, 0xB0000001),
        Qtest("readl 0xb0000000"),
        Qtest("readl 0xb0018000"),
        [Qtest(f"readl {hex(0xB0100000 + off)}") for off in range(0x100, 0x180, 4)],
        Qtest("readl 0xb0100ffc"),
        Qtest("readl 0xb0108000"),
        Qtest("writel 0xb010003c 0x5"),
        Qtest("readl 0xb010003c"),
        cfg_read(1, 0x00, 0x3C),
        # the port's windows and the device's BAR: reachable only through both
        enable_virtio(1, 0x00, 0xE0000000),
        Qtest("readl 0xe0000004"),
        cfg_write(0, 0x18, 0x20, 0xE000E000),
        cfg_write(0, 0x18, 0x24, 0xE001E001),
        cfg_write(0, 0x18, 0x04, 0x6, "w"),
        virtio_common(0xE0000000),
        machine="q35",
        extra_args=ROOT_PORT,
    ),
]


test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
