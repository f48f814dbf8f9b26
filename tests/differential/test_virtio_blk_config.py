"""Differential: virtio-blk's device configuration region through the modern virtio-pci transport (BAR 4:
common config at 0, ISR at 0x1000, device config at 0x2000), against QEMU 7.2: capacity, geometry, block
sizes and limits from the drive (raw and qcow2, an MBR's partition geometry, a cold-plugged -drive as
qos-test starts it), block_resize with and without DRIVER_OK (ISR, config generation, new capacity), the
guest's write of ``wce`` and device properties that change the region."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.differential.test_blockjobs import ROOT, image_root, qemu_img  # noqa: F401  (its image fixtures)
from tests.differential.test_pci_config import QUIET, cfg_read, cfg_write, enable_virtio
from tests.oracle import Call, Qtest, Script, Step, call, differential_tests, reset, script
from tests.scratch import scratch

BASE = 0xE0000000
ISR, DEVICE = BASE + 0x1000, BASE + 0x2000
#: the image qos-test's virtio-blk tests give drive0: 64 MiB of zeroes
DRIVE_IMAGE = scratch("fakeqemu-differential-virtio-blk.raw")
#: the msix script's own (each script leaves its image at 64 MiB again for the next run)
MSIX_IMAGE = scratch("fakeqemu-differential-virtio-blk-msix.raw")
LEGACY_IMAGE = scratch("fakeqemu-differential-virtio-blk-legacy.raw")
for _image in (DRIVE_IMAGE, MSIX_IMAGE, LEGACY_IMAGE):
    with _image.open("wb") as _f:
        _f.truncate(64 << 20)


def mbr(heads: int, sectors: int) -> bytes:
    """A sector 0 with one partition entry ending on head ``heads - 1``, sector ``sectors``."""
    sector = bytearray(512)
    entry = bytes([0x80, 1, 1, 0, 0x83, heads - 1, sectors, 0x10]) + (2048).to_bytes(4, "little")
    sector[0x1BE : 0x1BE + 16] = entry + (4096).to_bytes(4, "little")
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def make_images(name: str) -> Call:
    """d0.qcow2 (64 MiB), d1.raw (48 MiB + 1 KiB, MBR of 4 heads x 32 sectors), d2.raw (100 MiB, MBR of
    255 heads: the LBA-translated kind, which QEMU replaces by 16 x 63)."""

    def make() -> None:
        d = ROOT / name
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(d / "d0.qcow2"), "64M"], check=True)
        for file, size, head in (("d1.raw", (48 << 20) + 1024, mbr(4, 32)), ("d2.raw", 100 << 20, mbr(255, 63))):
            with (d / file).open("wb") as f:
                f.write(head)
                f.truncate(size)

    return Call(make)


def config(base: int = DEVICE, size: int = 60) -> list[Step]:
    """The whole region in one read, and the capacity as libqos reads it (readq)."""
    return [Qtest(f"read {hex(base)} {size}"), Qtest(f"readq {hex(base)}")]


def driver_ok() -> list[Step]:
    """Status ACKNOWLEDGE, DRIVER, FEATURES_OK then DRIVER_OK; the status and generation read back."""
    return [
        Qtest(f"writeb {hex(BASE + 0x14)} 0x1"),
        Qtest(f"writeb {hex(BASE + 0x14)} 0x3"),
        Qtest(f"writel {hex(BASE + 0x8)} 0x1"),
        Qtest(f"writel {hex(BASE + 0xC)} 0x1"),
        Qtest(f"writeb {hex(BASE + 0x14)} 0xb"),
        Qtest(f"writeb {hex(BASE + 0x14)} 0xf"),
        Qtest(f"readb {hex(BASE + 0x14)}"),
        Qtest(f"readb {hex(BASE + 0x15)}"),
    ]


def look(slots: tuple[int, ...]) -> list[Step]:
    """Map each slot's BAR 4 at BASE + slot << 24 and read its device config."""
    return [
        s for slot in slots for s in enable_virtio(0, slot << 3, BASE + (slot << 24)) + config(DEVICE + (slot << 24))
    ]


def disk(name: str, n: int, fmt: str, ext: str, slot: int, **props: object) -> list[Step]:
    return [
        *call("blockdev-add", {"driver": "file", "node-name": f"s{n}", "filename": f"{ROOT}/{name}/d{n}.{ext}"}),
        *call("blockdev-add", {"driver": fmt, "node-name": f"f{n}", "file": f"s{n}"}),
        *call(
            "device_add", {"driver": "virtio-blk-pci", "id": f"disk{n}", "drive": f"f{n}", "addr": hex(slot)} | props
        ),
    ]


#: BAR 1 (MSI-X table at 0, PBA at 0x800) of 04.0, the capability at 0x98, message targets in RAM
MSIX, MSIX_CAP, MSG = 0xE1000000, 0x98, 0x100000


def msix_steps() -> list[Step]:
    """Config changes signalled by MSI-X (libqos's qvirtio_pci_set_msix_configuration_vector and
    qvirtio_wait_config_isr): a vector's message, a masked vector pending until unmasked, mask-all, no
    message without bus mastering, vectors the table lacks, the state a virtio reset and a system reset
    leave."""
    table = [Qtest(f"readl {hex(MSIX + off)}") for off in range(0, 32, 4)] + [Qtest(f"readl {hex(MSIX + 0x800)}")]
    resize = iter(range(33, 64))

    def changed() -> list[Step]:
        return call("block_resize", {"device": "drive0", "size": next(resize) << 20})

    return [
        *enable_virtio(0, 0x20, BASE),
        *cfg_write(0, 0x20, 0x14, 0xFFFFFFFF),
        *cfg_read(0, 0x20, 0x14),
        *cfg_write(0, 0x20, 0x14, MSIX),
        *cfg_read(0, 0x20, MSIX_CAP),
        *table,
        # the vectors, before MSI-X is enabled: 2 exist (config and one queue)
        Qtest(f"writew {hex(BASE + 0x10)} 0x5"),
        Qtest(f"readw {hex(BASE + 0x10)}"),
        Qtest(f"writew {hex(BASE + 0x10)} 0x0"),
        Qtest(f"readw {hex(BASE + 0x10)}"),
        Qtest(f"writew {hex(BASE + 0x16)} 0x0"),
        Qtest(f"writew {hex(BASE + 0x1A)} 0x1"),
        Qtest(f"readw {hex(BASE + 0x1A)}"),
        *cfg_write(0, 0x20, MSIX_CAP + 2, 0x8000, "w"),
        *cfg_read(0, 0x20, MSIX_CAP),
        # entry 0 unmasked, entry 1 left masked
        Qtest(f"writel {hex(MSIX)} {hex(MSG)}"),
        Qtest(f"writel {hex(MSIX + 4)} 0x0"),
        Qtest(f"writel {hex(MSIX + 8)} 0x1234"),
        Qtest(f"writel {hex(MSIX + 12)} 0x0"),
        Qtest(f"writel {hex(MSIX + 16)} {hex(MSG + 16)}"),
        Qtest(f"writel {hex(MSIX + 24)} 0x5678"),
        *table,
        *driver_ok(),
        *changed(),
        Qtest(f"readl {hex(MSG)}"),
        Qtest(f"readb {hex(ISR)}"),
        # a masked vector: pending in the PBA until unmasked (a write to the PBA changes nothing)
        Qtest(f"writew {hex(BASE + 0x10)} 0x1"),
        Qtest(f"readw {hex(BASE + 0x10)}"),
        *changed(),
        Qtest(f"readl {hex(MSG + 16)}"),
        Qtest(f"readl {hex(MSIX + 0x800)}"),
        Qtest(f"writel {hex(MSIX + 0x800)} 0x0"),
        Qtest(f"readl {hex(MSIX + 0x800)}"),
        Qtest(f"writel {hex(MSIX + 28)} 0x0"),
        Qtest(f"readl {hex(MSG + 16)}"),
        Qtest(f"readl {hex(MSIX + 0x800)}"),
        # mask-all holds it back, clearing it sends it
        Qtest(f"writel {hex(MSG + 16)} 0x0"),
        *cfg_write(0, 0x20, MSIX_CAP + 2, 0xC000, "w"),
        *changed(),
        Qtest(f"readl {hex(MSG + 16)}"),
        Qtest(f"readl {hex(MSIX + 0x800)}"),
        *cfg_write(0, 0x20, MSIX_CAP + 2, 0x8000, "w"),
        Qtest(f"readl {hex(MSG + 16)}"),
        Qtest(f"readl {hex(MSIX + 0x800)}"),
        # without bus mastering no message is stored
        Qtest(f"writel {hex(MSG + 16)} 0x0"),
        *cfg_write(0, 0x20, 0x04, 0x3, "w"),
        *changed(),
        Qtest(f"readl {hex(MSG + 16)}"),
        Qtest(f"readl {hex(MSIX + 0x800)}"),
        *cfg_write(0, 0x20, 0x04, 0x7, "w"),
        # bus mastering off took DRIVER_OK away (virtio_write_config): the driver sets it again
        Qtest(f"readb {hex(BASE + 0x14)}"),
        Qtest(f"writeb {hex(BASE + 0x14)} 0xf"),
        # the vector moved away from a pending one, then a virtio reset: no vector, nothing pending
        Qtest(f"writel {hex(MSIX + 28)} 0x1"),
        *changed(),
        Qtest(f"readl {hex(MSIX + 0x800)}"),
        Qtest(f"writew {hex(BASE + 0x10)} 0x1"),
        *changed(),
        Qtest(f"readl {hex(MSIX + 0x800)}"),
        Qtest(f"writew {hex(BASE + 0x10)} 0x0"),
        Qtest(f"readl {hex(MSIX + 0x800)}"),
        Qtest(f"writeb {hex(BASE + 0x14)} 0x0"),
        Qtest(f"readw {hex(BASE + 0x10)}"),
        Qtest(f"readw {hex(BASE + 0x1A)}"),
        *table,
        *reset(),
        *cfg_read(0, 0x20, MSIX_CAP),
        *cfg_write(0, 0x20, 0x04, 0x7, "w"),
        *cfg_write(0, 0x20, 0x14, MSIX),
        *cfg_write(0, 0x20, 0x20, BASE),
        *table,
        *call("block_resize", {"device": "drive0", "size": 64 << 20}),
    ]


IO = 0xC000


def drive_args(image: Path) -> list[str]:
    """qos-test's set-up: ``image`` as -drive drive0 under a virtio-blk-pci at 04.0."""
    return [
        *QUIET,
        *("-drive", f"if=none,id=drive0,file={image},format=raw,auto-read-only=off"),
        *("-device", "virtio-blk-pci,drive=drive0,addr=04.0"),
    ]


def legacy_steps() -> list[Step]:
    """The legacy transport in I/O BAR 0 (a transitional virtio-blk-pci, as a pre-1.0 driver uses it)."""

    def io(op: str, off: int, value: int | None = None) -> Qtest:
        return Qtest(f"{op} {hex(IO + off)}" + ("" if value is None else f" {hex(value)}"))

    return [
        *cfg_write(0, 0x20, 0x10, 0xFFFFFFFF),
        *cfg_read(0, 0x20, 0x10),
        *cfg_write(0, 0x20, 0x10, IO),
        *cfg_write(0, 0x20, 0x04, 0x1, "w"),
        # features: the offered low 32 bits, what the driver may take; registers only at their own offset
        io("inl", 0x0),
        io("inw", 0x0),
        io("inb", 0x1),
        io("inl", 0x4),
        io("outl", 0x4, 0xFFFFFFFF),
        io("inl", 0x4),
        io("outl", 0x4, 0x40000001),
        io("inl", 0x4),
        io("outl", 0x4, 0x10000244),
        io("inl", 0x4),
        # queues: size, select, the page frame number
        io("inw", 0xC),
        io("outw", 0xE, 0x1),
        io("inw", 0xC),
        io("inw", 0xE),
        io("outw", 0xE, 0x0),
        io("outl", 0x8, 0x12345),
        io("inl", 0x8),
        io("outw", 0xC, 0x10),
        io("inw", 0xC),
        # ACKNOWLEDGE|DRIVER turns bus mastering on; the device configuration at 20
        io("outb", 0x12, 0x1),
        *cfg_read(0, 0x20, 0x04, "w"),
        io("outb", 0x12, 0x3),
        *cfg_read(0, 0x20, 0x04, "w"),
        io("inl", 0x14),
        io("inl", 0x18),
        io("inw", 0x24),
        io("inb", 0x26),
        io("inb", 0x14 + 32),
        io("inl", 0x14 + 56),
        io("inb", 0x14 + 56),
        io("outb", 0x14 + 32, 0x0),
        io("inb", 0x14 + 32),
        io("inw", 0x12),
        io("inb", 0x13),
        # DRIVER_OK, a resize: ISR; features are fixed once FEATURES_OK
        io("outb", 0x12, 0xB),
        io("outl", 0x4, 0x0),
        io("inl", 0x4),
        io("outb", 0x12, 0xF),
        *call("block_resize", {"device": "drive0", "size": 32 << 20}),
        io("inb", 0x13),
        io("inb", 0x13),
        io("inl", 0x14),
        # MSI-X on: the vector registers at 20 and 22, the device configuration at 24
        *cfg_write(0, 0x20, MSIX_CAP + 2, 0x8000, "w"),
        io("inw", 0x14),
        io("outw", 0x14, 0x0),
        io("inw", 0x14),
        io("outw", 0x16, 0x1),
        io("inw", 0x16),
        io("outw", 0x16, 0x7),
        io("inw", 0x16),
        io("inl", 0x18),
        io("inb", 0x18 + 32),
        # a page frame number of 0 resets the device
        io("outl", 0x8, 0x0),
        io("inb", 0x12),
        io("inw", 0x14),
        io("inl", 0x4),
        io("inl", 0x8),
        *cfg_write(0, 0x20, MSIX_CAP + 2, 0x0, "w"),
        io("inl", 0x14),
        *call("block_resize", {"device": "drive0", "size": 64 << 20}),
    ]


def queues(slot: int) -> list[Step]:
    """What a driver learns of the queues and vectors: NUMQ, each queue's size, the MSI-X table size, the
    device config's num_queues, and num-queues as QOM shows it."""
    base = BASE + (slot << 24)
    steps: list[Step] = [
        *enable_virtio(0, slot << 3, base),
        *cfg_read(0, slot << 3, MSIX_CAP),
        *cfg_read(0, slot << 3, MSIX_CAP + 8),
        *cfg_read(0, slot << 3, 0x14),
        Qtest(f"readw {hex(base + 0x12)}"),
        Qtest(f"readw {hex(base + 0x2000 + 34)}"),
    ]
    for q in range(6):
        steps += [Qtest(f"writew {hex(base + 0x16)} {hex(q)}"), Qtest(f"readw {hex(base + 0x18)}")]
    return steps


SCRIPTS: list[Script] = [
    script(
        "virtio-blk-config-drive",
        # qos-test's set-up: -drive if=none + -device virtio-blk-pci at 04.0; the config test's steps
        enable_virtio(0, 0x20, BASE),
        config(),
        Qtest(f"readb {hex(ISR)}"),
        driver_ok(),
        *call("block_resize", {"device": "drive0", "size": 32 << 20}),
        Qtest(f"readb {hex(BASE + 0x15)}"),
        Qtest(f"readb {hex(ISR)}"),
        Qtest(f"readb {hex(ISR)}"),
        config(),
        # a guest write of wce (offset 32), then the region read back
        Qtest(f"writeb {hex(DEVICE + 32)} 0x0"),
        Qtest(f"readb {hex(DEVICE + 32)}"),
        Qtest(f"writeb {hex(DEVICE + 32)} 0x1"),
        Qtest(f"readl {hex(DEVICE + 32)}"),
        # a write past the region is dropped; a narrower read of capacity
        Qtest(f"writel {hex(DEVICE + 58)} 0x12345678"),
        Qtest(f"readl {hex(DEVICE)}"),
        Qtest(f"readw {hex(DEVICE + 16)}"),
        # reset: status 0, the next resize raises nothing until DRIVER_OK again
        Qtest(f"writeb {hex(BASE + 0x14)} 0x0"),
        *call("block_resize", {"device": "drive0", "size": 16 << 20}),
        Qtest(f"readb {hex(ISR)}"),
        Qtest(f"readb {hex(BASE + 0x15)}"),
        config(),
        # the image as the next emulator's start needs it
        *call("block_resize", {"device": "drive0", "size": 64 << 20}),
        extra_args=drive_args(DRIVE_IMAGE),
    ),
    script(
        "virtio-blk-config-msix",
        msix_steps(),
        extra_args=drive_args(MSIX_IMAGE),
    ),
    script(
        "virtio-blk-config-legacy",
        legacy_steps(),
        extra_args=drive_args(LEGACY_IMAGE),
    ),
    script(
        "virtio-blk-config-queues",
        # one queue per vCPU by default; num-queues, queue-size and vectors as set
        queues(4),
        make_images("vblkq"),
        disk("vblkq", 1, "raw", "raw", 5, **{"num-queues": 2, "queue-size": 64, "vectors": 8}),
        queues(5),
        *call("qom-get", {"path": "/machine/peripheral-anon/device[0]", "property": "num-queues"}),
        *call("qom-get", {"path": "/machine/peripheral/disk1", "property": "num-queues"}),
        *call("qom-get", {"path": "/machine/peripheral/disk1", "property": "vectors"}),
        *call("qom-get", {"path": "/machine/peripheral/disk1/virtio-backend", "property": "num-queues"}),
        *call("qom-get", {"path": "/machine/peripheral-anon/device[0]/virtio-backend", "property": "num-queues"}),
        *call("human-monitor-command", {"command-line": "info qtree"}),
        extra_args=[*drive_args(DRIVE_IMAGE), "-smp", "3"],
    ),
    script(
        "virtio-blk-config-images",
        make_images("vblk"),
        disk("vblk", 0, "qcow2", "qcow2", 4),
        disk("vblk", 1, "raw", "raw", 5),
        disk("vblk", 2, "raw", "raw", 6),
        look((4, 5, 6)),
        # a qcow2 grown while its driver is up (BAR 4 of 04.0 is at BASE + 0x4000000)
        [Qtest(f"writeb {hex(BASE + (4 << 24) + 0x14)} {hex(v)}") for v in (1, 3, 0xB, 0xF)],
        *call("block_resize", {"node-name": "f0", "size": 80 << 20}),
        Qtest(f"readb {hex(ISR + (4 << 24))}"),
        config(DEVICE + (4 << 24)),
    ),
    script(
        "virtio-blk-config-properties",
        make_images("vblkp"),
        disk(
            "vblkp",
            1,
            "raw",
            "raw",
            4,
            logical_block_size=4096,
            physical_block_size=16384,
            min_io_size=8192,
            opt_io_size=65536,
            **{"write-cache": "off", "queue-size": 128, "max-discard-sectors": 4096},
        ),
        disk("vblkp", 2, "raw", "raw", 5, cyls=100, heads=16, secs=32, **{"seg-max-adjust": False}),
        look((4, 5)),
    ),
]

test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
