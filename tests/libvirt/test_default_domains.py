"""The domains virt-install writes with its default options start unchanged on fakeqemu (issue 11).

tests/libvirt/domains/ holds what ``virt-install --import --disk IMG.qcow2 --osinfo linux2022 --memory 256
--vcpus 1 --machine pc|q35 --graphics vnc|spice|none [--network none] --print-xml`` wrote against a private
libvirtd whose emulator was Debian's QEMU 7.2 (``python -m tools.gen_default_domains`` writes them again):
USB (qemu-xhci, a usb tablet, two usb-redir on SPICE), 14 pcie-root-ports on q35, a virtio disk on a qcow2
image, a virtio NIC, a pty serial console, the guest agent's virtio-serial channel (and SPICE's), VNC or
SPICE, virtio video, HDA sound, a virtio balloon and a virtio-rng. Only ``<emulator>`` and the image path
change; ``type='kvm'`` becomes ``'qemu'`` where /dev/kvm does not open (and the host CPU model goes, as
virt-install writes it for TCG).

Each domain is defined, started (libvirt's own command line and ~410 start-up queries, ``balloon`` and
``query-balloon`` among them), looked at (state, the display it was given, its pty console) and destroyed.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import zlib
from pathlib import Path

from fakeqemu.cli.qemu import kvm_usable
from fakeqemu.machine.block import qcow2
from tests.cli.test_pty_console import read_until
from tests.libvirt.test_virsh import Libvirt

DOMAINS = Path(__file__).parent / "domains"
NAMES = sorted(p.stem for p in DOMAINS.glob("vi-*.xml"))


def domain_xml(name: str, emulator: Path, image: Path, kvm: bool) -> str:
    xml = (DOMAINS / f"{name}.xml").read_text()
    xml = xml.replace("<emulator>EMULATOR</emulator>", f"<emulator>{emulator}</emulator>")
    xml = xml.replace('<source file="IMAGE"/>', f'<source file="{image}"/>')
    if not kvm:
        xml = xml.replace('<domain type="kvm">', '<domain type="qemu">')
        xml = xml.replace('  <cpu mode="host-passthrough"/>\n', "")
    return xml


def test_fixtures_are_virt_install_defaults() -> None:
    assert len(NAMES) == 12, NAMES
    q35 = (DOMAINS / "vi-q35-spice-net.xml").read_text()
    for element in ('<controller type="usb" model="qemu-xhci" ports="15"/>', '<console type="pty"/>',
                    'name="org.qemu.guest_agent.0"', '<input type="tablet" bus="usb"/>', '<model type="virtio"/>',
                    '<memballoon model="virtio"/>', '<rng model="virtio">', '<sound model="ich9"/>',
                    '<redirdev bus="usb" type="spicevmc"/>', '<graphics type="spice"'):  # fmt: skip
        assert element in q35, element
    assert q35.count('model="pcie-root-port"') == 14


def test_default_domains_start(libvirt: Libvirt, tmp_path: Path) -> None:
    """All twelve: define and start each (they run side by side), check what libvirt made of it, then
    destroy them together."""
    kvm = kvm_usable()
    started: list[str] = []
    try:
        for name in NAMES:
            image = tmp_path / f"{name}.qcow2"
            qcow2.create(str(image), 64 << 20)
            xml = tmp_path / f"{name}.xml"
            xml.write_text(domain_xml(name, libvirt.emulator, image, kvm))
            libvirt.virsh("define", str(xml))
            out = libvirt.virsh("start", name)
            started.append(name)
            assert f"Domain '{name}' started" in out, out
            assert libvirt.virsh("domstate", name).strip() == "running"
            _check_running(libvirt, name, image)
    finally:
        procs = [
            subprocess.Popen(
                ["virsh", "-c", f"qemu:///system?socket={libvirt.sock}", "destroy", name],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for name in started
        ]
        outs = [p.communicate(timeout=60)[0] for p in procs]
    for name, out in zip(started, outs, strict=True):
        assert f"Domain '{name}' destroyed" in out, out
        assert libvirt.virsh("domstate", name).strip() == "shut off"
        libvirt.virsh("undefine", name)


def _check_running(lv: Libvirt, name: str, image: Path) -> None:
    xml = lv.virsh("dumpxml", name)
    graphics = name.split("-")[2]
    if graphics in ("vnc", "spice"):
        # autoport: libvirt picked a free port from 5900 and fakeqemu bound it
        port = re.search(rf"<graphics type='{graphics}' port='(\d+)'", xml)
        assert port is not None and int(port.group(1)) >= 5900, xml
        display = lv.virsh("domdisplay", name).strip()
        assert display.startswith(f"{graphics}://127.0.0.1"), display
    else:
        assert "<graphics" not in xml
    # the serial console: a real pty that fakeqemu opened, as QEMU's query-chardev names it
    tty = lv.virsh("ttyconsole", name).strip()
    assert re.fullmatch(r"/dev/pts/\d+", tty), tty
    assert os.path.exists(tty)
    assert f"<source path='{tty}'/>" in xml
    # the guest booted when libvirt let it run: its login prompt is on the console
    fd = os.open(tty, os.O_RDWR | os.O_NOCTTY)
    try:
        assert f"{name} login: ".encode() in read_until(fd, b"login: ")
    finally:
        os.close(fd)
    chardevs = lv.virsh("qemu-monitor-command", name, '{"execute":"query-chardev"}')
    assert f'"filename":"pty:{tty}"' in chardevs.replace(" ", ""), chardevs
    # the virtio balloon libvirt set at start: the guest has all its memory
    assert '"actual":268435456' in lv.virsh("qemu-monitor-command", name, '{"execute":"query-balloon"}').replace(
        " ", ""
    )
    assert str(image) in lv.virsh("domblklist", name)


def test_what_libvirt_polls(libvirt: Libvirt, tmp_path: Path) -> None:
    """On virt-install's q35 domain: domstats (all groups), the balloon (setmem --live: the guest's driver
    follows; dommemstat --period: the guest reports its memory), domblkstat and domblkinfo, a screenshot;
    a usb tablet attached and detached."""
    name = "vi-q35-vnc-net"
    image = tmp_path / "disk.qcow2"
    qcow2.create(str(image), 64 << 20)
    xml = tmp_path / "dom.xml"
    xml.write_text(domain_xml(name, libvirt.emulator, image, kvm_usable()))
    v = libvirt.virsh
    v("define", str(xml))
    v("start", name)
    try:
        stats = v("domstats", name)
        for line in ("state.state=1", "balloon.current=262144", "balloon.maximum=262144", "block.count=1",
                     "block.0.name=vda", "block.0.rd.reqs=0", "block.0.capacity=67108864", "net.count=1"):  # fmt: skip
            assert f"  {line}\n" in stats, stats
        assert "actual 262144" in v("dommemstat", name)
        v("setmem", name, "131072", "--live")
        libvirt.wait_for("the balloon to inflate", lambda: "actual 131072" in v("dommemstat", name))
        assert "balloon.current=131072" in v("domstats", name, "--balloon")
        assert any('"actual": 134217728' in e for e in libvirt.events("BALLOON_CHANGE"))
        v("dommemstat", name, "--period", "1", "--live")
        libvirt.wait_for("the guest's memory stats", lambda: "available " in v("dommemstat", name))
        mem = v("dommemstat", name)
        assert "unused " in mem and "last_update 0" not in mem, mem
        blk = v("domblkstat", name, "vda")
        assert "vda rd_req 0" in blk and "vda wr_bytes 0" in blk, blk
        info = v("domblkinfo", name, "vda")
        assert re.search(r"Capacity:\s+67108864", info), info
        # a second domain on the same image: QEMU's lock error, through libvirt
        other = tmp_path / "other.xml"
        other.write_text(domain_xml("vi-pc-none-nonet", libvirt.emulator, image, kvm_usable()))
        v("define", str(other))
        out = v("start", "vi-pc-none-nonet", check=False)
        v("undefine", "vi-pc-none-nonet")
        assert 'Failed to get "write" lock' in out and f"Is another process using the image [{image}]?" in out, out
        # virsh console: through libvirt to the pty, the guest's login prompt; it answers what is typed
        console = virsh_console(libvirt, name, b"root\r", b"Password: ")
        assert f"{name} login: root".encode() in console, console
        # virsh screenshot: libvirt asks for a PNG screendump of the guest model's screen (name, run state)
        shot = tmp_path / "screen.png"
        assert "Screenshot saved" in v("screenshot", name, str(shot))
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n"), data[:16]
        assert b"\xff\xff\xff" in zlib.decompress(data[data.index(b"IDAT") + 4 : data.index(b"IEND") - 8])
        # a usb tablet hot-plugged and unplugged: no guest takes part, DEVICE_DELETED comes at once. libvirt
        # detaches the first tablet that matches the XML (virt-install's input0), with QEMU 7.2 as here
        tablet = tmp_path / "tablet.xml"
        tablet.write_text("<input type='tablet' bus='usb'/>")
        assert "attached successfully" in v("attach-device", name, str(tablet), "--live")

        def tablets() -> list[str]:
            return re.findall(r"<input type='tablet' bus='usb'>.*?</input>", v("dumpxml", name), re.S)

        assert len(tablets()) == 2 and "<address type='usb' bus='0' port='2'/>" in tablets()[1]
        assert "detached successfully" in v("detach-device", name, str(tablet), "--live")
        assert len(tablets()) == 1 and "<alias name='input3'/>" in tablets()[0]
        assert any(
            '"device": "input0", "path": "/machine/peripheral/input0"' in e for e in libvirt.events("DEVICE_DELETED")
        )
    finally:
        v("destroy", name)
        v("undefine", name)


def test_nova_shaped_domain(libvirt: Libvirt, tmp_path: Path) -> None:
    """A domain shaped like OpenStack nova's (domains/nova-like.xml): SMBIOS from <sysinfo>, a serial log
    file libvirt passes as a file descriptor (-add-fd, path=/dev/fdset/0), a second serial on a pty, a
    virtio disk and NIC, VNC, cirrus video and a balloon polled every 10 s. The guest's boot log lands in
    the log file, its login prompt on the pty."""
    name = "instance-00000001"
    image, log = tmp_path / "disk.qcow2", tmp_path / "console.log"
    qcow2.create(str(image), 64 << 20)
    xml = tmp_path / "dom.xml"
    xml.write_text(domain_xml("nova-like", libvirt.emulator, image, kvm_usable()).replace("CONSOLELOG", str(log)))
    v = libvirt.virsh
    v("define", str(xml))
    v("start", name)
    try:
        libvirt.wait_for("the boot log in the console log", lambda: b"login: " in log.read_bytes())
        assert b"Debian GNU/Linux 12" in log.read_bytes()
        chardevs = v("qemu-monitor-command", name, '{"execute":"query-chardev"}').replace(" ", "")
        assert '"filename":"file","label":"charserial0"' in chardevs, chardevs
        tty = re.search(r"<serial type='pty'>\s*<source path='(/dev/pts/\d+)'/>", v("dumpxml", name))
        assert tty is not None
        fd = os.open(tty.group(1), os.O_RDWR | os.O_NOCTTY)
        try:
            assert f"{name} login: ".encode() in read_until(fd, b"login: ")
        finally:
            os.close(fd)
        libvirt.wait_for("the guest's memory stats", lambda: "usable " in v("dommemstat", name))
    finally:
        v("destroy", name)
        v("undefine", name)


def virsh_console(lv: Libvirt, name: str, typed: bytes, answer: bytes) -> bytes:
    """``virsh console`` on a terminal of its own: wait for the login prompt, type, wait for ``answer``,
    leave with ^]."""
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover (the child)
        os.execvp("virsh", ["virsh", "-c", f"qemu:///system?socket={lv.sock}", "console", name, "--force"])
    try:
        got = read_until(fd, b"login: ")
        os.write(fd, typed)
        got += read_until(fd, answer)
        os.write(fd, b"\x1d")
        return got
    finally:
        os.waitpid(pid, 0)
        os.close(fd)
