"""qcow2 internal snapshots written by fakeqemu.machine.block.internal, read back by qemu-img and qemu-io:
clusters written after a snapshot are copied, going back to it restores the old data, deleting keeps
the rest, and ``qemu-img check`` finds every state clean."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fakeqemu.machine.block import internal
from tests.system import require


@pytest.fixture
def image(tmp_path: Path) -> str:
    require("qemu-io", "apt-get install -y qemu-utils")
    path = str(tmp_path / "d.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", path, "1M"], check=True)
    io(path, "write -P 0x11 0 128k")
    return path


def io(path: str, command: str) -> str:
    res = subprocess.run(["qemu-io", "-c", command, path], capture_output=True, text=True, check=True)
    assert "failed" not in res.stdout + res.stderr, res.stdout + res.stderr
    return res.stdout


def check(path: str) -> None:
    res = subprocess.run(["qemu-img", "check", path], capture_output=True, text=True)
    assert res.returncode == 0 and "No errors were found" in res.stdout, res.stdout + res.stderr


def edit(path: str) -> internal.Image:
    return internal.Image(path)


def test_snapshot_copy_goto_delete(image: str) -> None:
    state = bytes(range(256)) * 800  # 200 KiB: more than one cluster of VM state
    im = edit(image)
    im.create(internal.Snapshot("", "a", 1_700_000_000, 5000, 12_345_000_000, 0), state)
    im.close()
    check(image)
    listing = subprocess.run(["qemu-img", "snapshot", "-l", image], capture_output=True, text=True).stdout
    assert "1         a                 200 KiB" in listing and "00:00:12.345" in listing
    io(image, "write -P 0x22 0 64k")
    check(image)
    im = edit(image)
    im.create(internal.Snapshot("", "b", 1_700_000_001, 0, 0, 0), b"x" * 70000)
    assert [s.id for s in im.snapshots] == ["1", "2"]
    sn = internal.find(im.snapshots, "a")
    assert sn is not None and im.read_vmstate(sn) == state
    im.goto(sn)
    im.close()
    check(image)
    io(image, "read -P 0x11 0 128k")
    im = edit(image)
    im.delete(im.snapshots[0])
    im.close()
    check(image)
    im = edit(image)
    (b,) = im.snapshots
    assert im.read_vmstate(b) == b"x" * 70000
    im.goto(b)
    im.delete(b)
    im.close()
    check(image)
    io(image, "read -P 0x22 0 64k")
    io(image, "read -P 0x11 64k 64k")
    assert internal.list_snapshots(image) == []


def test_not_qcow2_has_no_snapshots(tmp_path: Path) -> None:
    raw = tmp_path / "r.raw"
    raw.write_bytes(b"\0" * 4096)
    assert internal.list_snapshots(str(raw)) == []


def test_guest_writes_copy_what_a_snapshot_shares(image: str) -> None:
    """write_cluster (what block jobs write): a new L2 table and data cluster where a snapshot shares them,
    in place where the image alone owns them; the snapshot keeps the old data."""
    im = edit(image)
    im.create(internal.Snapshot("", "a", 1_700_000_000, 0, 0, 0), b"state")
    im.write_cluster(0, b"\x44" * 65536)
    im.write_cluster(0, b"\x55" * 65536)
    im.write_cluster(5, b"\x66" * 65536)
    assert im.read_cluster(0) == b"\x55" * 65536 and im.read_cluster(9) is None
    im.close()
    check(image)
    io(image, "read -P 0x55 0 64k")
    io(image, "read -P 0x11 64k 64k")
    io(image, "read -P 0x66 320k 64k")
    im = edit(image)
    im.goto(im.snapshots[0])
    im.close()
    check(image)
    io(image, "read -P 0x11 0 128k")
