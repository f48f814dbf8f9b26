"""DIMM hot(un)plug through libvirt: ``virsh attach-device`` / ``detach-device`` of a ``<memory
model='dimm'>`` on a domain with ``<maxMemory slots=...>`` (and the NUMA cell libvirt requires for it), on pc
and q35. libvirt sends object-add of a memory-backend-ram and device_add pc-dimm; the guest model onlines
the DIMM; detach sends device_del and waits for DEVICE_DELETED, which comes when the guest ejects it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.libvirt.test_virsh import Domain, Libvirt

DIMM = """<memory model='dimm'>
  <target><size unit='MiB'>128</size><node>0</node></target>
</memory>
"""


def memory_domain_xml(name: str, machine: str, emulator: Path, guest: str = "") -> str:
    cmdline = ""
    if guest:
        cmdline = f"<qemu:commandline><qemu:arg value='-fakeqemu'/><qemu:arg value='guest={guest}'/></qemu:commandline>"
    return f"""<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{name}</name>
  <maxMemory slots='4' unit='MiB'>1024</maxMemory>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <cpu><numa><cell id='0' cpus='0' memory='64' unit='MiB'/></numa></cpu>
  <os><type arch='x86_64' machine='{machine}'>hvm</type></os>
  <features><acpi/></features>
  <devices>
    <emulator>{emulator}</emulator>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
  {cmdline}
</domain>
"""


@pytest.mark.parametrize("machine", ["pc", "q35"])
def test_dimm_attach_and_detach(libvirt: Libvirt, tmp_path: Path, machine: str) -> None:
    lv = libvirt
    dom = Domain(lv, f"fq-dimm-{machine}", machine, "default", tmp_path)
    dom.v("define", dom.file("dom.xml", memory_domain_xml(dom.name, machine, lv.emulator)))
    dom.v("start", dom.name)
    try:
        dimm = dom.file("dimm.xml", DIMM)
        dom.v("attach-device", dom.name, dimm, "--live")
        xml = dom.xml()
        assert "<memory model='dimm'>" in xml and "<alias name='dimm0'/>" in xml, xml
        assert "slot='0'" in xml and "base='0x100000000'" in xml, xml
        assert "Used memory:    196608 KiB" in dom.v("dominfo", dom.name)
        deleted = len(lv.events("DEVICE_DELETED"))
        dom.v("detach-device", dom.name, dimm, "--live")
        assert "model='dimm'" not in dom.xml()
        assert len(lv.events("DEVICE_DELETED")) == deleted + 1
    finally:
        dom.v("destroy", dom.name)
        dom.v("undefine", dom.name)


def test_dimm_detach_waits_for_the_guest(libvirt: Libvirt, tmp_path: Path) -> None:
    """With a guest that never answers, libvirt waits its 5 s and keeps the DIMM (as with a real QEMU
    whose guest ignores the request); an injected eject then completes the unplug and libvirt drops it."""
    lv = libvirt
    dom = Domain(lv, "fq-dimm-never", "pc", "never", tmp_path)
    dom.v("define", dom.file("dom.xml", memory_domain_xml(dom.name, "pc", lv.emulator, guest="never")))
    dom.v("start", dom.name)
    try:
        dimm = dom.file("dimm.xml", DIMM)
        dom.v("attach-device", dom.name, dimm, "--live")
        deleted = len(lv.events("DEVICE_DELETED"))
        out = dom.v("detach-device", dom.name, dimm, "--live")
        assert "model='dimm'" in dom.xml(), out
        assert len(lv.events("DEVICE_DELETED")) == deleted
        cmd = '{"execute":"x-fakeqemu-eject","arguments":{"id":"dimm0"}}'
        assert '"return":{}' in dom.v("qemu-monitor-command", dom.name, cmd).replace(" ", "")
        lv.wait_for("libvirt to drop the DIMM", lambda: "model='dimm'" not in dom.xml())
        assert len(lv.events("DEVICE_DELETED")) == deleted + 1
    finally:
        dom.v("destroy", dom.name)
        dom.v("undefine", dom.name)
