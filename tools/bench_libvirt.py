"""``make bench`` section: how long libvirt takes to start virt-install's default q35 domain
(tests/libvirt/domains/vi-q35-vnc-net.xml: 14 root ports, qemu-xhci, a virtio disk on qcow2, a NIC, a pty
console, the guest agent's channel, VNC, virtio video, balloon, rng), fakeqemu against QEMU 7.2 in the same
private libvirtd, ``virsh start`` wall time (median). Both run as ``type='qemu'`` (TCG): with KVM and the
host CPU model QEMU does not start on every machine. Needs root and libvirtd (as tests/libvirt does)."""

from __future__ import annotations

import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from fakeqemu.machine.block import qcow2
from tests.libvirt.test_default_domains import domain_xml
from tests.libvirt.test_virsh import Libvirt, _missing

DOMAIN = "vi-q35-vnc-net"


def bench(rounds: int = 5) -> dict[str, float] | None:
    reason = _missing()
    qemu = shutil.which("qemu-system-x86_64")
    if reason is not None or qemu is None:
        print(f"libvirt start of {DOMAIN}: skipped ({reason or 'no qemu-system-x86_64'})")
        return None
    root = Path(tempfile.mkdtemp(prefix="bench-libvirt-"))
    lv = Libvirt(root)
    real = lv.bin / "qemu-real"
    real.symlink_to(qemu)
    image = root / "disk.qcow2"
    qcow2.create(str(image), 64 << 20)
    emulators = {"qemu": real, "fakeqemu": lv.emulator}
    times: dict[str, list[float]] = {name: [] for name in emulators}
    lv.start()
    try:
        for name, emulator in emulators.items():
            xml = root / f"{name}.xml"
            text = domain_xml(DOMAIN, emulator, image, kvm=False).replace(DOMAIN, f"{DOMAIN}-{name}")
            xml.write_text(re.sub(r"<uuid>.*</uuid>", "", text))  # libvirt gives each its own
            lv.virsh("define", str(xml))
            lv.virsh("start", f"{DOMAIN}-{name}")  # first start: libvirt probes the emulator; not timed
            lv.virsh("destroy", f"{DOMAIN}-{name}")
        for _ in range(rounds):
            for name in emulators:
                t0 = time.monotonic()
                lv.virsh("start", f"{DOMAIN}-{name}")
                times[name].append(time.monotonic() - t0)
                lv.virsh("destroy", f"{DOMAIN}-{name}")
    finally:
        lv.stop()
        shutil.rmtree(root, ignore_errors=True)
    med = {name: statistics.median(t) * 1000 for name, t in times.items()}
    ratio = med["fakeqemu"] / med["qemu"]
    verdict = "ok (target: not slower)" if ratio <= 1.0 else "MISSES target: not slower"
    print(f"{'libvirt start ' + DOMAIN + ' (median)':<34}qemu={med['qemu']:7.1f} ms  "
          f"fakeqemu={med['fakeqemu']:7.1f} ms  ratio={ratio:.2f}x  {verdict}")  # fmt: skip
    return med


if __name__ == "__main__":
    bench()
