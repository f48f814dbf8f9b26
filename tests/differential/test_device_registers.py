"""Differential: the register blocks fakeqemu models behind a device's BARs, read and written by qtest as
QEMU's qos-test reaches them: nvme (the controller registers, MSI-X table, the CMB of cmb_size_mb, the PMR of
a pmrdev backend, out-of-bounds accesses), sdhci-pci (capabilities, maximum current, version, the storing
registers); and the ipoctal232 on a tpci200's IndustryPack bus (QOM, info qtree)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

import pytest

from tests.differential.test_hmp_mtree import blocks
from tests.differential.test_pci_config import QUIET, cfg_read, cfg_write, dump, sizing
from tests.oracle import (
    Qtest,
    Repl,
    Script,
    Step,
    Target,
    WaitEvent,
    call,
    differential_tests,
    fakeqemu_target,
    qemu_target,
    reset,
    script,
)
from tests.scratch import scratch

DEVFN = 4 << 3
BAR0, CMB, PMR = 0xE0000000, 0xE0200000, 0xE1000000


def mapped(bars: dict[int, int], command: int = 0x6) -> list[Step]:
    """Size every BAR as qpci_iomap does, place the given ones (64-bit: the high half 0), enable decoding."""
    out = [*dump(0, DEVFN, 0x60), *sizing(0, DEVFN, range(6))]
    for bar, addr in bars.items():
        out += cfg_write(0, DEVFN, 0x10 + 4 * bar, addr) + cfg_write(0, DEVFN, 0x14 + 4 * bar, 0)
    out += cfg_write(0, DEVFN, 0x04, command, "w")
    out += [step for bar in bars for step in cfg_read(0, DEVFN, 0x10 + 4 * bar)]
    return out


def reads(base: int, offsets: list[int], width: str = "l") -> list[Step]:
    return [Qtest(f"read{width} {hex(base + off)}") for off in offsets]


NVME_REGS = [*range(0, 0x60, 4), *range(0xE00, 0xE1C, 4)]


#: the BARs as the monitor shows them once mapped (sizes and types as the device registered them)
LOOKS = [
    *call("query-pci"),
    *call("human-monitor-command", {"command-line": "info pci"}),
    *call("human-monitor-command", {"command-line": "info qtree"}),
]


NVME_IDS = ("a", "q", "nvme-long-id", "x9", "disk", "nvme0")
REGIONS_QOM = [
    *call("qom-list", {"path": "/machine/peripheral/nv0"}),
    *(
        step
        for child in ("nvme-cmb[0]", "nvme-bar0[0]", "nvme[0]", "msix-table[0]", "msix-pba[0]")
        for prop in ("container", "addr", "size", "priority")
        for step in call("qom-get", {"path": f"/machine/peripheral/nv0/{child}", "property": prop})
    ),
]


def nvme_script(
    name: str, opts: str, steps: list[Step], extra: list[str] | None = None, scrub: Sequence[tuple[bytes, Repl]] = ()
) -> Script:
    args = [*QUIET, *(extra or []), "-device", f"nvme,id=nv0,addr=0x4,serial=foo{opts}"]
    return script(f"nvme-{name}", *LOOKS, *steps, *LOOKS, extra_args=args, scrub=scrub)


NVME_BASIC = [
    *mapped({0: BAR0}),
    *reads(BAR0, NVME_REGS),
    Qtest(f"readq {hex(BAR0)}"),
    *reads(BAR0, [0x0, 0x1, 0x8, 0xFFF], "b"),
    *reads(BAR0, [0x2, 0xFFE, 0xFFF], "w"),
    *reads(BAR0, [0xFFC, 0xFFD, 0x1000, 0x1004, 0x2000, 0x200C, 0x2010, 0x240C, 0x3000, 0x3FFC]),
    *reads(BAR0, [0x200C, 0x2410], "b"),
    # MSI-X table: a vector unmasked, a byte write (not valid), PBA
    Qtest(f"writel {hex(BAR0 + 0x200C)} 0x0"),
    Qtest(f"writel {hex(BAR0 + 0x2000)} 0xfee00000"),
    Qtest(f"writeb {hex(BAR0 + 0x2004)} 0x55"),
    *reads(BAR0, [0x2000, 0x2004, 0x200C, 0x201C]),
    # interrupt masks
    Qtest(f"writel {hex(BAR0 + 0xC)} 0x5"),
    Qtest(f"writel {hex(BAR0 + 0x10)} 0x4"),
    *reads(BAR0, [0xC, 0x10]),
    # enable with nothing set up: the start checks fail (CSTS.CFS); disable resets
    Qtest(f"writel {hex(BAR0 + 0x14)} 0x1"),
    *reads(BAR0, [0x14, 0x1C]),
    Qtest(f"writel {hex(BAR0 + 0x14)} 0x0"),
    *reads(BAR0, [0xC, 0x14, 0x1C]),
    # admin queue attributes and addresses, then an enable that passes: CSTS.RDY
    Qtest(f"writel {hex(BAR0 + 0x24)} 0x001f001f"),
    Qtest(f"writeq {hex(BAR0 + 0x28)} 0x123456000"),
    Qtest(f"writel {hex(BAR0 + 0x30)} 0x789000"),
    Qtest(f"writel {hex(BAR0 + 0x34)} 0x1"),
    Qtest(f"writel {hex(BAR0 + 0x14)} 0x460001"),
    *reads(BAR0, [0x14, 0x1C, 0x24, 0x28, 0x2C, 0x30, 0x34]),
    # shutdown notification: complete at once; cleared again
    Qtest(f"writel {hex(BAR0 + 0x14)} 0x464001"),
    *reads(BAR0, [0x14, 0x1C]),
    Qtest(f"writel {hex(BAR0 + 0x14)} 0x460001"),
    *reads(BAR0, [0x1C]),
    # a byte write is widened to two bytes; read-only and reserved registers keep their values
    Qtest(f"writeb {hex(BAR0 + 0x14)} 0x0"),
    *reads(BAR0, [0x14, 0x1C, 0x24]),
    *[Qtest(f"writel {hex(BAR0 + off)} 0xffffffff") for off in (0x0, 0x4, 0x8, 0x1C, 0x38, 0x3C, 0x50, 0xE00, 0xE04)],
    Qtest(f"writel {hex(BAR0 + 0x1000)} 0x1"),
    *reads(BAR0, [0x0, 0x4, 0x8, 0x1C, 0x38, 0x3C, 0x50, 0x54, 0xE00, 0xE04, 0xE08, 0x1000]),
    # a reset: the controller registers and the MSI-X table as at realize
    Qtest(f"writel {hex(BAR0 + 0x14)} 0x1"),
    *reset(),
    *mapped({0: BAR0}),
    *reads(BAR0, [0x0, 0xC, 0x10, 0x14, 0x1C, 0x24, 0x28, 0x2000, 0x200C]),
]

CMB_STEPS = [
    *mapped({0: BAR0, 2: CMB}),
    *reads(BAR0, [0x0, 0x4, 0x38, 0x3C, 0x50, 0x54, 0x58]),
    # qos-test's oob-cmb-access
    Qtest(f"writel {hex(CMB)} 0xccbbaa99"),
    Qtest(f"readb {hex(CMB)}"),
    Qtest(f"readw {hex(CMB)}"),
    Qtest(f"readq {hex(CMB)}"),
    Qtest(f"writel {hex(CMB + 0x1FFFFF)} 0x44332211"),
    Qtest(f"readb {hex(CMB + 0x1FFFFF)}"),
    Qtest(f"readw {hex(CMB + 0x1FFFFF)}"),
    Qtest(f"readl {hex(CMB + 0x1FFFFF)}"),
    Qtest(f"readl {hex(CMB + 0x1FFFFE)}"),
    Qtest(f"readl {hex(CMB + 0x200000)}"),
    Qtest(f"writeq {hex(CMB + 0x100)} 0x0102030405060708"),
    Qtest(f"readl {hex(CMB + 0x102)}"),
    Qtest(f"readq {hex(CMB + 0x100)}"),
    # CMBMSC: the registers enabled (CRE), a controller base address (CMSE), disabled again
    Qtest(f"writel {hex(BAR0 + 0x50)} 0x1"),
    *reads(BAR0, [0x38, 0x3C, 0x50, 0x58]),
    Qtest(f"writel {hex(BAR0 + 0x54)} 0x1"),
    Qtest(f"writel {hex(BAR0 + 0x50)} 0xabc003"),
    *reads(BAR0, [0x38, 0x3C, 0x50, 0x54, 0x58]),
    Qtest(f"writel {hex(BAR0 + 0x50)} 0x0"),
    *reads(BAR0, [0x38, 0x3C, 0x50, 0x58]),
    # the buffer keeps its data over a reset
    *reset(),
    *mapped({0: BAR0, 2: CMB}),
    Qtest(f"readl {hex(CMB)}"),
    *reads(BAR0, [0x0, 0x4, 0x38, 0x3C, 0x50, 0x54]),
]

PMR_STEPS = [
    *mapped({0: BAR0, 4: PMR}),
    *reads(BAR0, [0x0, 0x4, 0xE00, 0xE04, 0xE08, 0xE0C, 0xE10, 0xE14, 0xE18]),
    # qos-test's pmr-test-access: the region answers only while PMRCTL.EN is set
    Qtest(f"writel {hex(PMR)} 0xccbbaa99"),
    Qtest(f"readl {hex(PMR)}"),
    Qtest(f"writel {hex(BAR0 + 0xE04)} 0x1"),
    *reads(BAR0, [0xE04, 0xE08]),
    Qtest(f"readl {hex(PMR)}"),
    Qtest(f"writel {hex(PMR)} 0x44332211"),
    Qtest(f"writel {hex(PMR + 4)} 0x88776655"),
    Qtest(f"readb {hex(PMR)}"),
    Qtest(f"readw {hex(PMR + 1)}"),
    Qtest(f"readq {hex(PMR)}"),
    Qtest(f"readl {hex(PMR + 6)}"),
    Qtest(f"readl {hex(PMR + 8)}"),
    Qtest(f"writel {hex(BAR0 + 0xE04)} 0x0"),
    *reads(BAR0, [0xE04, 0xE08]),
    Qtest(f"readl {hex(PMR)}"),
    # PMRMSCU/L: an address, and one whose end wraps (CBAI)
    Qtest(f"writel {hex(BAR0 + 0xE18)} 0x1"),
    Qtest(f"writel {hex(BAR0 + 0xE14)} 0x5002"),
    *reads(BAR0, [0xE08, 0xE14, 0xE18]),
    Qtest(f"writel {hex(BAR0 + 0xE18)} 0xffffffff"),
    Qtest(f"writel {hex(BAR0 + 0xE14)} 0xfffff002"),
    *reads(BAR0, [0xE08, 0xE14, 0xE18]),
    # PMRCTL stays over a reset (nvme_ctrl_reset leaves it), and so does the memory
    Qtest(f"writel {hex(BAR0 + 0xE04)} 0x1"),
    *reset(),
    *mapped({0: BAR0, 4: PMR}),
    *reads(BAR0, [0xE04, 0xE08]),
    Qtest(f"readl {hex(PMR)}"),
]

SDHCI_REGS = list(range(0, 0x100, 4))
SDHCI_STEPS = [
    *mapped({0: BAR0}, command=0x2),
    *reads(BAR0, SDHCI_REGS),
    Qtest(f"readq {hex(BAR0 + 0x40)}"),
    Qtest(f"readq {hex(BAR0 + 0x48)}"),
    *reads(BAR0, [0xFE, 0x41, 0x26], "w"),
    *reads(BAR0, [0xFF, 0x43, 0x27], "b"),
    # read-only: capabilities, maximum current, version
    Qtest(f"writeq {hex(BAR0 + 0x40)} 0x1122334455667788"),
    Qtest(f"writel {hex(BAR0 + 0x48)} 0x1"),
    Qtest(f"writel {hex(BAR0 + 0xFC)} 0x0"),
    *reads(BAR0, [0x40, 0x44, 0x48, 0xFC]),
    # the storing registers, whole and in parts
    Qtest(f"writel {hex(BAR0 + 0x00)} 0x12345678"),
    Qtest(f"writeb {hex(BAR0 + 0x01)} 0xab"),
    Qtest(f"writel {hex(BAR0 + 0x08)} 0xdeadbeef"),
    Qtest(f"writew {hex(BAR0 + 0x0A)} 0x1234"),
    Qtest(f"writel {hex(BAR0 + 0x34)} 0xffffffff"),
    Qtest(f"writel {hex(BAR0 + 0x38)} 0x00ff00ff"),
    Qtest(f"writel {hex(BAR0 + 0x54)} 0xffffffff"),
    Qtest(f"writel {hex(BAR0 + 0x58)} 0x87654321"),
    Qtest(f"writel {hex(BAR0 + 0x5C)} 0x1"),
    Qtest(f"writew {hex(BAR0 + 0x5A)} 0xffff"),
    *reads(BAR0, [0x00, 0x08, 0x30, 0x34, 0x38, 0x54, 0x58, 0x5C, 0xFC]),
    Qtest(f"writel {hex(BAR0 + 0x30)} 0xffffffff"),
    Qtest(f"writel {hex(BAR0 + 0x34)} 0x0"),
    *reads(BAR0, [0x30, 0x34]),
    # block size and count (the size limited to the 512-byte buffer), host control (no card: power off)
    Qtest(f"writel {hex(BAR0 + 0x04)} 0x00037fff"),
    Qtest(f"writew {hex(BAR0 + 0x04)} 0x1200"),
    Qtest(f"writel {hex(BAR0 + 0x28)} 0xffffffff"),
    Qtest(f"writeb {hex(BAR0 + 0x2A)} 0x1"),
    *reads(BAR0, [0x04, 0x28]),
    # a command with the clock off is not issued; with it on, no card answers: a timeout
    Qtest(f"writel {hex(BAR0 + 0x34)} 0x01ff01ff"),
    Qtest(f"writel {hex(BAR0 + 0x38)} 0x00010001"),
    Qtest(f"writel {hex(BAR0 + 0x08)} 0x1234"),
    Qtest(f"writel {hex(BAR0 + 0x0C)} 0x0d1a0033"),
    *reads(BAR0, [0x0C, 0x10, 0x30, 0xFC]),
    Qtest(f"writel {hex(BAR0 + 0x2C)} 0x000e0005"),
    *reads(BAR0, [0x2C]),
    Qtest(f"writew {hex(BAR0 + 0x0E)} 0x0d1a"),
    *reads(BAR0, [0x0C, 0x10, 0x30, 0x3C, 0xFC]),
    Qtest(f"writew {hex(BAR0 + 0x0E)} 0x0d1b"),
    *reads(BAR0, [0x0C, 0x30]),
    Qtest(f"writew {hex(BAR0 + 0x0E)} 0x0d00"),
    *reads(BAR0, [0x0C, 0x30]),
    # the command line's reset, force event, auto CMD12 errors (no UHS: host control 2 stays)
    Qtest(f"writeb {hex(BAR0 + 0x2F)} 0x2"),
    *reads(BAR0, [0x24, 0x2C, 0x30]),
    Qtest(f"writel {hex(BAR0 + 0x50)} 0x00ff0011"),
    *reads(BAR0, [0x30, 0x3C, 0x50]),
    Qtest(f"writel {hex(BAR0 + 0x3C)} 0xffff0022"),
    *reads(BAR0, [0x3C]),
    Qtest(f"writeb {hex(BAR0 + 0x2F)} 0x4"),
    *reads(BAR0, [0x28, 0x30]),
    # reset all, through the clock control register
    Qtest(f"writel {hex(BAR0 + 0x2C)} 0x01000001"),
    *reads(BAR0, [0x00, 0x04, 0x08, 0x0C, 0x28, 0x2C, 0x30, 0x34, 0x38, 0x3C, 0x40, 0x58, 0xFC]),
    *reset(),
    *mapped({0: BAR0}, command=0x2),
    *reads(BAR0, [0x00, 0x08, 0x24, 0x34, 0x38, 0x40, 0x54, 0x58, 0xFC]),
]

IPACK_ARGS = ["-device", "tpci200,id=ipack0,addr=0x4"]
IPACK = [
    *call("query-chardev"),
    *call("qom-get", {"path": "/machine/peripheral/oct0", "property": "chardev3"}),
    *call("qom-list", {"path": "/machine/peripheral/oct0"}),
    *call("qom-list", {"path": "/machine/peripheral/oct1"}),
    *call("qom-get", {"path": "/machine/peripheral/oct1", "property": "slot"}),
    *call("human-monitor-command", {"command-line": "info qtree"}),
    *call("device_add", {"driver": "ipoctal232", "id": "oct2", "bus": "ipack0.0"}),
]

#: a file both runs map (the fixture below writes it before each test; the scripts put back what they change)
PMR_FILE = scratch("nvme-pmr.bin")
PMR_BYTES = bytes(range(256)) * 16
SHARED = [
    "-object", f"memory-backend-file,id=fa,mem-path={PMR_FILE},size=4096,share=on",
    "-object", f"memory-backend-file,id=fb,mem-path={PMR_FILE},size=4096,share=on",
    "-object", f"memory-backend-file,id=fc,mem-path={PMR_FILE},size=4096,share=off",
    "-device", "nvme,id=na,addr=0x4,serial=a,pmrdev=fa",
    "-device", "nvme,id=nb,addr=0x5,serial=b,pmrdev=fb",
    "-device", "nvme,id=nc,addr=0x6,serial=c,pmrdev=fc",
]  # fmt: skip


def pmr_on(slot: int, bar0: int, pmr: int) -> list[Step]:
    """BAR 0 and the PMR of the nvme in ``slot`` placed and decoding, PMRCTL.EN set."""
    devfn = slot << 3
    out: list[Step] = []
    for bar, addr in ((0, bar0), (4, pmr)):
        out += cfg_write(0, devfn, 0x10 + 4 * bar, addr) + cfg_write(0, devfn, 0x14 + 4 * bar, 0)
    out += cfg_write(0, devfn, 0x04, 0x6, "w")
    return [*out, Qtest(f"writel {hex(bar0 + 0xE04)} 0x1")]


PMR_A, PMR_B, PMR_C = 0xE1000000, 0xE1001000, 0xE1002000
SHARED_STEPS = [
    *pmr_on(4, 0xE0000000, PMR_A),
    *pmr_on(5, 0xE0010000, PMR_B),
    *pmr_on(6, 0xE0020000, PMR_C),
    *reads(PMR_A, [0, 4, 8, 12]),
    *reads(PMR_C, [0, 12]),
    # a write through one shared mapping is seen through the other; the private one keeps its copy
    Qtest(f"writel {hex(PMR_A + 4)} 0xa1b2c3d4"),
    *reads(PMR_B, [4]),
    *reads(PMR_C, [4]),
    Qtest(f"writel {hex(PMR_C + 8)} 0x55667788"),
    *reads(PMR_A, [8]),
    *reads(PMR_C, [8]),
    Qtest(f"writel {hex(PMR_B + 4)} {hex(int.from_bytes(PMR_BYTES[4:8], 'little'))}"),
    *reads(PMR_A, [4]),
]

REFUSALS = [
    *call("device_add", {"driver": "nvme", "id": "n1"}),
    *call("device_add", {"driver": "nvme", "id": "n1", "serial": "x", "max_ioqpairs": 0}),
    *call("device_add", {"driver": "nvme", "id": "n1", "serial": "x", "num_queues": 1}),
    *call("device_add", {"driver": "nvme", "id": "n1", "serial": "x", "msix_qsize": 0}),
    *call("device_add", {"driver": "nvme", "id": "n1", "serial": "x", "msix_qsize": 2049}),
    *call("device_add", {"driver": "nvme", "id": "n1", "serial": "x", "zoned.zasl": 8}),
    *call("device_add", {"driver": "nvme", "id": "n1", "serial": "x", "vsl": 0}),
    *call("device_add", {"driver": "nvme", "id": "n1", "serial": "x", "pmrdev": "odd"}),
    *call("device_add", {"driver": "nvme", "id": "n1", "serial": "x", "pmrdev": "p0", "msix-exclusive-bar": True}),
    # the backend passed its checks before vsl failed: it stays mapped, as in QEMU
    *call("device_add", {"driver": "nvme", "id": "n1", "serial": "x", "pmrdev": "p0", "vsl": 0}),
    *call("device_add", {"driver": "nvme", "id": "n1", "serial": "x", "pmrdev": "p0"}),
    *call("object-del", {"id": "p0"}),
    # an nvme that holds its PMR backend until it is gone
    *call("device_add", {"driver": "nvme", "id": "n2", "serial": "x", "pmrdev": "p1", "addr": "0x5"}),
    *call("device_add", {"driver": "nvme", "id": "n3", "serial": "y", "pmrdev": "p1", "addr": "0x6"}),
    *call("object-del", {"id": "p1"}),
    *call("device_del", {"id": "n2"}),
    Qtest("outl 0xae08 0x20"),
    WaitEvent("DEVICE_DELETED"),
    *call("object-del", {"id": "p1"}),
    *call("device_add", {"driver": "nvme", "id": "n4", "serial": "", "addr": "0x7"}),
    *call("query-pci"),
]
BACKENDS = ["-object", "memory-backend-ram,id=p0,size=8", "-object", "memory-backend-ram,id=p1,size=8",
            "-object", "memory-backend-ram,id=odd,size=12"]  # fmt: skip

SCRIPTS: list[Script] = [
    script("nvme-pmr-file", *SHARED_STEPS, extra_args=[*QUIET, *SHARED]),
    script("nvme-refusals", *REFUSALS, extra_args=BACKENDS),
    # nvme without an id: its bus is nvme-bus.N (the bus type's automatic id)
    script(
        "nvme-anonymous",
        *(step for n in range(2) for step in call("qom-list", {"path": f"/machine/peripheral-anon/device[{n}]"})),
        *call("human-monitor-command", {"command-line": "info qtree"}),
        *call("device_add", {"driver": "nvme", "serial": "z", "addr": "0x6"}),
        *call("device_add", {"driver": "nvme", "serial": "w", "addr": "0x7", "cmb_size_mb": 1}),
        *call("device_add", {"driver": "nvme", "id": "hot", "serial": "v", "addr": "0x8", "cmb_size_mb": 1}),
        *(step for n in range(2, 4) for step in call("qom-list", {"path": f"/machine/peripheral-anon/device[{n}]"})),
        *call("qom-list", {"path": "/machine/peripheral/hot"}),
        extra_args=["-device", "nvme,addr=0x4,serial=x,cmb_size_mb=1", "-device", "nvme,addr=0x5,serial=y"],
    ),
    script(
        "nvme-ids",
        *(step for dev in NVME_IDS for step in call("qom-list", {"path": f"/machine/peripheral/{dev}"})),
        extra_args=[
            arg
            for n, dev in enumerate(NVME_IDS)
            for arg in ("-device", f"nvme,id={dev},addr={n + 4:#x},serial=s{n}{',cmb_size_mb=1' * (n % 2)}")
        ],
    ),
    script(
        "nvme-q35",
        *mapped({0: BAR0, 2: CMB}),
        *reads(BAR0, [0x0, 0x4, 0x8, 0x2000, 0x200C]),
        Qtest(f"writel {hex(CMB + 0x10)} 0x11223344"),
        *reads(CMB, [0x10]),
        machine="q35",
        extra_args=[*QUIET, "-device", "nvme,id=nv0,addr=0x4,serial=foo,cmb_size_mb=2"],
    ),
    nvme_script("registers", "", NVME_BASIC),
    nvme_script("cmb", ",cmb_size_mb=2", CMB_STEPS),
    nvme_script("queues", ",max_ioqpairs=300,msix_qsize=7", [*mapped({0: BAR0}), *reads(BAR0, [0x0, 0x2000, 0x4000])]),
    # the memory regions' QOM (nvme-cmb[0] in the instance table's GLib order), before and after mapping
    nvme_script(
        "qom", ",cmb_size_mb=2,max_ioqpairs=300,msix_qsize=7", [*REGIONS_QOM, *mapped({0: BAR0, 2: CMB}), *REGIONS_QOM]
    ),
    nvme_script("pmr", ",pmrdev=pmr0", PMR_STEPS, ["-object", "memory-backend-ram,id=pmr0,share=on,size=8"]),
    # info mtree: BAR 0 laid out for msix_qsize, the CMB, the PMR backend's RAM only while enabled (blocks
    # sorted: their order is a known difference, tests/differential/test_hmp_mtree.py)
    nvme_script(
        "mtree",
        ",cmb_size_mb=2,pmrdev=pmr0,max_ioqpairs=300,msix_qsize=7",
        [
            *mapped({0: BAR0, 2: CMB, 4: PMR}),
            *call("human-monitor-command", {"command-line": "info mtree"}),
            Qtest(f"writel {hex(BAR0 + 0xE04)} 0x1"),
            *call("human-monitor-command", {"command-line": "info mtree -o"}),
            Qtest(f"writel {hex(BAR0 + 0xE04)} 0x0"),
            *call("human-monitor-command", {"command-line": "info mtree"}),
        ],
        ["-object", "memory-backend-ram,id=pmr0,size=8"],
        scrub=[blocks()],
    ),
    script("sdhci-pci", *SDHCI_STEPS, extra_args=[*QUIET, "-device", "sdhci-pci,id=sd0,addr=0x4"]),
    script(
        "sdhci-pci-props",
        *mapped({0: BAR0}, command=0x2),
        *reads(BAR0, [0x24, 0x40, 0x44, 0x48, 0x4C, 0xFC]),
        # UHS: host control 2 is written with the auto CMD12 error status; a 2 KiB buffer limits the block size
        Qtest(f"writel {hex(BAR0 + 0x3C)} 0xffff0022"),
        Qtest(f"writel {hex(BAR0 + 0x04)} 0x00017fff"),
        *reads(BAR0, [0x04, 0x3C]),
        extra_args=[
            *QUIET,
            "-device",
            "sdhci-pci,id=sd0,addr=0x4,sd-spec-version=3,capareg=0x05e934b4,maxcurr=0x123,uhs=1",
        ],
    ),
    script(
        "ipoctal232",
        *IPACK,
        extra_args=[
            *IPACK_ARGS,
            *("-chardev", "null,id=c0", "-chardev", "null,id=c1", "-chardev", "null,id=c2"),
            "-device",
            "ipoctal232,id=oct0,bus=ipack0.0,slot=2,chardev0=c0,chardev3=c1",
            "-device",
            "ipoctal232,id=oct1,bus=ipack0.0",
        ],
    ),
]

test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)


@pytest.fixture(autouse=True)
def _pmr_file() -> None:
    PMR_FILE.write_bytes(PMR_BYTES)


def _refusal(target: Target) -> tuple[int, str]:
    """An ipoctal232 after one in the tpci200's last slot (4 slots): QEMU refuses to start."""
    octals = [f"ipoctal232,bus=ipack0.0{slot}" for slot in ("", ",slot=3", "")]
    args = ["-M", "pc", "-display", "none", "-nodefaults", "-S", *IPACK_ARGS]
    for octal in octals:
        args += ["-device", octal]
    res = subprocess.run(target.command(args), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return res.returncode, res.stderr


@pytest.mark.qemu
def test_ipack_slots_like_qemu(qemu_binary: str) -> None:
    qemu = _refusal(qemu_target())
    assert qemu[0] == 1 and "slots available" in qemu[1], qemu
    assert _refusal(fakeqemu_target()) == qemu
