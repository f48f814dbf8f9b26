"""Differential: the job model and block jobs on real qcow2 files (issue 13). Each script makes its own
image files with qemu-img (a ``Call`` step, so QEMU and fakeqemu start from the same files), runs the
jobs, and reads the chain back with ``qemu-img info --backing-chain`` where fakeqemu rewrote headers.

Scripts stay on what QEMU does the same way every run: empty images (no data to copy) or data whose copy
a ``speed`` limit stops after the first chunk; no image sizes after a job that writes data (fakeqemu
copies none)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.oracle import Call, Poll, Script, Send, Step, Sync, WaitEvent, call, cmd, differential_tests, script
from tests.system import require

#: the images of this test process (QEMU's and fakeqemu's runs of a script share its paths, which their
#: transcripts show; another pytest on the machine gets its own)
ROOT = Path(f"/tmp/fakeqemu-oracle-img-{os.getpid()}")


@pytest.fixture(autouse=True)
def qemu_img() -> None:
    require("qemu-img", "apt-get install -y qemu-utils")


@pytest.fixture(autouse=True, scope="module")
def image_root() -> Iterator[None]:
    yield
    shutil.rmtree(ROOT, ignore_errors=True)


def images(name: str, *specs: tuple[str, str | None], size: str = "1M", data: tuple[str, ...] = ()) -> Call:
    """A fresh directory of qcow2 images: (name, backing name or None) each; ``data`` images get their
    whole disk written (qemu-io)."""

    def make() -> None:
        d = ROOT / name
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        for img, backing in specs:
            argv = ["qemu-img", "create", "-q", "-f", "qcow2"]
            if backing is not None:
                argv += ["-b", str(d / f"{backing}.qcow2"), "-F", "qcow2"]
            subprocess.run([*argv, str(d / f"{img}.qcow2"), size], check=True)
        for img in data:
            subprocess.run(["qemu-io", "-c", f"write 0 {size}", str(d / f"{img}.qcow2")], check=True,
                           capture_output=True)  # fmt: skip

    return Call(make)


def chain_info(name: str, img: str) -> Call:
    """qemu-img's view of an image chain fakeqemu (or QEMU) left behind."""

    def read() -> bytes:
        path = ROOT / name / f"{img}.qcow2"
        out = subprocess.run(["qemu-img", "info", "-U", "--backing-chain", str(path)], capture_output=True,
                             check=True).stdout  # fmt: skip
        return b"\n".join(line for line in out.splitlines() if not line.startswith(b"disk size"))

    return Call(read)


def nodes(name: str, *specs: tuple[str, str | None]) -> list[Step]:
    """blockdev-add a file node and a qcow2 node on top of it for each (name, backing node or None)."""
    out: list[Step] = []
    for n, backing in specs:
        out += call(
            "blockdev-add", {"driver": "file", "node-name": f"{n}-file", "filename": f"{ROOT}/{name}/{n}.qcow2"}
        )
        out += call("blockdev-add", {"driver": "qcow2", "node-name": n, "file": f"{n}-file", "backing": backing})
    return out


def job(execute: str, arguments: dict[str, Any], changes: int) -> list[Step]:
    """A command that moves jobs: read until its ``changes`` JOB_STATUS_CHANGE events have come, then
    whatever else was sent before a marker's reply (its own reply, the BLOCK_JOB_* events)."""
    return [Send(cmd(execute, arguments)), WaitEvent("JOB_STATUS_CHANGE", changes), Sync()]


def ev(name: str, data: str) -> bytes:
    return (
        b'{"timestamp": {"seconds": 0, "microseconds": 0}, "event": "'
        + name.encode()
        + b'", "data": '
        + data.encode()
        + b"}"
    )


def status(job_id: str, s: str) -> bytes:
    return ev("JOB_STATUS_CHANGE", '{"status": "' + s + '", "id": "' + job_id + '"}')


def scenario(name: str, build: Callable[[str], list[Step | list[Step]]], must: list[bytes] | None = None) -> Script:
    return script(name, *build(name), qtest=False, must=must or [])


SCRIPTS: list[Script] = [
    scenario(
        "jobs-stream-manual",
        lambda n: [
            images(n, ("base", None), ("mid", "base"), ("top", "mid")),
            nodes(n, ("base", None), ("mid", "base"), ("top", "mid")),
            job(
                "block-stream",
                {"job-id": "s1", "device": "top", "base-node": "base", "auto-finalize": False, "auto-dismiss": False},
                4,
            ),
            call("query-jobs"),
            call("query-block-jobs"),
            call("job-dismiss", {"id": "s1"}),
            job("job-finalize", {"id": "s1"}, 1),
            call("query-jobs"),
            call("job-finalize", {"id": "s1"}),
            job("job-dismiss", {"id": "s1"}, 1),
            call("query-named-block-nodes"),
            chain_info(n, "top"),
            job("block-stream", {"job-id": "s2", "device": "top"}, 6),
            call("query-named-block-nodes"),
            chain_info(n, "top"),
        ],
        must=[status("s1", "pending"), ev("BLOCK_JOB_PENDING", '{"type": "stream", "id": "s1"}')],
    ),
    scenario(
        "jobs-mirror-complete",
        lambda n: [
            images(n, ("src", None), ("dst", None)),
            nodes(n, ("src", None), ("dst", None)),
            job("blockdev-mirror", {"job-id": "m1", "device": "src", "target": "dst", "sync": "full"}, 3),
            call("query-jobs"),
            call("query-block-jobs"),
            job("job-pause", {"id": "m1"}, 1),
            call("query-block-jobs"),
            job("job-resume", {"id": "m1"}, 1),
            call("block-job-set-speed", {"device": "m1", "speed": 1000}),
            call("query-block-jobs"),
            job("job-complete", {"id": "m1"}, 4),
            call("query-jobs"),
        ],
        must=[status("m1", "ready"), status("m1", "standby")],
    ),
    scenario(
        "jobs-mirror-cancel-manual",
        lambda n: [
            images(n, ("src", None), ("dst", None)),
            nodes(n, ("src", None), ("dst", None)),
            job(
                "blockdev-mirror",
                {
                    "job-id": "m1",
                    "device": "src",
                    "target": "dst",
                    "sync": "full",
                    "auto-finalize": False,
                    "auto-dismiss": False,
                },
                3,
            ),
            job("block-job-cancel", {"device": "m1"}, 2),
            call("query-jobs"),
            job("job-finalize", {"id": "m1"}, 1),
            call("query-jobs"),
            job("job-dismiss", {"id": "m1"}, 1),
            call("query-jobs"),
        ],
    ),
    scenario(
        "jobs-errors",
        lambda n: [
            images(n, ("base", None), ("top", "base")),
            nodes(n, ("base", None), ("top", "base")),
            call("job-pause", {"id": "nope"}),
            call("block-job-pause", {"device": "nope"}),
            call("block-job-cancel", {"device": "nope"}),
            call("job-cancel", {"id": "nope"}),
            call("block-job-set-speed", {"device": "nope", "speed": 1}),
            call("block-stream", {"device": "top"}),
            call("block-stream", {"job-id": "9x", "device": "top"}),
            call("block-stream", {"job-id": "s", "device": "nope"}),
            call("block-stream", {"job-id": "s", "device": "top", "base-node": "top"}),
            call("block-stream", {"job-id": "s", "device": "top", "backing-file": "/x"}),
            call("blockdev-mirror", {"job-id": "m", "device": "base", "target": "top", "sync": "full"}),
            call("blockdev-mirror", {"job-id": "m", "device": "top", "target": "top", "sync": "full"}),
            call("block-commit", {"job-id": "c", "device": "nope"}),
            call("block-commit", {"device": "top"}),
            call("block-commit", {"job-id": "c", "device": "top", "top-node": "top", "top": "/x"}),
            call("block-commit", {"job-id": "c", "device": "top", "top": "/nope"}),
            call("block-commit", {"job-id": "c", "device": "top", "base-node": "base", "base": "/x"}),
            call("block-commit", {"job-id": "c", "device": "top", "base": "/nope"}),
            call("block-commit", {"job-id": "c", "device": "top", "top-node": "base", "base-node": "top"}),
            call("blockdev-snapshot", {"node": "base", "overlay": "top"}),
        ],
    ),
    scenario(
        "jobs-speed-pause-cancel",
        lambda n: [
            images(n, ("base", None), ("top", "base"), size="4M", data=("base",)),
            nodes(n, ("base", None), ("top", "base")),
            job("block-stream", {"job-id": "s1", "device": "top", "speed": 1}, 2),
            Poll("query-block-jobs", b'"busy": false, "len": 4194304, "offset": 524288'),
            call("query-jobs"),
            call("query-block-jobs"),
            call("job-complete", {"id": "s1"}),
            call("job-dismiss", {"id": "s1"}),
            call("job-finalize", {"id": "s1"}),
            call("job-resume", {"id": "s1"}),
            job("job-pause", {"id": "s1"}, 1),
            call("job-pause", {"id": "s1"}),
            call("query-block-jobs"),
            call("block-job-cancel", {"device": "s1"}),
            job("block-job-resume", {"device": "s1"}, 1),  # entered early: it copies the next chunk
            Poll("query-block-jobs", b'"busy": false, "len": 4194304, "offset": 1048576'),
            call("block-job-resume", {"device": "s1"}),
            call("block-job-set-speed", {"device": "s1", "speed": -1}),
            call("block-job-complete", {"device": "s1"}),
            call("blockdev-del", {"node-name": "top"}),
            call("block-stream", {"job-id": "s2", "device": "top"}),
            call("query-block-jobs"),
            job("job-cancel", {"id": "s1"}, 3),
            call("query-block-jobs"),
        ],
        must=[
            status("s1", "paused"),
            ev(
                "BLOCK_JOB_CANCELLED",
                '{"device": "s1", "len": 4194304, "offset": 1048576, "speed": 1, "type": "stream"}',
            ),
        ],
    ),
    scenario(
        "jobs-commit-intermediate",
        lambda n: [
            images(n, ("base", None), ("mid", "base"), ("top", "mid")),
            nodes(n, ("base", None), ("mid", "base"), ("top", "mid")),
            job("block-commit", {"job-id": "c1", "device": "top", "top-node": "mid", "base-node": "base"}, 6),
            call("query-named-block-nodes"),
            chain_info(n, "top"),
            call("block-commit", {"job-id": "c2", "device": "top", "top-node": "base"}),
        ],
    ),
    scenario(
        "jobs-create-snapshot",
        lambda n: [
            images(n, ("base", None)),
            nodes(n, ("base", None)),
            job(
                "blockdev-create",
                {"job-id": "f1", "options": {"driver": "file", "filename": f"{ROOT}/{n}/ov.qcow2", "size": 0}},
                5,
            ),
            call("query-jobs"),
            job("job-dismiss", {"id": "f1"}, 1),
            call("blockdev-add", {"driver": "file", "node-name": "ov-file", "filename": f"{ROOT}/{n}/ov.qcow2"}),
            job(
                "blockdev-create",
                {
                    "job-id": "f2",
                    "options": {
                        "driver": "qcow2",
                        "file": "ov-file",
                        "size": 1048576,
                        "backing-file": f"{ROOT}/{n}/base.qcow2",
                        "backing-fmt": "qcow2",
                    },
                },
                5,
            ),
            call("query-jobs"),
            job("job-dismiss", {"id": "f2"}, 1),
            chain_info(n, "ov"),
            call("blockdev-add", {"driver": "qcow2", "node-name": "ov", "file": "ov-file", "backing": None}),
            call("blockdev-snapshot", {"node": "base", "overlay": "ov"}),
            call("blockdev-snapshot", {"node": "base", "overlay": "ov"}),
            call("query-named-block-nodes"),
            call(
                "blockdev-snapshot-sync",
                {
                    "node-name": "ov",
                    "snapshot-file": f"{ROOT}/{n}/s2.qcow2",
                    "snapshot-node-name": "s2",
                    "format": "qcow2",
                },
            ),
            call("query-named-block-nodes"),
            chain_info(n, "s2"),
            job(
                "blockdev-create",
                {"job-id": "f3", "options": {"driver": "file", "filename": "/nonexistent/x.qcow2", "size": 0}},
                4,
            ),
            call("query-jobs"),
        ],
    ),
    scenario(
        "jobs-bitmaps-backup",
        lambda n: [
            images(n, ("base", None), ("dst", None), ("dst2", None)),
            nodes(n, ("base", None), ("dst", None), ("dst2", None)),
            call("block-dirty-bitmap-add", {"node": "base", "name": "b1"}),
            call("block-dirty-bitmap-add", {"node": "base", "name": "b1"}),
            call("block-dirty-bitmap-add", {"node": "base", "name": "b2", "granularity": 1000}),
            call("block-dirty-bitmap-add", {"node": "nope", "name": "b2"}),
            call("block-dirty-bitmap-add", {"node": "base", "name": "b2", "granularity": 131072, "disabled": True}),
            call("query-named-block-nodes"),
            call("block-dirty-bitmap-merge", {"node": "base", "target": "b1", "bitmaps": ["b2"]}),
            call("block-dirty-bitmap-merge", {"node": "base", "target": "b1", "bitmaps": ["zz"]}),
            call("block-dirty-bitmap-clear", {"node": "base", "name": "b2"}),
            call("block-dirty-bitmap-remove", {"node": "base", "name": "zz"}),
            call("block-dirty-bitmap-enable", {"node": "base", "name": "b2"}),
            job(
                "blockdev-backup",
                {
                    "job-id": "k2",
                    "device": "base",
                    "target": "dst",
                    "sync": "incremental",
                    "bitmap": "b1",
                    "auto-dismiss": False,
                },
                7,
            ),
            job("job-dismiss", {"id": "k2"}, 1),
            call(
                "transaction",
                {
                    "actions": [
                        {"type": "block-dirty-bitmap-add", "data": {"node": "base", "name": "b3"}},
                        {"type": "abort", "data": {}},
                    ]
                },
            ),
            job(
                "transaction",
                {
                    "actions": [
                        {"type": "block-dirty-bitmap-add", "data": {"node": "base", "name": "b3"}},
                        {
                            "type": "blockdev-backup",
                            "data": {"job-id": "k3", "device": "base", "target": "dst2", "sync": "full"},
                        },
                    ]
                },
                8,
            ),
            call("block-dirty-bitmap-remove", {"node": "base", "name": "b1"}),
            call("query-jobs"),
        ],
    ),
    scenario(
        "jobs-bad-inputs",
        lambda n: [
            images(n, ("base", None)),
            nodes(n, ("base", None)),
            job(
                "blockdev-create", {"job-id": "c1", "options": {"driver": "qcow2", "file": "nope", "size": 1048576}}, 4
            ),
            call("blockdev-create", {"job-id": "c1", "options": {"driver": "raw", "file": "base-file", "size": 1}}),
            call("query-jobs"),
            job("job-dismiss", {"id": "c1"}, 1),
            call("blockdev-snapshot-sync", {"snapshot-file": f"{ROOT}/{n}/x.qcow2"}),
            call("blockdev-snapshot-sync", {"device": "nope", "snapshot-file": f"{ROOT}/{n}/x.qcow2"}),
            call("blockdev-snapshot", {"node": "nope", "overlay": "base"}),
            call("blockdev-snapshot", {"node": "base", "overlay": "nope"}),
            call("block-dirty-bitmap-remove", {"node": "nope", "name": "x"}),
            call("block-dirty-bitmap-clear", {"node": "base", "name": "x"}),
            call("transaction", {"actions": []}),
            call("blockdev-backup", {"job-id": "b", "device": "base", "target": "base", "sync": "full"}),
            call("blockdev-backup", {"job-id": "b", "device": "base", "target": "nope", "sync": "full"}),
            call("blockdev-backup", {"job-id": "b", "device": "base", "target": "base-file", "sync": "incremental"}),
            call("blockdev-mirror", {"job-id": "m", "device": "base", "target": "nope", "sync": "full"}),
            call("block-commit", {"job-id": "c", "device": "base"}),
            call("query-jobs"),
        ],
    ),
]


test_harness_against_qemu, test_differential = differential_tests(SCRIPTS)
