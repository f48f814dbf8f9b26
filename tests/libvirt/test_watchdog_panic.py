"""Watchdog, panic device, disk I/O limits, disk resize and a VNC password through libvirt (issue 11): a domain
with ``<watchdog model='ib700' action='pause'/>``, ``<panic model='isa'/>``, a virtio disk with ``<iotune>``
and a password-protected VNC socket starts; ``blkdeviotune`` reads and changes the limits
(block_set_io_throttle), ``blockresize`` grows the image, a real RFB client (vncdotool) logs in with the
password libvirt set, and writes to the watchdog's and pvpanic's ports (HMP ``o``, as a guest would) pause
the domain for the watchdog and crash it. The same flow runs on QEMU 7.2 (no guest OS) under the same
libvirtd and virsh must say the same."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fakeqemu.machine.block import qcow2
from tests.libvirt.test_virsh import Domain, Libvirt
from tests.system import require


def domain_xml(name: str, emulator: Path, image: Path, vnc: Path) -> str:
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <features><acpi/></features>
  <on_crash>preserve</on_crash>
  <devices>
    <emulator>{emulator}</emulator>
    <controller type='usb' model='none'/>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{image}'/>
      <target dev='vda' bus='virtio'/><iotune><total_bytes_sec>1000000</total_bytes_sec></iotune></disk>
    <graphics type='vnc' passwd='s3cret'><listen type='socket' socket='{vnc}'/></graphics>
    <video><model type='vga'/></video>
    <watchdog model='ib700' action='pause'/>
    <panic model='isa'/>
    <memballoon model='none'/>
  </devices>
</domain>
"""


def flow(lv: Libvirt, tmp_path: Path, emulator: Path) -> list[str]:
    seen: list[str] = []
    tmp_path.mkdir(parents=True, exist_ok=True)
    image, vnc = tmp_path / "disk.qcow2", tmp_path / "vnc.sock"
    qcow2.create(str(image), 64 << 20)
    dom = Domain(lv, "fq-watchdog", "pc", "default", tmp_path)

    def v(*args: str) -> str:
        out = dom.v(*args)
        seen.append(out.replace(str(tmp_path), "TMP"))
        return out

    dom.v("define", dom.file("dom.xml", domain_xml(dom.name, emulator, image, vnc)))
    dom.v("start", dom.name)
    try:
        assert "total_bytes_sec: 1000000" in v("blkdeviotune", dom.name, "vda")
        v("blkdeviotune", dom.name, "vda", "--total-iops-sec", "50", "--live")
        assert "total_iops_sec : 50" in v("blkdeviotune", dom.name, "vda")
        v("blockresize", dom.name, "vda", "128M")
        assert "Capacity:       134217728" in v("domblkinfo", dom.name, "vda")
        assert qcow2.read_header(str(image)).size == 128 << 20
        shot = tmp_path / "shot.png"
        vncdo = [sys.executable, "-c", "from vncdotool.command import vncdo; vncdo()", "-s", str(vnc), "-p", "s3cret",
                 "capture", str(shot)]  # fmt: skip
        res = subprocess.run(vncdo, capture_output=True, timeout=60)
        assert res.returncode == 0 and shot.read_bytes()[:4] == b"\x89PNG", res.stderr
        seen.append(f"vncdo {res.returncode}")
        dom.v("qemu-monitor-command", dom.name, "--hmp", "o/b 0x443 0xf")  # the watchdog, armed to fire now
        lv.wait_for("the watchdog's pause", lambda: "watchdog" in dom.v("domstate", dom.name, "--reason"))
        seen.append(v("domstate", dom.name, "--reason"))
        v("resume", dom.name)
        dom.v("qemu-monitor-command", dom.name, "--hmp", "o/b 0x505 0x1")  # the kernel panics
        lv.wait_for("the panic", lambda: "crashed" in dom.v("domstate", dom.name, "--reason"))
        seen.append(v("domstate", dom.name, "--reason"))
    finally:
        dom.v("destroy", dom.name, check=False)
        dom.v("undefine", dom.name)
    return seen


def test_watchdog_panic_iotune_resize_vnc_password(libvirt: Libvirt, tmp_path: Path) -> None:
    fake = flow(libvirt, tmp_path / "fake", libvirt.emulator)
    qemu = Path(require("qemu-system-x86_64", "apt-get install -y qemu-system-x86"))
    assert flow(libvirt, tmp_path / "qemu", qemu) == fake
