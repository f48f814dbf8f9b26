"""Differential: block jobs that move guest data (issue 13). Layers written with distinct patterns
(qemu-io), then a mirror, a backup, a stream and a commit; after each, ``qemu-img compare`` and
``qemu-img check`` read the images fakeqemu (or QEMU) wrote, and the transcripts must agree: the same
events and the same "Images are identical." on both."""

from __future__ import annotations

import shutil
import subprocess

from tests.differential.test_blockjobs import ROOT, image_root, nodes, qemu_img  # noqa: F401
from tests.oracle import Call, Script, Send, Step, Sync, WaitClose, WaitEvent, call, cmd, differential_tests, script

#: (image, backing image, qemu-io writes)
LAYERS = (
    ("base", None, ("write -P 0x11 0 1M",)),
    ("mid", "base", ("write -P 0x22 0 256k", "write -z 768k 64k")),
    ("top", "mid", ("write -P 0x33 512k 128k",)),
    ("dst", None, ()),
    ("bdst", None, ()),
)


def layered(name: str) -> Call:
    def make() -> None:
        d = ROOT / name
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        for img, backing, writes in LAYERS:
            argv = ["qemu-img", "create", "-q", "-f", "qcow2"]
            if backing is not None:
                argv += ["-b", str(d / f"{backing}.qcow2"), "-F", "qcow2"]
            subprocess.run([*argv, str(d / f"{img}.qcow2"), "1M"], check=True)
            for w in writes:
                subprocess.run(["qemu-io", "-c", w, str(d / f"{img}.qcow2")], check=True, capture_output=True)

    return Call(make)


def compare(name: str, a: str, b: str) -> Call:
    """qemu-img compare of two images (each with its backing chain), and check of the second."""

    def run() -> bytes:
        pa, pb = str(ROOT / name / f"{a}.qcow2"), str(ROOT / name / f"{b}.qcow2")
        out = b""
        for argv in (["compare", "-U", pa, pb], ["check", "-U", pb]):
            res = subprocess.run(["qemu-img", *argv], capture_output=True)
            lines = [x for x in (res.stdout + res.stderr).splitlines() if not x.startswith(b"Image end offset")]
            out += b"\n".join(x for x in lines if b"allocated" not in x) + f"\nrc={res.returncode}\n".encode()
        return out

    return Call(run)


def job(execute: str, arguments: dict[str, object], changes: int) -> list[Step]:
    return [Send(cmd(execute, arguments)), WaitEvent("JOB_STATUS_CHANGE", changes), Sync()]


def data_flow(n: str) -> list[Step]:
    """The images are compared once QEMU has closed them (``quit``): while it runs, its qcow2 metadata
    cache may not be on disk yet."""
    return [
        layered(n),
        *nodes(n, ("base", None), ("mid", "base"), ("top", "mid"), ("dst", None), ("bdst", None)),
        compare(n, "top", "dst"),
        *job("blockdev-mirror", {"job-id": "m1", "device": "top", "target": "dst", "sync": "full"}, 3),
        *job("block-job-cancel", {"device": "m1"}, 3),
        *job("blockdev-backup", {"job-id": "b1", "device": "mid", "target": "bdst", "sync": "full"}, 8),
        *job("block-stream", {"job-id": "s1", "device": "top", "base-node": "mid"}, 6),
        *job("block-commit", {"job-id": "c1", "device": "top", "top-node": "top", "base-node": "base"}, 3),
        *job("job-complete", {"id": "c1"}, 4),
        *call("query-named-block-nodes"),
        Send(cmd("quit")),
        WaitClose(),
        compare(n, "top", "dst"),
        compare(n, "base", "dst"),
        compare(n, "mid", "bdst"),
        compare(n, "base", "bdst"),
    ]


#: where fakeqemu's clusters land in the files is its own: the files' sizes differ, not what they hold
SCRUB = (
    (rb'"actual-size": \d+', b'"actual-size": <n>'),
    (rb'"virtual-size": \d+(, "filename": "[^"]*", "format": "file")', rb'"virtual-size": <n>\1'),
)
SCRIPTS: list[Script] = [script("jobs-data", *data_flow("jobs-data"), qtest=False, scrub=SCRUB)]

test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
