"""Images are locked as QEMU locks them (OFD locks on the image's bytes 100+ and 200+), so a second user
that wants to write fails with QEMU's message, whichever of fakeqemu and QEMU 7.2 holds the image."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fakeqemu.machine.block import qcow2
from fakeqemu.machine.block.nodes import add_node
from fakeqemu.machine.machine import Machine, MachineConfig
from fakeqemu.qmp.errors import GenericError
from tests.system import unavailable
from tools.launch import connect

FAKE = [sys.executable, "-m", "fakeqemu"]


def nodes(image: Path) -> tuple[dict[str, object], dict[str, object]]:
    storage = {"driver": "file", "filename": str(image), "node-name": "libvirt-1-storage", "auto-read-only": True,
               "discard": "unmap"}  # fmt: skip
    fmt = {"node-name": "libvirt-1-format", "read-only": False, "driver": "qcow2", "file": "libvirt-1-storage",
           "backing": None}  # fmt: skip
    return storage, fmt


def argv(image: Path) -> list[str]:
    storage, fmt = nodes(image)
    return ["-M", "pc", "-display", "none", "-nodefaults", "-S", "-blockdev", json.dumps(storage),
            "-blockdev", json.dumps(fmt)]  # fmt: skip


@pytest.mark.parametrize("pair", ["fakeqemu-fakeqemu", "fakeqemu-qemu", "qemu-fakeqemu"])
def test_second_writer_fails(tmp_path: Path, pair: str) -> None:
    first, second = pair.split("-")
    qemu = shutil.which("qemu-system-x86_64")
    if "qemu" in (first, second) and qemu is None:
        unavailable("needs QEMU to check against: apt-get install -y qemu-system-x86")
    binary = {"fakeqemu": FAKE, "qemu": [str(qemu)]}
    image = tmp_path / "disk.qcow2"
    qcow2.create(str(image), 64 << 20)
    qmp = tmp_path / "qmp.sock"
    holder = subprocess.Popen([*binary[first], *argv(image), "-qmp", f"unix:{qmp},server=on,wait=off"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        connect(str(qmp), holder).close()  # serving: its -blockdev nodes are open and locked
        res = subprocess.run([*binary[second], *argv(image)], capture_output=True, text=True, timeout=30)
        assert res.returncode == 1
        _, fmt = nodes(image)
        assert res.stderr == (
            f'qemu-system-x86_64: -blockdev {json.dumps(fmt)}: Failed to get "write" lock\n'
            f"Is another process using the image [{image}]?\n"
        )
    finally:
        holder.terminate()
        holder.wait(10)


def test_blockdev_add_conflict_and_release(tmp_path: Path) -> None:
    image = tmp_path / "disk.qcow2"
    qcow2.create(str(image), 64 << 20)
    storage, fmt = nodes(image)
    a, b = Machine(MachineConfig()), Machine(MachineConfig())
    try:
        add_node(a.backends.blockdevs, dict(storage))
        add_node(a.backends.blockdevs, dict(fmt))
        add_node(b.backends.blockdevs, dict(storage))
        with pytest.raises(GenericError) as exc:
            add_node(b.backends.blockdevs, dict(fmt))
        assert exc.value.desc == 'Failed to get "write" lock'
        assert "libvirt-1-format" not in b.backends.blockdevs
        a.close()  # the first VM goes: its locks go with it
        add_node(b.backends.blockdevs, dict(fmt))
    finally:
        a.close()
        b.close()
