"""libvirt 9.0 driving fakeqemu's block jobs on a real qcow2 disk (issue 13): a disk-only external
snapshot (blockdev-create, blockdev-add, transaction blockdev-snapshot), an active block commit with
pivot, a block pull, a block copy with pivot, a push backup; the chain checked with qemu-img after each."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.libvirt.test_virsh import Domain, Libvirt, domain_xml


def disk(image: Path) -> str:
    return (
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        f"<source file='{image}'/><target dev='vda' bus='virtio'/></disk>"
    )


def chain(image: Path) -> list[str]:
    out = subprocess.run(["qemu-img", "info", "-U", "--backing-chain", str(image)], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    return [line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("image: ")]


def test_snapshot_commit_pull(libvirt: Libvirt, tmp_path: Path) -> None:
    base = tmp_path / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "64M"], check=True)
    dom = Domain(libvirt, "fq-blockjobs", "pc", "default", tmp_path)
    xml = domain_xml(dom.name, "pc", libvirt.emulator, "default").replace("<devices>", "<devices>" + disk(base))
    dom.v("define", dom.file("dom.xml", xml))
    dom.v("start", dom.name)
    try:
        overlay = tmp_path / "overlay.qcow2"
        out = dom.v("snapshot-create-as", dom.name, "s1", "--disk-only", "--no-metadata",
                    "--diskspec", f"vda,file={overlay}")  # fmt: skip
        assert "Domain snapshot s1 created" in out, out
        assert chain(overlay) == [str(overlay), str(base)]
        assert str(overlay) in dom.v("domblklist", dom.name)
        out = dom.v("blockcommit", dom.name, "vda", "--active", "--pivot", "--wait")
        assert "Successfully pivoted" in out, out
        assert str(base) in dom.v("domblklist", dom.name)
        top = tmp_path / "top.qcow2"
        dom.v("snapshot-create-as", dom.name, "s2", "--disk-only", "--no-metadata", "--diskspec", f"vda,file={top}")
        assert chain(top) == [str(top), str(base)]
        out = dom.v("blockpull", dom.name, "vda", "--wait")
        assert "Block Pull" in out or "complete" in out.lower(), out
        assert chain(top) == [str(top)]
        copy = tmp_path / "copy.qcow2"
        out = dom.v(
            "blockcopy", dom.name, "vda", str(copy), "--wait", "--pivot", "--transient-job", "--format", "qcow2"
        )
        assert "Successfully pivoted" in out, out
        assert str(copy) in dom.v("domblklist", dom.name)
        assert chain(copy) == [str(copy)]
        out = dom.v("backup-begin", dom.name)
        assert "Backup started" in out, out
        libvirt.wait_for("the backup to end", lambda: "None" in dom.v("domjobinfo", dom.name))
        assert list(tmp_path.glob("copy.qcow2.*")), list(tmp_path.iterdir())
    finally:
        dom.v("destroy", dom.name, check=False)
        dom.v("undefine", dom.name, check=False)
