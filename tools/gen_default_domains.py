#!/usr/bin/env python3
"""Write tests/libvirt/domains/*.xml again: the domains virt-install writes with its default options, for pc
and q35, with VNC, SPICE or no graphics, with and without a NIC, against a private libvirtd (the one
tests/libvirt runs) whose emulator is Debian's QEMU 7.2. ``<emulator>`` and the disk image become the
placeholders EMULATOR and IMAGE, which the test fills in.

Needs root, libvirtd, virt-install and qemu-system-x86_64. Usage: python -m tools.gen_default_domains
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from fakeqemu.machine.block import qcow2
from tests.libvirt.test_virsh import Libvirt

OUT = Path(__file__).resolve().parent.parent / "tests" / "libvirt" / "domains"


def main() -> int:
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None or shutil.which("virt-install") is None:
        print("needs qemu-system-x86_64 and virt-install", file=sys.stderr)
        return 1
    root = Path(tempfile.mkdtemp(prefix="gen-domains-"))
    lv = Libvirt(root)
    lv.emulator.unlink()
    lv.emulator.symlink_to(qemu)
    image = root / "disk.qcow2"
    qcow2.create(str(image), 64 << 20)
    lv.start()
    try:
        for machine in ("pc", "q35"):
            for graphics in ("vnc", "spice", "none"):
                for net in ("net", "nonet"):
                    name = f"vi-{machine}-{graphics}-{net}"
                    cmd = ["virt-install", "--connect", f"qemu:///system?socket={lv.sock}", "--name", name,
                           "--memory", "256", "--vcpus", "1", "--machine", machine, "--import", "--disk", str(image),
                           "--osinfo", "linux2022", "--graphics", graphics,
                           "--network", "user" if net == "net" else "none", "--print-xml"]  # fmt: skip
                    env = {**os.environ, "PATH": f"{lv.bin}:/usr/sbin:/usr/bin:/sbin:/bin"}
                    xml = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
                    xml = re.sub(r"<emulator>.*</emulator>", "<emulator>EMULATOR</emulator>", xml)
                    xml = xml.replace(f'<source file="{image}"/>', '<source file="IMAGE"/>')
                    (OUT / f"{name}.xml").write_text(xml)
                    print(f"wrote {OUT / name}.xml", file=sys.stderr)
    finally:
        lv.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
