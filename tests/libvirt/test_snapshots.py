"""libvirt 9.0 taking internal snapshots of a running fakeqemu VM on a qcow2 disk (issue 13):
``virsh snapshot-create-as`` (libvirt's HMP savevm), ``snapshot-list``, ``snapshot-revert`` (loadvm) and
``snapshot-delete`` (delvm), with ``qemu-img snapshot -l`` and ``qemu-img check`` reading the image."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.libvirt.test_blockjobs import disk
from tests.libvirt.test_virsh import Domain, Libvirt, domain_xml


def image_snapshots(image: Path) -> list[str]:
    out = subprocess.run(["qemu-img", "snapshot", "-U", "-l", str(image)], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    return [line.split()[1] for line in out.splitlines()[2:] if line.strip()]


def test_internal_snapshot_revert_delete(libvirt: Libvirt, tmp_path: Path) -> None:
    image = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "64M"], check=True)
    dom = Domain(libvirt, "fq-snapshots", "pc", "default", tmp_path)
    xml = domain_xml(dom.name, "pc", libvirt.emulator, "default").replace("<devices>", "<devices>" + disk(image))
    dom.v("define", dom.file("dom.xml", xml))
    dom.v("start", dom.name)
    try:
        out = dom.v("snapshot-create-as", dom.name, "s1", "--description", "first")
        assert "Domain snapshot s1 created" in out, out
        dom.v("snapshot-create-as", dom.name, "s2")
        assert image_snapshots(image) == ["s1", "s2"]
        listed = dom.v("snapshot-list", dom.name)
        assert "s1" in listed and "s2" in listed and "running" in listed, listed
        dom.v("snapshot-revert", dom.name, "s1")
        assert "running" in dom.v("domstate", dom.name)
        dom.v("snapshot-delete", dom.name, "s2")
        assert image_snapshots(image) == ["s1"]
        dom.v("suspend", dom.name)
        dom.v("snapshot-create-as", dom.name, "s3")
        dom.v("snapshot-revert", dom.name, "s3")
        assert "paused" in dom.v("domstate", dom.name)
        dom.v("snapshot-revert", dom.name, "s1", "--running")
        assert "running" in dom.v("domstate", dom.name)
    finally:
        dom.v("destroy", dom.name, check=False)
        dom.v("snapshot-delete", dom.name, "--metadata", "s1", check=False)
        dom.v("snapshot-delete", dom.name, "--metadata", "s3", check=False)
        dom.v("undefine", dom.name, "--snapshots-metadata", check=False)
    assert image_snapshots(image) == ["s1", "s3"]
    check = subprocess.run(["qemu-img", "check", str(image)], capture_output=True, text=True)
    assert check.returncode == 0 and "No errors were found" in check.stdout, check.stdout + check.stderr
