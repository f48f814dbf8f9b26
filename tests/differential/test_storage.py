"""Differential: disks and cdroms on the board's IDE buses (PIIX IDE on pc, ICH9 AHCI on q35) and on
virtio-scsi-pci: their QOM, ``info qtree``, query-block and query-pci, where a device without a bus or unit
lands, and QEMU's errors (a full bus, a unit in use, hotplug on IDE, a missing or busy drive)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from fakeqemu.machine.block import qcow2
from tests.oracle import (
    Script,
    Step,
    Target,
    WaitEvent,
    call,
    cmd,
    differential_tests,
    fakeqemu_target,
    qemu_target,
    script,
    sends,
)
from tests.scratch import scratch

#: a 64 MiB qcow2 image: a small disk, whose guessed geometry needs no LBA translation
IMAGE = scratch("fakeqemu-differential-storage.qcow2")
qcow2.create(str(IMAGE), 64 << 20)
#: a 4 MiB raw image: a cdrom's medium
ISO = scratch("fakeqemu-differential-storage.iso")
ISO.write_bytes(bytes(4 << 20))


def disk(n: int, readonly: bool = False) -> list[str]:
    """libvirt's two nodes for an image: ``libvirt-N-storage`` (file) and ``libvirt-N-format`` (qcow2; raw
    for a read-only cdrom's medium)."""
    image, fmt = (ISO, "raw") if readonly else (IMAGE, "qcow2")
    return [
        "-blockdev", json.dumps({"driver": "file", "filename": str(image), "node-name": f"libvirt-{n}-storage",
                                 "auto-read-only": True, "discard": "unmap", "read-only": readonly}),
        "-blockdev", json.dumps({"node-name": f"libvirt-{n}-format", "read-only": readonly, "driver": fmt,
                                 "file": f"libvirt-{n}-storage", **({} if readonly else {"backing": None})}),
    ]  # fmt: skip


def dev(**opts: Any) -> list[str]:
    return ["-device", json.dumps(opts, separators=(",", ":"))]


def looks(ids: list[str]) -> list[Step]:
    steps: list[Step] = [*call("query-block"), *call("human-monitor-command", {"command-line": "info qtree"})]
    steps += [*call("query-pci"), *call("query-blockstats")]
    for name in ids:
        steps += call("qom-list", {"path": f"/machine/peripheral/{name}"})
        for prop in ("unit", "serial", "drive", "cyls", "parent_bus", "scsi-id", "lun"):
            steps += call("qom-get", {"path": f"/machine/peripheral/{name}", "property": prop})
    return steps


def ide_refusals(bus: str) -> list[Step]:
    return [
        *call("device_add", {"driver": "ide-cd", "id": "cd9", "bus": bus}),
        *call("device_add", {"driver": "ide-cd", "id": "cd9"}),
        *call("device_del", {"id": "disk0"}),
        *call("device_del", {"id": "cd0"}),
    ]


#: libvirt's IDE disk and cdroms: a disk on bus 0, an empty cdrom, a read-only cdrom with a medium
IDE_PC = [
    *disk(1), *dev(driver="ide-hd", bus="ide.0", unit=0, drive="libvirt-1-format", id="disk0", bootindex=1),
    *dev(driver="ide-cd", bus="ide.1", unit=0, id="cd0"),
    *disk(2, readonly=True), *dev(driver="ide-cd", bus="ide.0", unit=1, drive="libvirt-2-format", id="cd1"),
]  # fmt: skip
IDE_Q35 = [
    *disk(1), *dev(driver="ide-hd", bus="ide.0", drive="libvirt-1-format", id="disk0", bootindex=1),
    *dev(driver="ide-cd", bus="ide.2", id="cd0"),
    *disk(2, readonly=True), *dev(driver="ide-cd", bus="ide.5", drive="libvirt-2-format", id="cd1"),
]  # fmt: skip

SCRIPTS: list[Script] = [
    script("ide-pc", *looks(["disk0", "cd0", "cd1"]), *ide_refusals("ide.1"), extra_args=IDE_PC),
    script("ide-q35", *looks(["disk0", "cd0", "cd1"]), *ide_refusals("ide.3"), machine="q35", extra_args=IDE_Q35),
    script("ide-no-bus-pc", *looks(["a", "b", "c"]),
           extra_args=["-device", "ide-cd,id=a", "-device", "ide-cd,id=b", "-device", "ide-cd,id=c,bus=ide.0"]),
    script("ide-no-bus-q35", *looks(["a"]), machine="q35", extra_args=["-device", "ide-cd,id=a"]),
]  # fmt: skip

# --- SCSI ---------------------------------------------------------------------------------------------

ROOT_PORT = ["-device", "pcie-root-port,port=16,chassis=1,id=pci.1,bus=pcie.0,addr=0x2"]
SCSI = ["-device", "virtio-scsi-pci,id=scsi0,bus=pci.0,addr=0x5"]
#: libvirt's SCSI disk and cdrom (channel/scsi-id/lun given)
SCSI_DEVS = [
    *SCSI, *disk(1),
    *dev(driver="scsi-hd", bus="scsi0.0", channel=0, lun=0, **{"scsi-id": 0}, device_id="drive-scsi0-0-0-0",
         drive="libvirt-1-format", id="disk0", bootindex=1),
    *dev(driver="scsi-cd", bus="scsi0.0", channel=0, lun=0, **{"scsi-id": 1}, id="cd0"),
]  # fmt: skip


def scsi_hotplug() -> list[Step]:
    return [
        *call("blockdev-add", {"driver": "null-co", "node-name": "hot0"}),
        *call("device_add", {"driver": "scsi-hd", "id": "hd1", "bus": "scsi0.0", "drive": "hot0"}),
        *call("qom-get", {"path": "/machine/peripheral/hd1", "property": "scsi-id"}),
        *call("device_add", {"driver": "scsi-cd", "id": "cd1", "bus": "scsi0.0", "scsi-id": 1, "lun": 0}),
        *call("device_add", {"driver": "scsi-cd", "id": "cd2", "bus": "scsi0.0", "scsi-id": 1}),
        *call("qom-get", {"path": "/machine/peripheral/cd2", "property": "lun"}),
        *call("query-block"),
        *call("device_del", {"id": "hd1"}),
        WaitEvent("DEVICE_DELETED"),
        *call("device_del", {"id": "cd2"}),
        WaitEvent("DEVICE_DELETED"),
        *call("query-block"),
        *call("human-monitor-command", {"command-line": "info qtree"}),
        *call("blockdev-del", {"node-name": "hot0"}),
    ]


def legacy_drive_goes_with_its_device() -> list[Step]:
    """blockdev_auto_del: a -drive backend is deleted with its device; a -blockdev node stays. (Its node's
    name is QEMU's count of nodes made so far, ``#blockNNN``: only what is left is compared.)"""
    return [
        *call("qom-get", {"path": "/machine/peripheral/hd0", "property": "drive"}),
        *call("qom-get", {"path": "/machine/peripheral/hd0", "property": "device_id"}),
        *call("qom-get", {"path": "/machine/peripheral/hd1", "property": "device_id"}),
        *call("device_del", {"id": "hd0"}),
        WaitEvent("DEVICE_DELETED"),
        *call("device_del", {"id": "hd1"}),
        WaitEvent("DEVICE_DELETED"),
        *call("query-block"),
        *call("query-named-block-nodes"),
    ]


SCRIPTS += [
    script("scsi-drive-lifetime", *legacy_drive_goes_with_its_device(),
           extra_args=[*SCSI, "-drive", f"if=none,id=drive0,file={ISO},format=raw",
                       "-device", "scsi-hd,bus=scsi0.0,drive=drive0,id=hd0", *disk(1),
                       "-device", "scsi-hd,bus=scsi0.0,drive=libvirt-1-format,id=hd1"]),
    script("scsi-pc", *looks(["disk0", "cd0"]), *scsi_hotplug(), extra_args=SCSI_DEVS),
    script("scsi-q35", *looks(["disk0", "cd0"]), machine="q35",
           extra_args=[*ROOT_PORT, *SCSI_DEVS[:1], "virtio-scsi-pci,id=scsi0,bus=pci.1,addr=0x0", *SCSI_DEVS[2:]]),
]  # fmt: skip

# --- trays and media ----------------------------------------------------------------------------------


#: the nodes blockdev-change-medium opens are named from QEMU's count of nodes made so far
SCRUB = [(rb"#block\d+", b"#block<n>")]


def ask(execute: str, arguments: dict[str, Any] | None = None) -> list[Step]:
    """A command and every message up to its reply (a tray that moves sends DEVICE_TRAY_MOVED first)."""
    return sends(cmd(execute, arguments))


def media(cd: str, disk_id: str) -> list[Step]:
    """A cdrom's tray and medium through every command that moves them, with QEMU's refusals (no guest
    OS: nothing locks the tray, and the tray moves at once)."""
    by_id = {"id": cd}
    return [
        *ask("blockdev-add", {"driver": "file", "filename": str(ISO), "node-name": "iso1", "read-only": True}),
        *ask("blockdev-add", {"driver": "raw", "file": "iso1", "node-name": "media1", "read-only": True}),
        *ask("blockdev-remove-medium", by_id),
        *ask("blockdev-insert-medium", {**by_id, "node-name": "media1"}),
        *ask("blockdev-open-tray", by_id),
        *ask("query-block"),
        *ask("blockdev-open-tray", by_id),
        *ask("blockdev-insert-medium", {**by_id, "node-name": "media1"}),
        *ask("blockdev-remove-medium", by_id),
        *ask("query-block"),
        *ask("blockdev-remove-medium", by_id),
        *ask("blockdev-insert-medium", {**by_id, "node-name": "nosuch"}),
        *ask("blockdev-insert-medium", {**by_id, "node-name": "iso1"}),
        *ask("blockdev-insert-medium", {**by_id, "node-name": "media1"}),
        *ask("query-block"),
        *ask("blockdev-close-tray", by_id),
        *ask("blockdev-close-tray", by_id),
        *ask("query-block"),
        *ask("eject", by_id),
        *ask("query-block"),
        *ask("eject", by_id),
        *ask("eject", {**by_id, "force": True}),
        *ask("blockdev-close-tray", by_id),
        *ask("blockdev-change-medium", {**by_id, "filename": str(ISO), "format": "raw", "read-only-mode": "read-only"}),
        *ask("query-block"),
        *ask("blockdev-change-medium", {**by_id, "filename": "/nonexistent.iso", "format": "raw"}),
        *ask("query-block"),
        *ask("blockdev-change-medium", {**by_id, "filename": str(ISO)}),
        *ask("query-block"),
        *ask("blockdev-change-medium", {**by_id, "filename": str(IMAGE), "read-only-mode": "read-write"}),
        *ask("query-block"),
        *ask("eject", by_id),
        *ask("query-named-block-nodes"),
        *ask("blockdev-open-tray", {"id": disk_id}),
        *ask("blockdev-remove-medium", {"id": disk_id}),
        *ask("eject", {"id": disk_id}),
        *ask("blockdev-open-tray", {"id": "nosuch"}),
        *ask("blockdev-open-tray", {"device": "nosuch"}),
        *ask("blockdev-open-tray", {}),
        *ask("eject", {"device": "", "id": cd}),
        *ask("blockdev-del", {"node-name": "media1"}),
    ]


SCRIPTS += [
    script("media-ide-pc", *media("cd0", "disk0"), extra_args=IDE_PC, scrub=SCRUB),
    script(
        "media-scsi-q35",
        *media("cd0", "disk0"),
        machine="q35",
        scrub=SCRUB,
        extra_args=[*ROOT_PORT, *SCSI_DEVS[:1], "virtio-scsi-pci,id=scsi0,bus=pci.1,addr=0x0", *SCSI_DEVS[2:]],
    ),
]


def hmp(line: str) -> list[Step]:
    return ask("human-monitor-command", {"command-line": line})


def legacy_media() -> list[Step]:
    """A -drive's backend keeps its name (DEVICE_TRAY_MOVED's ``device``, query-block's) through ejects and
    media changes; an empty -drive under a cdrom; HMP eject and change, which name backends."""
    return [
        *ask("eject", {"device": "drive1"}),
        *ask("query-block"),
        *ask("blockdev-change-medium", {"device": "drive1", "filename": str(ISO), "format": "raw"}),
        *ask("query-block"),
        *ask("blockdev-change-medium", {"id": "cd2", "filename": str(ISO), "format": "raw"}),
        *ask("query-block"),
        *hmp("eject cd0"),
        *hmp("eject drive1"),
        *hmp("eject -f drive1"),
        *hmp("change drive1 " + str(ISO)),
        *hmp("change drive1 " + str(ISO) + " raw"),
        *hmp("change drive1 " + str(ISO) + " raw read-only"),
        *hmp("change drive1 " + str(ISO) + " raw bogus"),
        *hmp("change drive1 /nonexistent.iso"),
        *hmp("change nosuch /tmp/x"),
        *hmp("eject"),
        *hmp("change drive1"),
        *hmp("eject drive0"),
        *hmp("eject -f"),
        *ask("query-block"),
        *hmp("eject drive2"),
        *ask("query-block"),
    ]


SCRIPTS += [
    script("legacy-media", *legacy_media(), scrub=[(rb'"node-name": "[^"]*"', b'"node-name": "<node>"')],
           extra_args=[*SCSI, "-drive", f"if=none,id=drive0,file={IMAGE}",
                       "-drive", f"if=none,id=drive1,file={ISO},format=raw,readonly=on", "-drive", "if=none,id=drive2",
                       "-device", "scsi-hd,bus=scsi0.0,drive=drive0,id=hd0",
                       "-device", "scsi-cd,bus=scsi0.0,drive=drive1,id=cd0",
                       "-device", "ide-cd,bus=ide.1,drive=drive2,id=cd2"]),
]  # fmt: skip


def board_drives() -> list[Step]:
    return [
        *call("query-block"),
        *call("human-monitor-command", {"command-line": "info qtree"}),
        *call("eject", {"device": "ide1-cd0"}),
        *call("query-block"),
    ]


#: QEMU makes the board's IDE devices before its later devices (/machine/unattached/device[N] shifts them);
#: fakeqemu numbers them after the board's: their paths are not compared
BOARD_SCRUB = [(rb'"node-name": "[^"]*"', b'"node-name": "<node>"'),
               (rb"/machine/unattached/device\[\d+\]", b"/machine/unattached/device[<n>]")]  # fmt: skip

SCRIPTS += [
    # the board's own IDE devices for -drive if=ide (the default), -cdrom, -hda
    script("board-drives-pc", *board_drives(), scrub=BOARD_SCRUB,
           extra_args=["-cdrom", str(ISO), "-drive", f"file={IMAGE},index=0,format=qcow2"]),
    script("board-drives-q35", *board_drives()[:2], scrub=BOARD_SCRUB, machine="q35",
           extra_args=["-drive", f"file={ISO},media=cdrom,format=raw", "-hdd", str(IMAGE), "-drive",
                       f"if=ide,id=mine,file={ISO},format=raw,media=cdrom,bus=4"]),
]  # fmt: skip

SCRIPTS += [
    # -drive backends: the image file, its format (given or probed), read-only; their nodes' names are
    # QEMU's count of nodes (#blockN) where fakeqemu names them after the drive: not compared
    script("legacy-drives", *call("query-block"), *call("human-monitor-command", {"command-line": "info qtree"}),
           scrub=[(rb'"node-name": "[^"]*"', b'"node-name": "<node>"')],
           extra_args=[*SCSI, "-drive", f"if=none,id=drive0,file={IMAGE}",
                       "-drive", f"if=none,id=drive1,file={ISO},format=raw,readonly=on",
                       "-device", "scsi-hd,bus=scsi0.0,drive=drive0,id=hd0",
                       "-device", "scsi-cd,bus=scsi0.0,drive=drive1,id=cd0"]),
    script("block-sizes", *call("human-monitor-command", {"command-line": "info qtree"}),
           *call("qom-get", {"path": "/machine/peripheral/hd0", "property": "logical_block_size"}),
           extra_args=[*SCSI, *disk(1),
                       *dev(driver="scsi-hd", bus="scsi0.0", drive="libvirt-1-format", id="hd0",
                            logical_block_size=4096, physical_block_size=4096, serial="S123", wwn=0x5000C50015EA71AC),
                       "-device", "ide-cd,bus=ide.1,id=cd0,model=MyCD,serial=XYZ,discard_granularity=0"]),
    script("usb-storage", *call("query-block"), *call("query-blockstats"),
           extra_args=["-device", "qemu-xhci,id=usb", *disk(1),
                       *dev(driver="usb-storage", bus="usb.0", port="1", drive="libvirt-1-format", id="ua-disk")]),
]  # fmt: skip

test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)

# --- start-up refusals --------------------------------------------------------------------------------

BASE = ("-display", "none", "-nodefaults", "-S")
NULL = ["-blockdev", "null-co,node-name=d"]
COLD = [
    ["-M", "pc", "-device", "ide-hd,id=a"],
    ["-M", "pc", "-device", "ide-hd,id=a,drive=nope"],
    ["-M", "pc", *NULL, "-device", "ide-hd,id=a,drive=d", "-device", "ide-hd,id=b,drive=d"],
    ["-M", "pc", *NULL, "-device", "virtio-blk-pci,id=a,drive=d", "-device", "ide-cd,id=b,drive=d"],
    ["-M", "pc", "-device", "ide-cd,id=a,bus=ide.0", "-device", "ide-cd,id=b,bus=ide.0", "-device", "ide-cd,bus=ide.0"],
    ["-M", "pc", "-device", "ide-cd,id=a,unit=2"],
    ["-M", "pc", "-device", "ide-cd,id=a,unit=1", "-device", "ide-cd,id=b,unit=1"],
    ["-M", "pc", "-device", "ide-cd,id=a,unit=-1"],
    ["-M", "pc", "-device", "ide-cd,id=a,bus=pci.0"],
    ["-M", "pc", "-device", "ide-cd,id=a,bus=isa.0"],
    ["-M", "q35", "-device", "ide-cd,id=a,bus=ide.0", "-device", "ide-cd,id=b,bus=ide.0"],
    ["-M", "q35", "-device", "ide-cd,id=a,bus=ide.0,unit=1"],
    ["-M", "q35", "-device", "ide-cd,id=a,bus=ide.6"],
    ["-M", "q35", "-device", "ide-cd,id=a", "-device", "ide-cd,id=b"],
    ["-M", "pc", *SCSI, *NULL, "-device", "scsi-hd,drive=d,id=hd0,logical_block_size=abc"],
    ["-M", "pc", *SCSI, "-device", "scsi-cd,id=a,scsi-id=300"],
    ["-M", "pc", *SCSI, "-device", "scsi-cd,id=a,lun=20000"],
    ["-M", "pc", *SCSI, "-device", "scsi-cd,id=a,channel=1"],
    ["-M", "pc", *SCSI, "-device", "scsi-hd,id=a"],
    ["-M", "pc", "-device", "scsi-cd,id=a"],
    ["-M", "pc", *SCSI, "-device", "scsi-cd,id=a,bus=ide.0"],
    ["-M", "pc", "-drive", f"file={ISO},format=raw,index=4"],
    ["-M", "pc", "-drive", f"file={ISO},format=raw,if=ide,bus=2"],
    ["-M", "pc", "-drive", f"file={ISO},format=raw,index=1", "-drive", f"file={ISO},format=raw,index=1"],
    ["-M", "q35", "-drive", f"file={ISO},format=raw,unit=1"],
    ["-M", "pc", "-cdrom", str(ISO), "-device", "ide-cd,bus=ide.1,unit=0"],
]  # fmt: skip


def _outcome(target: Target, args: list[str]) -> tuple[int, str, str]:
    res = subprocess.run(
        target.command([*BASE, *args]), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    return res.returncode, res.stdout, res.stderr


@pytest.mark.qemu
@pytest.mark.parametrize("args", COLD, ids=[" ".join(c[1:])[:60] for c in COLD])
def test_cold_refusal_like_qemu(qemu_binary: str, args: list[str]) -> None:
    qemu = _outcome(qemu_target(), args)
    assert qemu[0] == 1, qemu
    assert _outcome(fakeqemu_target(), args) == qemu
