"""Debian's libvirt 9.0 drives fakeqemu-system-x86_64 end to end, through virsh, with no change to libvirt.

A private libvirtd runs in its own mount and network namespaces (its folders are bind-mounted from a
temporary directory, the system's are left alone; /work/shared/notes/libvirt-here.md), with fakeqemu first
in its PATH as ``qemu-system-x86_64``: capability probing, ``virsh version`` and ``domcapabilities`` go to
fakeqemu. Each case defines a domain (pc or q35; the default guest, or ``-fakeqemu guest=never``) and runs
hotplug and unplug of a virtio NIC (attach-device and attach-interface) and a virtio disk, suspend and
resume, reboot, shutdown, monitor passthrough and destroy, asserting on virsh's output, on the domain's
XML and on the QMP events libvirt logged.

Needs root, unshare, ip, ``apt-get install -y --no-install-recommends libvirt-daemon-driver-qemu
libvirt-daemon libvirt-clients iproute2`` and the accounts libvirt's QEMU driver looks up (``ACCOUNTS``;
.ci/run makes them); skipped without them (naming the command), a failure under CI=true.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tools.launch import LaunchError, connect

INSTALL = "apt-get install -y --no-install-recommends libvirt-daemon-driver-qemu libvirt-daemon libvirt-clients"
LIBVIRTD = "/usr/sbin/libvirtd"
ACCOUNTS = "groupadd -r kvm; groupadd -r libvirt-qemu; useradd -r -g kvm -s /usr/sbin/nologin libvirt-qemu"
#: libvirt's folders, replaced inside the private mount namespace
BIND = {"etc": "/etc/libvirt", "run": "/run/libvirt", "lib": "/var/lib/libvirt", "cache": "/var/cache/libvirt",
        "log": "/var/log/libvirt"}  # fmt: skip
QEMU_CONF = """user = "root"
group = "root"
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
remember_owner = 0
stdio_handler = "file"
"""
#: a bridge in libvirtd's private network namespace: attach-interface makes a tap on it and passes the tap's
#: fd to the emulator (getfd with SCM_RIGHTS, then netdev_add tap)
BRIDGE = "fqbr0"
#: how long libvirt waits for DEVICE_DELETED before it gives up (qemuDomainWaitForDeviceRemoval)
LIBVIRT_UNPLUG_WAIT_S = 5.0


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (libvirtd runs privileged, in private namespaces)"
    for tool in (LIBVIRTD, "virsh", "unshare", "mount", "ip"):
        if shutil.which(tool) is None:
            return f"needs {tool}: {INSTALL} iproute2"
    try:
        pwd.getpwnam("libvirt-qemu")
        grp.getgrnam("libvirt-qemu")
    except KeyError:
        return f"libvirtd's QEMU driver needs the libvirt-qemu user and group: {ACCOUNTS}"
    return None


class Libvirt:
    def __init__(self, root: Path, netns: str | None = None, host_uuid: str | None = None) -> None:
        """``netns``: a network namespace to share with another libvirtd (/proc/PID/ns/net), instead of a
        private one; ``host_uuid``: libvirtd's own (two daemons that migrate must differ)."""
        self.netns = netns
        self.host_uuid = host_uuid
        self.root = root
        self.sock = root / "run" / "libvirt-sock"
        self.log = root / "libvirtd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        # fakeqemu as the qemu-system-x86_64 libvirt finds first (its console script, in this venv)
        script = Path(sys.executable).parent / "fakeqemu-system-x86_64"
        assert script.exists(), f"{script} missing: pip install -e ."
        self.bin = root / "bin"
        self.bin.mkdir()
        self.emulator = self.bin / "qemu-system-x86_64"
        self.emulator.symlink_to(script)

    def start(self) -> None:
        for name in BIND:
            (self.root / name).mkdir(exist_ok=True)
            Path(BIND[name]).mkdir(parents=True, exist_ok=True)
        etc = self.root / "etc"
        for conf in ("libvirt.conf", "libvirt-admin.conf"):
            if Path("/etc/libvirt", conf).exists():
                shutil.copy(Path("/etc/libvirt", conf), etc / conf)
        (etc / "qemu.conf").write_text(QEMU_CONF)
        (etc / "libvirtd.conf").write_text(
            'unix_sock_group = "root"\nauth_unix_ro = "none"\nauth_unix_rw = "none"\n'
            'log_filters = "1:qemu.qemu_monitor 3:*"\n'
            f'log_outputs = "1:file:{self.log}"\n' + (f'host_uuid = "{self.host_uuid}"\n' if self.host_uuid else "")
        )
        mounts = " && ".join(f"mount --bind {self.root / n} {BIND[n]}" for n in BIND)
        bridge = f"ip link set lo up && ip link add {BRIDGE} type bridge && ip link set {BRIDGE} up"
        # a pid file of its own: another libvirtd on the machine holds /run/libvirtd.pid
        daemon = f"exec {LIBVIRTD} --config /etc/libvirt/libvirtd.conf --pid-file {self.root / 'libvirtd.pid'}"
        env = {"PATH": f"{self.bin}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LC_ALL": "C"}
        with open(self.root / "libvirtd.stderr", "wb") as stderr:
            ns = ["unshare", "-m", "-n"] if self.netns is None else ["nsenter", f"--net={self.netns}", "unshare", "-m"]
            script = f"{bridge} && {mounts} && {daemon}" if self.netns is None else f"{mounts} && {daemon}"
            self.proc = subprocess.Popen(
                [*ns, "--propagation", "private", "sh", "-c", script],
                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip
        try:  # libvirtd is up once its socket accepts
            connect(str(self.sock), self.proc).close()
        except LaunchError as exc:
            raise AssertionError(
                f"libvirtd did not start ({exc}): {(self.root / 'libvirtd.stderr').read_text()}"
            ) from None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # domains a failed test left running: libvirtd does not end them when it stops
            for name in self.virsh("list", "--name", check=False).split():
                self.virsh("destroy", name, check=False)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def virsh(self, *args: str, check: bool = True, timeout: float = 60) -> str:
        uri = f"qemu:///system?socket={self.sock}"
        res = subprocess.run(["virsh", "-c", uri, *args], capture_output=True, text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"virsh {' '.join(args)} failed ({res.returncode}): {res.stderr}{res.stdout}")
        return res.stdout + res.stderr

    def events(self, name: str) -> list[str]:
        """The QMP events of this name libvirt received, as it logged them."""
        return [
            line.partition("event=")[2]
            for line in self.log.read_text(errors="replace").splitlines()
            if "QEMU_MONITOR_RECV_EVENT" in line and f'"event": "{name}"' in line
        ]

    def wait_for(self, what: str, fn: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not fn():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.05)


# --- domain XML -------------------------------------------------------------------------------------------


def domain_xml(name: str, machine: str, emulator: Path, guest: str, devices: str = "") -> str:
    """``devices``: more device elements (disks, controllers)."""
    extra = devices
    if machine == "q35":
        # free root ports: libvirt puts each hot-plugged PCIe device on one
        extra += "".join(f"<controller type='pci' model='pcie-root-port' index='{i}'/>" for i in (1, 2, 3, 4, 5))
    cmdline = ""
    if guest != "default":
        cmdline = f"<qemu:commandline><qemu:arg value='-fakeqemu'/><qemu:arg value='guest={guest}'/></qemu:commandline>"
    return f"""<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='{machine}'>hvm</type></os>
  <features><acpi/></features>
  <devices>
    <emulator>{emulator}</emulator>
    <controller type='usb' model='none'/>
    {extra}
    <memballoon model='none'/>
    <interface type='user'><mac address='52:54:00:00:00:01'/><model type='virtio'/></interface>
  </devices>
  {cmdline}
</domain>
"""


NIC_MAC = "52:54:00:00:00:03"
IFACE_MAC = "52:54:00:00:00:04"
NIC_XML = f"<interface type='user'><mac address='{NIC_MAC}'/><model type='virtio'/></interface>"


def disk_xml(image: Path) -> str:
    return (
        "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
        f"<source file='{image}'/><target dev='vdb' bus='virtio'/></disk>"
    )


def device_xml(dumpxml: str, marker: str) -> str:
    """The <interface>/<disk> element of the live XML that contains ``marker``."""
    for m in re.finditer(r"<(interface|disk) .*?</\1>", dumpxml, re.S):
        if marker in m.group(0):
            return m.group(0)
    raise AssertionError(f"no device with {marker} in the domain XML:\n{dumpxml}")


class Domain:
    def __init__(self, lv: Libvirt, name: str, machine: str, guest: str, workdir: Path) -> None:
        self.lv, self.name, self.machine, self.guest, self.dir = lv, name, machine, guest, workdir
        self.dir.mkdir(parents=True, exist_ok=True)

    def file(self, name: str, text: str) -> str:
        path = self.dir / name
        path.write_text(text)
        return str(path)

    def v(self, *args: str, check: bool = True) -> str:
        return self.lv.virsh(*args, check=check)

    def state(self) -> str:
        return self.v("domstate", self.name).strip()

    def xml(self) -> str:
        return self.v("dumpxml", self.name)

    def eject(self, marker: str) -> None:
        """Play the guest that finally answers: the ACPI eject of the device's slot, through libvirt's
        monitor passthrough (pc: QEMU's own HMP port write; q35: fakeqemu's x-fakeqemu-eject)."""
        dev = device_xml(self.xml(), marker)
        if self.machine == "pc":
            slot = int(re.search(r"<address type='pci' [^>]*slot='(0x[0-9a-f]+)'", dev).group(1), 16)  # type: ignore[union-attr]
            out = self.v("qemu-monitor-command", self.name, "--hmp", f"o/w 0xae08 0x{1 << slot:x}")
            assert out.strip() == "", out
        else:
            alias = re.search(r"<alias name='([^']+)'/>", dev).group(1)  # type: ignore[union-attr]
            cmd = f'{{"execute":"x-fakeqemu-eject","arguments":{{"id":"{alias}"}}}}'
            assert '"return":{}' in self.v("qemu-monitor-command", self.name, cmd).replace(" ", "")

    def unplug(self, detach: list[str], listing: list[str], marker: str) -> float:
        """Run a detach command; check libvirt's behaviour for this guest. Returns the detach's duration."""
        t0 = time.monotonic()
        out = self.v(*detach)
        took = time.monotonic() - t0
        assert "detached successfully" in out, out
        if self.guest == "default":
            # gone as soon as the detach returns: libvirt had DEVICE_DELETED before its wait ran out
            assert marker not in self.v(*listing)
            assert marker not in self.xml()
        else:
            # QEMU whose guest ignores the request: libvirt waits its 5 s, says success, keeps the device
            assert took >= LIBVIRT_UNPLUG_WAIT_S - 0.2, f"detach returned after {took:.1f} s"
            assert marker in self.v(*listing), "the device must stay until the guest ejects it"
            before = len(self.lv.events("DEVICE_DELETED"))
            self.eject(marker)
            self.lv.wait_for(f"{marker} to leave the domain", lambda: marker not in self.v(*listing))
            assert marker not in self.xml()
            assert len(self.lv.events("DEVICE_DELETED")) > before
        return took


CASES = [("pc", "default"), ("q35", "default"), ("pc", "never"), ("q35", "never")]


def test_version_and_domcapabilities(libvirt: Libvirt) -> None:
    out = libvirt.virsh("version")
    assert "Running hypervisor: QEMU 7.2.22" in out, out
    caps = libvirt.virsh("domcapabilities", "--emulatorbin", str(libvirt.emulator), "--virttype", "qemu",
                         "--machine", "pc")  # fmt: skip
    assert f"<path>{libvirt.emulator}</path>" in caps
    assert "<machine>pc-i440fx-7.2</machine>" in caps
    q35 = libvirt.virsh("domcapabilities", "--emulatorbin", str(libvirt.emulator), "--virttype", "qemu",
                        "--machine", "q35")  # fmt: skip
    assert "<machine>pc-q35-7.2</machine>" in q35
    # trimmed to what fakeqemu models: no TPM, no vfio host devices
    assert "<tpm supported='no'/>" in caps
    assert "<value>vfio</value>" not in caps
    # libvirt's capability cache for the emulator holds what fakeqemu answered
    cached = [p.read_text() for p in (libvirt.root / "cache" / "qemu" / "capabilities").glob("*.xml")]
    ours = [c for c in cached if f"<emulator>{libvirt.emulator}</emulator>" in c]
    assert len(ours) == 1, cached
    assert "<package>fakeqemu" in ours[0]
    assert "<machine type='tcg' name='pc-q35-7.2' alias='q35'" in ours[0]


def test_flow_start_attach_detach_destroy(libvirt: Libvirt, tmp_path: Path) -> None:
    """The whole flow on pc with the default guest: start -> attach -> detach complete -> destroy. No timed
    assertion: libvirt's start is measured by ``make bench`` (tools/bench_libvirt.py), against QEMU."""
    dom = Domain(libvirt, "fq-timed", "pc", "default", tmp_path)
    dom.v("define", dom.file("dom.xml", domain_xml(dom.name, "pc", libvirt.emulator, "default")))
    nic = dom.file("nic.xml", NIC_XML)
    dom.v("start", dom.name)
    dom.v("attach-device", dom.name, nic, "--live")
    assert NIC_MAC in dom.v("domiflist", dom.name)
    dom.v("detach-device", dom.name, nic, "--live")
    assert NIC_MAC not in dom.v("domiflist", dom.name)
    dom.v("destroy", dom.name)
    assert dom.state() == "shut off"
    dom.v("undefine", dom.name)


@pytest.mark.parametrize(("machine", "guest"), CASES, ids=[f"{m}-{g}" for m, g in CASES])
def test_virsh_flow(libvirt: Libvirt, tmp_path: Path, machine: str, guest: str) -> None:
    dom = Domain(libvirt, f"fq-{machine}-{guest}", machine, guest, tmp_path)
    lv = libvirt
    dom.v("define", dom.file("dom.xml", domain_xml(dom.name, machine, lv.emulator, guest)))
    dom.v("start", dom.name)
    assert dom.state() == "running"
    xml = dom.xml()
    assert f"<emulator>{lv.emulator}</emulator>" in xml
    assert f"machine='{'pc-i440fx-7.2' if machine == 'pc' else 'pc-q35-7.2'}'" in xml
    assert "52:54:00:00:00:01" in dom.v("domiflist", dom.name)

    # a virtio NIC: attach-device / detach-device
    nic = dom.file("nic.xml", NIC_XML)
    assert "attached successfully" in dom.v("attach-device", dom.name, nic, "--live")
    assert NIC_MAC in dom.v("domiflist", dom.name)
    assert "<alias name='net1'/>" in device_xml(dom.xml(), NIC_MAC)
    dom.unplug(["detach-device", dom.name, nic, "--live"], ["domiflist", dom.name], NIC_MAC)

    # a virtio NIC: attach-interface / detach-interface
    out = dom.v("attach-interface", dom.name, "bridge", BRIDGE, "--model", "virtio", "--mac", IFACE_MAC, "--live")
    assert "attached successfully" in out
    assert IFACE_MAC in dom.v("domiflist", dom.name)
    dom.unplug(
        ["detach-interface", dom.name, "bridge", "--mac", IFACE_MAC, "--live"], ["domiflist", dom.name], IFACE_MAC
    )

    # a virtio disk backed by a file fakeqemu never reads (blockdev-add file + raw nodes)
    image = tmp_path / "disk.img"
    with image.open("wb") as f:
        f.truncate(1 << 20)
    disk = dom.file("disk.xml", disk_xml(image))
    assert "attached successfully" in dom.v("attach-device", dom.name, disk, "--live")
    blk = dom.v("domblklist", dom.name)
    assert re.search(rf"vdb\s+{re.escape(str(image))}", blk), blk
    assert "<target dev='vdb' bus='virtio'/>" in device_xml(dom.xml(), str(image))
    dom.unplug(["detach-device", dom.name, disk, "--live"], ["domblklist", dom.name], str(image))

    # monitor passthrough, QMP and HMP
    assert '"status":"running"' in dom.v("qemu-monitor-command", dom.name, '{"execute":"query-status"}').replace(
        " ", ""
    )
    assert "VM status: running" in dom.v("qemu-monitor-command", dom.name, "--hmp", "info status")

    # suspend / resume
    dom.v("suspend", dom.name)
    assert dom.state() == "paused"
    dom.v("resume", dom.name)
    assert dom.state() == "running"

    if guest == "default":
        # reboot: libvirt asks for a powerdown, the guest powers off (-no-shutdown: QEMU stops), libvirt
        # resets and continues it
        resets = len(lv.events("RESET"))
        dom.v("reboot", dom.name)
        lv.wait_for("the fake reboot's reset", lambda: len(lv.events("RESET")) > resets)
        lv.wait_for("the domain to run again", lambda: dom.state() == "running")
        # shutdown: the modelled guest powers off; libvirt ends the stopped QEMU
        shutdowns = len(lv.events("SHUTDOWN"))
        dom.v("shutdown", dom.name)
        lv.wait_for("shut off", lambda: dom.state() == "shut off")
        new = lv.events("SHUTDOWN")[shutdowns:]
        assert any('"reason": "guest-shutdown"' in e and '"guest": true' in e for e in new), new
        dom.v("start", dom.name)
        assert dom.state() == "running"
    else:
        # a guest that ignores the power button: the domain keeps running
        dom.v("shutdown", dom.name)
        guest_info = dom.v("qemu-monitor-command", dom.name, '{"execute":"x-fakeqemu-query-guest"}')
        assert '"powerdown-pending":true' in guest_info.replace(" ", ""), guest_info
        assert dom.state() == "running"

    # destroy: SIGTERM, QEMU reports SHUTDOWN host-signal and exits
    signals = len([e for e in lv.events("SHUTDOWN") if "host-signal" in e])
    dom.v("destroy", dom.name)
    assert dom.state() == "shut off"
    assert len([e for e in lv.events("SHUTDOWN") if "host-signal" in e]) == signals + 1
    dom.v("undefine", dom.name)
