"""Debian's libvirt 9.0 talks to fakeqemu's guest agent, unchanged: a domain with the agent channel libvirt
writes (<channel type='unix'> with target org.qemu.guest_agent.0; libvirt adds the virtio-serial controller
and passes the chardev's listening socket as fd=N), then the virsh commands that go through the agent.

Same private libvirtd as tests/libvirt/test_virsh.py (needs root and libvirt; skipped without, a failure
under CI=true).
"""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import pytest

from tests.libvirt.test_virsh import Domain, Libvirt


def agent_domain_xml(
    name: str, machine: str, emulator: Path, image: Path, extra_args: str = "", vcpu: str = "<vcpu>2</vcpu>"
) -> str:
    with image.open("wb") as f:
        f.truncate(1 << 20)
    cmdline = ""
    if extra_args:
        cmdline = f"<qemu:commandline><qemu:arg value='-fakeqemu'/><qemu:arg value='{extra_args}'/></qemu:commandline>"
    return f"""<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  {vcpu}
  <os><type arch='x86_64' machine='{machine}'>hvm</type></os>
  <features><acpi/></features>
  <pm><suspend-to-mem enabled='yes'/><suspend-to-disk enabled='no'/></pm>
  <devices>
    <emulator>{emulator}</emulator>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
    <interface type='user'><mac address='52:54:00:00:00:01'/><model type='virtio'/></interface>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{image}'/>
      <target dev='vda' bus='virtio'/></disk>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
  </devices>
  {cmdline}
</domain>
"""


def agent(dom: Domain, command: str, **args: object) -> object:
    msg: dict[str, object] = {"execute": command}
    if args:
        msg["arguments"] = args
    out = dom.v("qemu-agent-command", dom.name, json.dumps(msg))
    return json.loads(out)["return"]


@pytest.mark.parametrize("machine", ["pc", "q35"])
def test_virsh_through_the_agent(libvirt: Libvirt, tmp_path: Path, machine: str) -> None:
    lv = libvirt
    dom = Domain(lv, f"fq-agent-{machine}", machine, "default", tmp_path)
    dom.v("define", dom.file("dom.xml", agent_domain_xml(dom.name, machine, lv.emulator, tmp_path / "disk.img")))
    dom.v("start", dom.name)
    # libvirt learns the agent's port is open from VSERPORT_CHANGE (or query-chardev's frontend-open)
    lv.wait_for("the agent channel to connect", lambda: "state='connected'" in dom.xml())

    assert agent(dom, "guest-ping") == {}
    addr = dom.v("domifaddr", dom.name, "--source", "agent")
    assert re.search(r"52:54:00:00:00:01\s+ipv4\s+192\.168\.122\.10/24", addr), addr
    assert "lo" in addr
    fs = dom.v("domfsinfo", dom.name)
    assert re.search(r"^\s*/\s+vda1\s+ext4\s+vda\s*$", fs, re.M), fs  # the guest's / on the domain's vda

    assert "Froze 1 filesystem(s)" in dom.v("domfsfreeze", dom.name)
    assert agent(dom, "guest-fsfreeze-status") == "frozen"
    assert "Thawed 1 filesystem(s)" in dom.v("domfsthaw", dom.name)
    assert agent(dom, "guest-fsfreeze-status") == "thawed"

    t = dom.v("domtime", dom.name)
    seconds = int(re.search(r"Time: (\d+)", t).group(1))  # type: ignore[union-attr]
    assert abs(seconds - time.time()) < 60
    dom.v("domtime", dom.name, "--time", "1700000000")
    assert "Time: 1700000000" in dom.v("domtime", dom.name) or "Time: 17000000" in dom.v("domtime", dom.name)

    info = dom.v("guestinfo", dom.name)
    assert "os.id" in info and "debian" in info, info
    assert "hostname" in info and f"{dom.name}" in info
    assert "timezone.name" in info

    dom.v("set-user-password", dom.name, "root", "s3cret")
    pw = agent(dom, "guest-exec", path="/bin/true")
    assert isinstance(pw, dict) and "pid" in pw
    b64 = base64.b64encode(b"x").decode()
    assert agent(dom, "guest-ssh-add-authorized-keys", username="root", keys=["ssh-ed25519 AAAA t"]) == {}
    assert "ssh-ed25519 AAAA t" in dom.v("get-user-sshkeys", dom.name, "root")
    assert b64

    # reboot through the agent: the guest resets itself (RESET guest-reset), the domain runs on
    resets = len(lv.events("RESET"))
    dom.v("reboot", dom.name, "--mode", "agent")
    lv.wait_for("the guest's reset", lambda: len(lv.events("RESET")) > resets)
    assert any('"reason": "guest-reset"' in e for e in lv.events("RESET")[resets:])
    assert dom.state() == "running"
    assert agent(dom, "guest-ping") == {}

    # S3 through the agent, woken over QMP
    dom.v("dompmsuspend", dom.name, "mem")
    lv.wait_for("pmsuspended", lambda: dom.state() == "pmsuspended")
    dom.v("dompmwakeup", dom.name)
    lv.wait_for("running again", lambda: dom.state() == "running")

    # shutdown through the agent: the guest powers off
    shutdowns = len(lv.events("SHUTDOWN"))
    out = dom.v("shutdown", dom.name, "--mode", "agent", check=False)
    # libvirt's own race: its SHUTDOWN handler wakes the API thread waiting for guest-shutdown and kills the
    # emulator; when the emulator's exit (its agent socket's hang-up) is read before that thread has run,
    # libvirt reports the hang-up instead (qemuAgentIO), with QEMU as with fakeqemu. The guest shut down
    # either way, which is what is checked below.
    assert "Domain 'fq-agent-" in out or "End of file from agent socket" in out, out
    lv.wait_for("shut off", lambda: dom.state() == "shut off")
    new = lv.events("SHUTDOWN")[shutdowns:]
    assert any('"reason": "guest-shutdown"' in e for e in new), new
    dom.v("undefine", dom.name)


def test_hung_and_absent_agents(libvirt: Libvirt, tmp_path: Path) -> None:
    lv = libvirt
    dom = Domain(lv, "fq-agent-absent", "pc", "default", tmp_path)
    dom.v(
        "define",
        dom.file("dom.xml", agent_domain_xml(dom.name, "pc", lv.emulator, tmp_path / "disk.img", "agent=absent")),
    )
    dom.v("start", dom.name)
    out = dom.v("qemu-agent-command", dom.name, '{"execute":"guest-ping"}', check=False)
    assert "not connected" in out, out
    # the agent starts in the guest: libvirt sees the port open and can talk to it
    dom.v("qemu-monitor-command", dom.name, '{"execute":"x-fakeqemu-agent","arguments":{"policy":"running"}}')
    lv.wait_for("the agent channel to connect", lambda: "state='connected'" in dom.xml())
    assert agent(dom, "guest-ping") == {}
    # a hung agent: libvirt gives up after its timeout
    dom.v("qemu-monitor-command", dom.name, '{"execute":"x-fakeqemu-agent","arguments":{"policy":"hung"}}')
    out = dom.v("qemu-agent-command", dom.name, "--timeout", "1", '{"execute":"guest-ping"}', check=False)
    assert "timeout" in out.lower() or "not responding" in out.lower(), out
    dom.v("destroy", dom.name)
    dom.v("undefine", dom.name)


@pytest.mark.parametrize("machine", ["pc", "q35"])
def test_setvcpus_live(libvirt: Libvirt, tmp_path: Path, machine: str) -> None:
    """virsh setvcpus --live up and down: device_add of the CPU slots libvirt picks from
    query-hotpluggable-cpus; the guest onlines them; device_del, the guest ejects, DEVICE_DELETED."""
    lv = libvirt
    dom = Domain(lv, f"fq-vcpus-{machine}", machine, "default", tmp_path)
    vcpu = "<vcpu placement='static' current='1'>3</vcpu>"
    dom.v(
        "define", dom.file("dom.xml", agent_domain_xml(dom.name, machine, lv.emulator, tmp_path / "d.img", vcpu=vcpu))
    )
    dom.v("start", dom.name)
    assert dom.v("vcpucount", dom.name, "--live", "--active").strip() == "1"
    dom.v("setvcpus", dom.name, "3", "--live")
    assert dom.v("vcpucount", dom.name, "--live", "--active").strip() == "3"
    info = dom.v("vcpuinfo", dom.name)
    assert info.count("VCPU:") == 3, info
    dom.v("vcpupin", dom.name, "2", "0", "--live")
    deleted = len(lv.events("DEVICE_DELETED"))
    dom.v("setvcpus", dom.name, "1", "--live")
    assert dom.v("vcpucount", dom.name, "--live", "--active").strip() == "1"
    assert len(lv.events("DEVICE_DELETED")) >= deleted + 2
    dom.v("destroy", dom.name)
    dom.v("undefine", dom.name)
