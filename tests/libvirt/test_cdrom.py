"""Disks and cdroms through libvirt (issue 11): a domain with an IDE (pc) or SATA (q35) disk and cdrom and a
virtio-scsi controller starts; ``virsh change-media`` ejects, inserts and updates the cdrom's medium
(libvirt's blockdev-open-tray, -remove-medium, -insert-medium, -close-tray, waiting for DEVICE_TRAY_MOVED);
``attach-disk`` / ``detach-disk`` of a SCSI cdrom and disk (SCSI unplug is immediate: DEVICE_DELETED with no
guest); domblklist, domblkinfo, domblkstat read the IDE/SATA disk."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fakeqemu.machine.block import qcow2
from tests.libvirt.test_virsh import Domain, Libvirt, domain_xml
from tests.system import require


def storage_domain_xml(name: str, machine: str, emulator: Path, image: Path, iso: Path) -> str:
    bus, disk_dev, cd_dev = ("ide", "hda", "hdc") if machine == "pc" else ("sata", "sda", "sdb")
    return domain_xml(
        name,
        machine,
        emulator,
        "default",
        f"""
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{image}'/>
      <target dev='{disk_dev}' bus='{bus}'/></disk>
    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='{iso}'/>
      <target dev='{cd_dev}' bus='{bus}'/><readonly/></disk>
    <controller type='scsi' model='virtio-scsi' index='0'/>""",
    )


def cdrom_source(xml: str, target: str) -> str | None:
    """The source file of the disk element with this target, or None when it has no medium."""
    for m in re.finditer(r"<disk .*?</disk>", xml, re.S):
        if f"<target dev='{target}'" in m.group(0):
            src = re.search(r"<source file='([^']+)'", m.group(0))
            return src.group(1) if src else None
    raise AssertionError(f"no disk {target} in\n{xml}")


def flow(lv: Libvirt, tmp_path: Path, machine: str, emulator: Path) -> list[str]:
    """The flow on one emulator; what virsh said at each step (paths made relative to ``tmp_path``)."""
    seen: list[str] = []
    tmp_path.mkdir(parents=True, exist_ok=True)
    image, iso, iso2, scsi_img = (tmp_path / n for n in ("disk.qcow2", "a.iso", "b.iso", "scsi.img"))
    qcow2.create(str(image), 64 << 20)
    for raw in (iso, iso2, scsi_img):
        raw.write_bytes(bytes(1 << 20))
    cd = "hdc" if machine == "pc" else "sdb"
    disk = "hda" if machine == "pc" else "sda"
    dom = Domain(lv, f"fq-cdrom-{machine}-{emulator.name}", machine, "default", tmp_path)

    def v(*args: str) -> str:
        out = dom.v(*args)
        seen.append(out.replace(str(tmp_path), "TMP"))
        return out

    dom.v("define", dom.file("dom.xml", storage_domain_xml(dom.name, machine, emulator, image, iso)))
    dom.v("start", dom.name)
    try:
        listing = v("domblklist", dom.name)
        assert str(image) in listing and str(iso) in listing, listing
        assert "Capacity:       67108864" in v("domblkinfo", dom.name, disk)
        assert f"{disk} wr_req 0" in dom.v("domblkstat", dom.name, disk)  # (QEMU's SeaBIOS reads a sector)

        moved = len(lv.events("DEVICE_TRAY_MOVED"))
        assert "Successfully ejected media." in v("change-media", dom.name, cd, "--eject", "--live")
        assert cdrom_source(dom.xml(), cd) is None
        assert len(lv.events("DEVICE_TRAY_MOVED")) > moved
        assert "Successfully inserted media." in v("change-media", dom.name, cd, str(iso2), "--insert", "--live")
        assert cdrom_source(dom.xml(), cd) == str(iso2)
        assert "Successfully updated media." in v("change-media", dom.name, cd, str(iso), "--update", "--live")
        assert cdrom_source(dom.xml(), cd) == str(iso)
        assert '"tray-open": false' in lv.events("DEVICE_TRAY_MOVED")[-1]

        # SCSI on the domain's controller 0 (sda and sdb are q35's SATA disks): hot-plugged, and unplugged
        # at once (DEVICE_DELETED with no guest)
        scsi = ["--targetbus", "scsi", "--live", "--address"]
        out = v("attach-disk", dom.name, str(iso2), "sdc", "--type", "cdrom", *scsi, "scsi:0.0.2")
        assert "Disk attached successfully" in out, out
        assert cdrom_source(dom.xml(), "sdc") == str(iso2)
        out = v("attach-disk", dom.name, str(scsi_img), "sdd", *scsi, "scsi:0.0.3")
        assert "Disk attached successfully" in out, out
        deleted = len(lv.events("DEVICE_DELETED"))
        for target in ("sdc", "sdd"):
            assert "Disk detached successfully" in v("detach-disk", dom.name, target, "--live")
        listing = v("domblklist", dom.name)
        assert "sdc" not in listing and "sdd" not in listing, listing
        assert len(lv.events("DEVICE_DELETED")) == deleted + 2
    finally:
        dom.v("destroy", dom.name)
        dom.v("undefine", dom.name)
    return seen


@pytest.mark.parametrize("machine", ["pc", "q35"])
def test_change_media_and_scsi_disks(libvirt: Libvirt, tmp_path: Path, machine: str) -> None:
    """The flow on fakeqemu, then on QEMU 7.2 (no guest OS) under the same libvirtd: virsh says the same."""
    fake = flow(libvirt, tmp_path / "fake", machine, libvirt.emulator)
    qemu = Path(require("qemu-system-x86_64", "apt-get install -y qemu-system-x86"))
    assert flow(libvirt, tmp_path / "qemu", machine, qemu) == fake


def test_change_media_with_a_guest_that_locks_the_tray(libvirt: Libvirt, tmp_path: Path) -> None:
    """-fakeqemu cdrom=lock: the guest has mounted the medium and locked the tray; libvirt's eject asks for
    the tray, waits for DEVICE_TRAY_MOVED, which comes when the guest opens it, and carries on."""
    lv = libvirt
    iso, iso2 = tmp_path / "a.iso", tmp_path / "b.iso"
    for raw in (iso, iso2):
        raw.write_bytes(bytes(1 << 20))
    image = tmp_path / "disk.qcow2"
    qcow2.create(str(image), 64 << 20)
    dom = Domain(lv, "fq-cdrom-locked", "pc", "default", tmp_path)
    xml = storage_domain_xml(dom.name, "pc", lv.emulator, image, iso).replace(
        "</domain>",
        "<qemu:commandline><qemu:arg value='-fakeqemu'/><qemu:arg value='cdrom=lock'/></qemu:commandline></domain>",
    )
    dom.v("define", dom.file("dom.xml", xml))
    dom.v("start", dom.name)
    try:
        out = dom.v("qemu-monitor-command", dom.name, '{"execute":"query-block"}')
        assert '"locked":true' in out.replace(" ", ""), out
        assert "Successfully ejected media." in dom.v("change-media", dom.name, "hdc", "--eject", "--live")
        assert cdrom_source(dom.xml(), "hdc") is None
        assert "Successfully inserted media." in dom.v("change-media", dom.name, "hdc", str(iso2), "--insert", "--live")
        assert cdrom_source(dom.xml(), "hdc") == str(iso2)
        out = dom.v("qemu-monitor-command", dom.name, '{"execute":"query-block"}')
        assert '"locked":true' in out.replace(" ", ""), out  # mounted and locked again
    finally:
        dom.v("destroy", dom.name)
        dom.v("undefine", dom.name)
