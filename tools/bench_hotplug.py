"""``make bench``: the whole unplug cycle, fakeqemu against QEMU 7.2 in the same run.

One cycle, as a qtest-driven test runs it: ``device_add`` of a virtio-net-pci at slot 4, ``device_del``,
the guest's eject write (``outl 0xae08 0x10`` on the qtest socket), then both DEVICE_DELETED events
(virtio-backend, then the device). QEMU delivers them from its call_rcu thread; fakeqemu from its RCU
queue, with the grace period QEMU-like (the default) or 0 (``-fakeqemu rcu-grace-ms=0``).
Targets: grace 0 at most a tenth of QEMU's cycle; QEMU-like within 25% of QEMU's.
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import time
from dataclasses import dataclass

from tools.launch import BARE, Emulator, Monitor


@dataclass
class Link:
    emu: Emulator
    qmp: Monitor
    qtest: socket.socket

    def outl(self, port: int, value: int) -> None:
        self.qtest.sendall(f"outl {port:#x} {value:#x}\n".encode())
        data = b""
        while not data.endswith(b"OK\n"):
            data += self.qtest.recv(4096)

    def close(self) -> None:
        self.qmp.close()
        self.qtest.close()
        self.emu.close()


def start(argv: list[str]) -> Link:
    emu = Emulator(prefix="bench-hotplug-")
    try:
        sockets = ["-qmp", f"unix:{emu.path('qmp')},server=on,wait=off", "-qtest", f"unix:{emu.listen('qtest')}"]
        emu.start([*argv, "-M", "pc", *BARE, "-S", *sockets], stderr=subprocess.DEVNULL)
        qt = emu.accept("qtest")
        return Link(emu, Monitor(emu.connect("qmp")), qt)
    except BaseException:
        emu.close()
        raise


def cycle_ms(link: Link) -> float:
    t0 = time.perf_counter()
    link.qmp.cmd("device_add", {"driver": "virtio-net-pci", "id": "n0", "addr": "0x4"})
    link.qmp.cmd("device_del", {"id": "n0"})
    link.outl(0xAE08, 0x10)
    seen = 0
    while seen < 2:
        msg = link.qmp.line()
        if msg.get("event") == "DEVICE_DELETED":
            seen += 1
    return (time.perf_counter() - t0) * 1000


def measure(argv: list[str], cycles: int) -> float:
    link = start(argv)
    try:
        cycle_ms(link)  # warm-up
        return statistics.median(cycle_ms(link) for _ in range(cycles))
    finally:
        link.close()


def bench(qemu: list[str] | None, fake: list[str], cycles: int = 30) -> dict[str, float]:
    out: dict[str, float] = {}
    if qemu is not None:
        out["qemu"] = measure(qemu, cycles)
    out["fakeqemu grace 0"] = measure([*fake, "-fakeqemu", "rcu-grace-ms=0"], cycles)
    out["fakeqemu QEMU-like"] = measure(fake, cycles)
    q = out.get("qemu")
    for label, value in out.items():
        ratio = ""
        if q and label != "qemu":
            r = value / q
            target = "<= 0.10x" if "grace 0" in label else "within 25%"
            ok = r <= 0.10 if "grace 0" in label else abs(r - 1) <= 0.25
            ratio = f"  ratio={r:.2f}x  {'ok' if ok else 'MISSES'} (target {target})"
        print(f"{'unplug cycle, ' + label:<34}{value:9.2f} ms{ratio}")
    return out
