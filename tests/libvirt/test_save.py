"""libvirt 9.0 saving and restoring a fakeqemu domain (issue 13): ``virsh save`` migrates the VM into a
file (``getfd`` of a pipe, ``migrate fd:``), ``virsh restore`` starts a new fakeqemu with ``-incoming defer``
and feeds the file back (``migrate-incoming fd:``); ``managedsave`` and ``start`` do the same."""

from __future__ import annotations

from pathlib import Path

from tests.libvirt.test_virsh import Domain, Libvirt, domain_xml


def test_save_restore_and_managedsave(libvirt: Libvirt, tmp_path: Path) -> None:
    dom = Domain(libvirt, "fq-save", "pc", "default", tmp_path)
    dom.v("define", dom.file("dom.xml", domain_xml(dom.name, "pc", libvirt.emulator, "default")))
    dom.v("start", dom.name)
    try:
        saved = tmp_path / "fq-save.state"
        assert "saved" in dom.v("save", dom.name, str(saved))
        assert dom.state() == "shut off"
        assert b"FAKEQEMU-MIGRATION\n" in saved.read_bytes()  # after libvirt's own header
        assert "restored" in dom.v("restore", str(saved))
        assert dom.state() == "running"
        assert "52:54:00:00:00:01" in dom.v("domiflist", dom.name)
        dom.v("managedsave", dom.name)
        assert dom.state() == "shut off"
        assert "yes" in dom.v("dominfo", dom.name).split("Managed save:")[1].splitlines()[0]
        dom.v("start", dom.name)
        assert dom.state() == "running"
    finally:
        dom.v("destroy", dom.name, check=False)
        dom.v("managedsave-remove", dom.name, check=False)
        dom.v("undefine", dom.name, check=False)
