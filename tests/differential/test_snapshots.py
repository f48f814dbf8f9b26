"""Differential: internal snapshots on real qcow2 files (issue 13): HMP savevm/loadvm/delvm/info
snapshots and the snapshot-save/-load/-delete jobs, their errors and JOB_STATUS_CHANGE sequences, the
snapshots that query-block and query-named-block-nodes report, and what ``qemu-img snapshot -l`` and
``qemu-img check`` read from the images afterwards (QEMU closed them cleanly on ``quit``).

What differs by design is scrubbed: the VM state is fakeqemu's own stream, so its size (and the files'
sizes) are not QEMU's; dates and the VM clock of a running VM differ between any two runs."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

from tests.differential.test_blockjobs import ROOT, image_root, images, nodes, qemu_img  # noqa: F401
from tests.oracle import Call, Script, Send, Step, Sync, WaitClose, WaitEvent, call, cmd, differential_tests, script

#: a snapshot line's VM SIZE, DATE and VM CLOCK columns, the JSON sizes and dates, the default names
SCRUB = (
    (rb"\s*[\d.]+ (?:[KMGTPE]i)?B\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+\d\d:\d\d:\d\d\.\d{3}", b" <size date clock>"),
    (rb'"(vm-state-size|date-sec|date-nsec|vm-clock-sec|vm-clock-nsec|actual-size)": \d+', rb'"\1": <n>'),
    (rb'"virtual-size": \d+(, "filename": "[^"]*", "format": "file")', rb'"virtual-size": <n>\1'),
    (rb"vm-\d{14}", b"vm-<date>"),
    (rb"Image end offset: \d+", b"Image end offset: <n>"),
    (rb"\d+/\d+ = [\d.]+% allocated, [\d.]+% fragmented", b"<allocation>"),
)


def hmp(line: str) -> list[Step]:
    return call("human-monitor-command", {"command-line": line})


def job(execute: str, arguments: dict[str, object], changes: int) -> list[Step]:
    return [Send(cmd(execute, arguments)), WaitEvent("JOB_STATUS_CHANGE", changes), Sync()]


def snapshot_job(execute: str, arguments: dict[str, object], ok: bool) -> list[Step]:
    """A snapshot job to its end (created, running, then waiting/pending/concluded or aborting/concluded),
    what query-jobs says of it, and its dismissal."""
    return [
        *job(execute, arguments, 5 if ok else 4),
        *call("query-jobs"),
        *job("job-dismiss", {"id": arguments["job-id"]}, 1),
    ]


def qemu_img_reads(name: str, *imgs: str) -> list[Step]:
    """After quit: qemu-img's snapshot list and check of each image."""

    return [*sends_quit(), *(Call(functools.partial(qemu_img_read, ROOT / name / f"{img}.qcow2")) for img in imgs)]


def qemu_img_read(path: Path) -> bytes:
    out = b""
    for argv in (["snapshot", "-l"], ["check"]):
        res = subprocess.run(["qemu-img", *argv, str(path)], capture_output=True)
        out += res.stdout + res.stderr + f"rc={res.returncode}\n".encode()
    return out


def sends_quit() -> list[Step]:
    return [Send(cmd("quit")), WaitClose()]


def virtio_disk(node: str, dev: str) -> list[Step]:
    return call("device_add", {"driver": "virtio-blk-pci", "drive": node, "id": dev})


def hmp_flow(n: str) -> list[Step]:
    return [
        *hmp("info snapshots"),
        *hmp("savevm s0"),
        *hmp("loadvm s0"),
        images(n, ("d0", None), ("d1", None), ("ro", None)),
        *nodes(n, ("d0", None), ("d1", None)),
        *virtio_disk("d0", "vd0"),
        *hmp("info snapshots"),
        *hmp("savevm s1"),
        *hmp("savevm"),
        *hmp("info snapshots"),
        *hmp("savevm s2"),
        *hmp("savevm s1"),
        *hmp("info snapshots"),
        *call("query-named-block-nodes"),
        *call("query-block"),
        *hmp("loadvm s2"),
        *hmp("loadvm nope"),
        *hmp("loadvm"),
        *hmp("delvm nope"),
        *hmp("delvm s2"),
        *call("query-status"),
        *hmp("info snapshots"),
        *call(
            "blockdev-add",
            {"driver": "file", "node-name": "ro-file", "filename": f"{ROOT}/{n}/ro.qcow2", "read-only": True},
        ),
        *call("blockdev-add", {"driver": "qcow2", "node-name": "ro", "file": "ro-file", "read-only": True}),
        *hmp("savevm s3"),
        *hmp("info snapshots"),
        *call("blockdev-add", {"driver": "raw", "node-name": "r0", "file": "d1-file"}),
        *hmp("savevm s4"),
        *hmp("loadvm s3"),
        *call("blockdev-del", {"node-name": "r0"}),
        *hmp("loadvm s3"),
        *hmp("delvm s1"),
        *hmp("info snapshots"),
        *qemu_img_reads(n, "d0", "d1", "ro"),
    ]


def jobs_flow(n: str) -> list[Step]:
    both = ["d0", "d1"]
    return [
        images(n, ("d0", None), ("d1", None)),
        *nodes(n, ("d0", None), ("d1", None)),
        *virtio_disk("d0", "vd0"),
        *snapshot_job("snapshot-save", {"job-id": "j1", "tag": "t1", "vmstate": "d0", "devices": both}, True),
        *snapshot_job("snapshot-save", {"job-id": "j2", "tag": "t1", "vmstate": "d0", "devices": ["d0"]}, False),
        *snapshot_job("snapshot-save", {"job-id": "j3", "tag": "t2", "vmstate": "d1", "devices": ["d0"]}, False),
        *snapshot_job("snapshot-save", {"job-id": "j4", "tag": "t2", "vmstate": "d0", "devices": ["nope"]}, False),
        *snapshot_job(
            "snapshot-save", {"job-id": "j5", "tag": "t2", "vmstate": "d0-file", "devices": ["d0-file"]}, False
        ),
        *snapshot_job("snapshot-save", {"job-id": "j6", "tag": "t2", "vmstate": "d0", "devices": []}, False),
        *snapshot_job("snapshot-save", {"job-id": "j7", "tag": "t2", "vmstate": "d1", "devices": ["d1"]}, True),
        *call("snapshot-save", {"job-id": "7x", "tag": "t3", "vmstate": "d1", "devices": ["d1"]}),
        *call("snapshot-save", {"job-id": "j8", "tag": "t3", "vmstate": "d1"}),
        *hmp("info snapshots"),
        *call("query-named-block-nodes"),
        *snapshot_job("snapshot-load", {"job-id": "l1", "tag": "t1", "vmstate": "d0", "devices": both}, True),
        *snapshot_job("snapshot-load", {"job-id": "l2", "tag": "zz", "vmstate": "d0", "devices": both}, False),
        *snapshot_job("snapshot-load", {"job-id": "l3", "tag": "t1", "vmstate": "d1", "devices": both}, False),
        *snapshot_job("snapshot-load", {"job-id": "l4", "tag": "t2", "vmstate": "d0", "devices": both}, False),
        *snapshot_job("snapshot-delete", {"job-id": "x1", "tag": "zz", "devices": both}, True),
        *snapshot_job("snapshot-delete", {"job-id": "x2", "tag": "t1", "devices": ["d1"]}, True),
        *snapshot_job("snapshot-delete", {"job-id": "x3", "tag": "t1", "devices": ["nope"]}, False),
        *hmp("info snapshots"),
        *call("query-status"),
        *qemu_img_reads(n, "d0", "d1"),
    ]


def running_flow(n: str) -> list[Step]:
    return [
        images(n, ("d0", None)),
        *nodes(n, ("d0", None)),
        *virtio_disk("d0", "vd0"),
        *call("query-status"),
        Send(cmd("human-monitor-command", {"command-line": "savevm s1"})),
        WaitEvent("RESUME"),
        Sync(),
        Send(cmd("human-monitor-command", {"command-line": "loadvm s1"})),
        WaitEvent("RESUME"),
        Sync(),
        *hmp("savevm s1"),
        Send(cmd("human-monitor-command", {"command-line": "loadvm nope"})),
        WaitEvent("STOP"),
        Sync(),
        *call("query-status"),
        *call("cont"),
        *job("snapshot-save", {"job-id": "j1", "tag": "t1", "vmstate": "d0", "devices": ["d0"]}, 5),
        *job("snapshot-load", {"job-id": "j2", "tag": "t1", "vmstate": "d0", "devices": ["d0"]}, 5),
        *job("snapshot-load", {"job-id": "j3", "tag": "zz", "vmstate": "d0", "devices": ["d0"]}, 4),
        *call("query-status"),
        *call("query-jobs"),
        *qemu_img_reads(n, "d0"),
    ]


def scenario(name: str, flow: object, paused: bool = True) -> Script:
    assert callable(flow)
    return script(name, *flow(name), qtest=False, paused=paused, scrub=SCRUB)


SCRIPTS: list[Script] = [
    scenario("snapshots-hmp", hmp_flow),
    scenario("snapshots-jobs", jobs_flow),
    scenario("snapshots-running", running_flow, paused=False),
]

test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
