"""Differential: block_set_io_throttle (its look-ups, its checks in QEMU's order, throttle groups shared
between disks, the limits query-block shows and query-named-block-nodes does not, -drive throttling.*)
and block_resize on real image files (qcow2 and raw, grown and shrunk; qemu-img reads them back), against
QEMU 7.2. Each script makes its own images (a ``Call`` step), so both emulators start from the same files."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

from tests.differential.test_blockjobs import ROOT, image_root, qemu_img  # noqa: F401  (its image fixtures)
from tests.oracle import Call, Script, Step, WaitClose, call, differential_tests, script
from tests.scratch import scratch

#: an image for the -drive script, which opens it at start (never resized)
DRIVE_IMAGE = scratch("fakeqemu-differential-block-io.raw")
DRIVE_IMAGE.write_bytes(b"\0" * (1 << 20))
ZERO = {"bps": 0, "bps_rd": 0, "bps_wr": 0, "iops": 0, "iops_rd": 0, "iops_wr": 0}


def make_images(name: str) -> Call:
    """d0.qcow2 (64 MiB) and d1.raw (32 MiB), fresh."""

    def make() -> None:
        d = ROOT / name
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(d / "d0.qcow2"), "64M"], check=True)
        subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(d / "d1.raw"), "32M"], check=True)

    return Call(make)


def sizes(name: str) -> Call:
    """What the files say now: the qcow2 image's virtual size (qemu-img) and the raw file's length."""

    def read() -> bytes:
        d = ROOT / name
        out = subprocess.run(["qemu-img", "info", "-U", "--output=json", str(d / "d0.qcow2")], capture_output=True,
                             check=True).stdout  # fmt: skip
        return f"d0 {json.loads(out)['virtual-size']} d1 {(d / 'd1.raw').stat().st_size}".encode()

    return Call(read)


def check(name: str) -> Call:
    """qemu-img check of the qcow2 image, once the emulator has let go of it."""

    def read() -> bytes:
        path = ROOT / name / "d0.qcow2"
        return subprocess.run(["qemu-img", "check", str(path)], capture_output=True, check=True).stdout

    return Call(read)


def disks(name: str) -> list[Step]:
    """Both images as libvirt opens them (a file node and a format node), each under a virtio-blk-pci."""
    steps: list[Step] = []
    for n, fmt, ext in ((0, "qcow2", "qcow2"), (1, "raw", "raw")):
        steps += call("blockdev-add", {"driver": "file", "node-name": f"s{n}", "filename": f"{ROOT}/{name}/d{n}.{ext}"})
        steps += call("blockdev-add", {"driver": fmt, "node-name": f"f{n}", "file": f"s{n}"})
        steps += call(
            "device_add", {"driver": "virtio-blk-pci", "id": f"disk{n}", "drive": f"f{n}", "addr": f"{5 + n}"}
        )
    return steps


def hmp(*lines: str) -> list[Step]:
    return [step for line in lines for step in call("human-monitor-command", {"command-line": line})]


def throttle(qdev: str | None = None, device: str | None = None, **limits: Any) -> list[Step]:
    args: dict[str, Any] = dict(ZERO)
    if qdev is not None:
        args["id"] = qdev
    if device is not None:
        args["device"] = device
    return call("block_set_io_throttle", {**args, **limits})


B0, B1 = "disk0/virtio-backend", "/machine/peripheral/disk1/virtio-backend"

SCRIPTS: list[Script] = [
    script(
        "block-throttle",
        make_images("io-throttle"),
        *disks("io-throttle"),
        *throttle(B0, bps=1000),
        *throttle(B1, iops=10, iops_max=20, iops_max_length=5, iops_size=512, group="g1"),
        *call("query-block"),
        *throttle(B0, bps=3000, group="g1"),  # joins g1: the group's limits are the last ones set
        *call("query-block"),
        *throttle(B0, bps_rd=4000),  # still in g1: disk1 changes too
        *call("query-block"),
        *call("query-named-block-nodes"),
        *throttle(B0),  # all zeros: disk0 leaves the group
        *call("query-block"),
        *throttle(B0, bps=-1),
        *throttle(B0, bps=5, bps_rd=5),
        *throttle(B0, iops_max=5, iops_rd_max=1),
        *throttle(B0, bps_max=5),
        *throttle(B0, bps=1000, bps_max=5),
        *throttle(B0, bps=1000, bps_max_length=0),
        *throttle(B0, bps=1000, bps_max_length=3),
        *throttle(B0, bps=1000, bps_max=10**15, bps_max_length=3),
        *throttle(B0, bps=1000, iops_size=3),
        *throttle(B0, bps=10**16),
        *throttle("disk0", bps=10),
        *throttle(B0, device="x", bps=10),
        *throttle(bps=10),
        *throttle(device="f0", bps=10),
        *throttle("nosuch", bps=10),
        *throttle("/machine/unattached", bps=10),
        *throttle("/machine/i440fx", bps=10),
        *call("device_del", {"id": "disk1"}),
        *call("query-block"),
    ),
    script(
        "block-throttle-drive",
        *call("query-block"),
        *throttle(device="drv9", iops=100),
        *throttle(device="drv8", bps_wr=100, group="gx"),
        *call("query-block"),
        *throttle(device="drv9"),
        *throttle(device="drv8"),
        *throttle(device="cd0", bps=1),
        *hmp(
            "block_resize drv9 2",
            "block_resize drv9 1.5G",
            "block_set_io_throttle drv9 5 0 0 0 0 0",
            "block_set_io_throttle cd0 5 0 0 0 0 0",
        ),
        extra_args=[
            "-drive",
            f"file={DRIVE_IMAGE},format=raw,if=none,id=drv9,readonly=on,"
            "throttling.bps-total=1000,throttling.iops-read=7,throttling.group=gx",
            "-drive",
            f"file={DRIVE_IMAGE},format=raw,if=none,id=drv8,readonly=on,throttling.iops-total=5",
            "-drive",
            "if=none,id=cd0",
        ],
        # QEMU names a -drive's node #blockNNN at random; fakeqemu names it after the drive's id
        scrub=[(rb'"node-name": "(#block\d+|drv\d)"', b'"node-name": "<drive node>"')],
    ),
    script(
        "block-resize",
        make_images("io-resize"),
        *disks("io-resize"),
        sizes("io-resize"),
        *call("block_resize", {"node-name": "f0", "size": 128 << 20}),
        *call("block_resize", {"node-name": "f1", "size": 48 << 20}),
        sizes("io-resize"),
        *call("query-block"),
        *call("block_resize", {"node-name": "f0", "size": 32 << 20}),
        *call("block_resize", {"node-name": "f1", "size": 16 << 20}),
        sizes("io-resize"),
        *call("block_resize", {"node-name": "f0", "size": 1 << 30}),  # a bigger L1 table
        *call("block_resize", {"node-name": "f1", "size": 1000}),
        sizes("io-resize"),
        *call("block_resize", {"node-name": "f0", "size": 100}),
        *call("block_resize", {"node-name": "f0", "size": -1}),
        *call("block_resize", {"node-name": "nosuch", "size": 512}),
        *call("block_resize", {"size": 512}),
        *call("block_resize", {"device": "", "node-name": "f1", "size": 512}),
        *call("block_resize", {"node-name": "s0", "size": 512}),
        *call("query-named-block-nodes"),
        *hmp(
            "block_resize f1 2X",
            "block_resize nosuch 1M",
            "block_resize",
            "block_resize f1",
            'block_resize "f1',
            "block_set_io_throttle disk0/virtio-backend 1000 0 0 0 0 0",
            "block_set_io_throttle disk0 1 0 0 0 0 0",
            "block_set_io_throttle disk0/virtio-backend 1000",
            "block_set_io_throttle nosuch 1 0 0 0 0 0",
            "block_set_io_throttle disk1/virtio-backend 1 1 0 0 0 0",
            "block_set_io_throttle",
            "block_set_io_throttle disk1/virtio-backend (1+2)*3 0 0 0 0 0 x",
            "block_set_io_throttle disk1/virtio-backend 0x10 0 0 0 0 0",
        ),
        *call("query-block"),
        *call("blockdev-add", {"driver": "null-co", "node-name": "n0"}),
        *call("block_resize", {"node-name": "n0", "size": 512}),
        sizes("io-resize"),
        *call("quit"),
        WaitClose(),
        check("io-resize"),
        # QEMU moves a grown L1 table to a new cluster, fakeqemu grows it in place: the images differ in
        # layout (so in allocation), not in what they hold
        scrub=[
            (rb'"actual-size": \d+, "format-specific"', b'"actual-size": <n>, "format-specific"'),
            (
                rb'"virtual-size": \d+(, "filename": "[^"]*d0.qcow2", "format": "file", "actual-size": )\d+',
                rb'"virtual-size": <n>\1<n>',
            ),
            (rb"Image end offset: \d+", b"Image end offset: <n>"),
        ],
    ),
]

test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
