"""``virsh migrate --live`` of a fakeqemu domain between two libvirt 9.0 daemons on this machine (issue 13):
each daemon in its own mount namespace with its own host UUID, both in one network namespace, the
stream between the two fakeqemu processes over TCP on 127.0.0.1."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.libvirt.test_virsh import Domain, Libvirt, _missing, domain_xml
from tests.system import unavailable


@pytest.fixture
def two_hosts(tmp_path: Path) -> Iterator[tuple[Libvirt, Libvirt]]:
    reason = _missing()
    if reason is not None:
        unavailable(reason)
    holder = subprocess.Popen(["unshare", "-n", "sh", "-c", "ip link set lo up && exec sleep 3600"])
    netns = f"/proc/{holder.pid}/ns/net"
    hosts: list[Libvirt] = []
    try:
        deadline = time.monotonic() + 10
        while "UP" not in subprocess.run(["nsenter", f"--net={netns}", "ip", "-o", "link", "show", "lo"],
                                         capture_output=True, text=True).stdout:  # fmt: skip
            assert time.monotonic() < deadline, "the shared network namespace never brought lo up"
            time.sleep(0.01)
        for name, uuid in (
            ("src", "11111111-2222-3333-4444-555555555555"),
            ("dst", "66666666-7777-8888-9999-000000000000"),
        ):
            (tmp_path / name).mkdir()
            lv = Libvirt(tmp_path / name, netns=netns, host_uuid=uuid)
            hosts.append(lv)
            lv.start()
        yield hosts[0], hosts[1]
    finally:
        for lv in hosts:
            lv.stop()
        holder.kill()
        holder.wait()


def test_virsh_migrate_live(two_hosts: tuple[Libvirt, Libvirt], tmp_path: Path) -> None:
    src, dst = two_hosts
    dom = Domain(src, "fq-mig", "pc", "default", tmp_path / "dom")
    dom.v("define", dom.file("dom.xml", domain_xml(dom.name, "pc", src.emulator, "default")))
    dom.v("start", dom.name)
    out = src.virsh("migrate", "--live", dom.name, f"qemu:///system?socket={dst.sock}", "--migrateuri",
                    "tcp://127.0.0.1", "--verbose", timeout=60)  # fmt: skip
    assert "Migration: [100 %]" in out or out.strip() == "", out
    assert dom.name not in src.virsh("list", "--name").split()
    assert dst.virsh("domstate", dom.name).strip() == "running"
    assert "52:54:00:00:00:01" in dst.virsh("domiflist", dom.name)
    # the source's events, as libvirt logged them
    statuses = [e for e in src.events("MIGRATION") if '"status"' in e]
    assert any('"completed"' in e for e in statuses), statuses
    dst.virsh("destroy", dom.name)


def test_virsh_migrate_postcopy(two_hosts: tuple[Libvirt, Libvirt], tmp_path: Path) -> None:
    """``virsh migrate --postcopy`` at 1 MiB/s of a 1 GiB domain, switched by ``virsh migrate-postcopy``
    once memory moves: libvirt enables postcopy-ram on both sides, QEMU's postcopy-active comes before
    completed, and the domain runs on the destination."""
    src, dst = two_hosts
    dom = Domain(src, "fq-postcopy", "pc", "default", tmp_path / "dom")
    xml = domain_xml(dom.name, "pc", src.emulator, "default")
    dom.v(
        "define", dom.file("dom.xml", xml.replace("<memory unit='MiB'>64</memory>", "<memory unit='MiB'>1024</memory>"))
    )
    dom.v("start", dom.name)
    out: list[str] = []
    uri = f"qemu:///system?socket={dst.sock}"
    argv = ["migrate", "--live", "--postcopy", dom.name, uri, "--migrateuri", "tcp://127.0.0.1", "--bandwidth", "1"]
    mover = threading.Thread(target=lambda: out.append(src.virsh(*argv, "--verbose", timeout=60)))
    mover.start()
    try:
        src.wait_for("memory to move", lambda: "Memory processed" in src.virsh("domjobinfo", dom.name), timeout=30)
        src.virsh("migrate-postcopy", dom.name)
    finally:
        mover.join(60)
    assert out and "Migration: [100 %]" in out[0], out
    statuses = [e.partition('"status": "')[2].partition('"')[0] for e in src.events("MIGRATION")]
    assert statuses[-2:] == ["postcopy-active", "completed"], statuses
    assert dst.virsh("domstate", dom.name).strip() == "running"
    dst.virsh("destroy", dom.name)
