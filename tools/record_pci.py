#!/usr/bin/env python3
"""Record PCI configuration space from Debian's QEMU 7.2 into fakeqemu/data/pci_config.json.

For every PCI function of the boards (pc, q35; ``-S -nodefaults`` under ``-qtest``) and of each modelled
driver (pc: hot-added at slot 4; q35: behind the root port rp1, whose bus numbers the recorder programs),
through the guest's own paths (type-1 ports 0xcf8/0xcfc; on q35 the MMCONFIG window once the MCH's
PCIEXBAR is enabled, for the 4 KiB of a PCIe function):

* ``config``: the bytes as read right after creation (hex, trailing zero bytes dropped);
* ``wmask``: which bits a guest write changes, found dword by dword by writing all ones, then all zeros,
  and putting the old value back (bits that read 1 after the first and 0 after the second; BAR size masks
  come out of this the way a guest's sizing write sees them);
* for virtio drivers, the modern transport's common configuration as the driver sees it with BAR 4
  mapped: the 64-bit device features, num_queues, and each queue's size and notify offset.

Usage: python -m tools.record_pci [--binary qemu-system-x86_64] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tools.qemu_link import Qemu
from tools.record_machine import BEHIND_ROOT_PORT, COLD_PCI, DRIVERS, ROOT_PORT, placement, start

OUT = Path(__file__).resolve().parent.parent / "fakeqemu" / "data" / "pci_config.json"
MMCONFIG = 0xB0000000
MMIO_BAR = 0xE0000000


class Cfg:
    """Config space of one function, through cf8/cfc (first 256 bytes) or MMCONFIG (q35, 4 KiB)."""

    def __init__(self, vm: Qemu, bus: int, devfn: int, mmcfg: bool) -> None:
        self.vm, self.bus, self.devfn, self.mmcfg = vm, bus, devfn, mmcfg

    def read(self, off: int) -> int:
        if self.mmcfg:
            return int(self.vm.qtest(f"readl 0x{self._mm(off):x}").split()[1], 16)
        self.vm.qtest(f"outl 0xcf8 0x{self._cf8(off):x}")
        return int(self.vm.qtest("inl 0xcfc").split()[1], 16)

    def write(self, off: int, value: int) -> None:
        if self.mmcfg:
            self.vm.qtest(f"writel 0x{self._mm(off):x} 0x{value:x}")
            return
        self.vm.qtest(f"outl 0xcf8 0x{self._cf8(off):x}")
        self.vm.qtest(f"outl 0xcfc 0x{value:x}")

    def _cf8(self, off: int) -> int:
        return 0x80000000 | (self.bus << 16) | (self.devfn << 8) | off

    def _mm(self, off: int) -> int:
        return MMCONFIG + (self.bus << 20) + (self.devfn << 12) + off


def _hex(data: bytearray) -> str:
    return bytes(data).rstrip(b"\0").hex()


def dump(cfg: Cfg, size: int) -> dict[str, str]:
    config = bytearray()
    for off in range(0, size, 4):
        config += cfg.read(off).to_bytes(4, "little")
    wmask = bytearray()
    for off in range(0, size, 4):
        old = int.from_bytes(config[off : off + 4], "little")
        cfg.write(off, 0xFFFFFFFF)
        ones = cfg.read(off)
        cfg.write(off, 0)
        zeros = cfg.read(off)
        cfg.write(off, old)
        wmask += (ones & ~zeros & 0xFFFFFFFF).to_bytes(4, "little")
    return {"config": _hex(config), "wmask": _hex(wmask)}


def virtio_common(vm: Qemu, cfg: Cfg) -> dict[str, Any] | None:
    """The modern transport's common config with BAR 4 mapped at MMIO_BAR (memory decoding on)."""
    config = b"".join(cfg.read(o).to_bytes(4, "little") for o in range(0, 256, 4))
    if config[0:2] != b"\xf4\x1a":
        return None
    ptr = config[0x34]
    caps: dict[int, tuple[int, int, int]] = {}  # cfg_type -> (bar, offset, length)
    while ptr:
        if config[ptr] == 0x09:  # vendor capability: virtio_pci_cap
            caps.setdefault(
                config[ptr + 3],
                (
                    config[ptr + 4],
                    int.from_bytes(config[ptr + 8 : ptr + 12], "little"),
                    int.from_bytes(config[ptr + 12 : ptr + 16], "little"),
                ),
            )
        ptr = config[ptr + 1]
    if 1 not in caps or 4 not in caps:  # VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_CAP_DEVICE_CFG
        return None
    bar, offset, _ = caps[1]
    cfg.write(0x10 + 4 * bar, MMIO_BAR)
    cfg.write(0x04, cfg.read(0x04) | 0x6)
    base = MMIO_BAR + offset

    def rd(off: int, size: int) -> int:
        return int(vm.qtest(f"read{'bwlq'[size.bit_length() - 1]} 0x{base + off:x}").split()[1], 16)

    def wr(off: int, size: int, value: int) -> None:
        vm.qtest(f"write{'bwlq'[size.bit_length() - 1]} 0x{base + off:x} 0x{value:x}")

    features = 0
    for sel in (0, 1):
        wr(0x00, 4, sel)
        features |= rd(0x04, 4) << (32 * sel)
    sizes = []
    num = rd(0x12, 2)
    for q in range(num):
        wr(0x16, 2, q)
        sizes.append(rd(0x18, 2))
        # what fakeqemu's model takes for granted: notify offset = queue index, no vector assigned
        assert rd(0x1E, 2) == q and rd(0x1A, 2) == 0xFFFF, (q, rd(0x1E, 2), rd(0x1A, 2))
    wr(0x16, 2, 0)
    assert (rd(0x10, 2), rd(0x14, 1), rd(0x15, 1)) == (0xFFFF, 0, 0)
    _, dev_off, dev_len = caps[4]
    device = bytes(rd(dev_off - offset + i, 1) for i in range(min(dev_len, 256)))
    # past the device's config size reads give all ones
    return {"features": features, "queue_sizes": sizes, "device_config": device.rstrip(b"\xff").hex()}


def _functions(vm: Qemu) -> list[tuple[int, int]]:
    return [(b["bus"], d["slot"] * 8 + d["function"]) for b in vm.ok("query-pci") for d in b["devices"]]


def record_board(binary: str, machine: str) -> dict[str, Any]:
    vm = start(binary, machine, [])
    try:
        funcs = _functions(vm)
        mmcfg = machine == "q35"
        out: dict[str, Any] = {}
        for bus, devfn in funcs:
            out[f"{devfn >> 3:02x}.{devfn & 7:x}"] = dump(Cfg(vm, bus, devfn, False), 256)
        if mmcfg:
            host = Cfg(vm, 0, 0, False)
            host.write(0x60, MMCONFIG | 1)
            for bus, devfn in funcs:
                ext = dump(Cfg(vm, bus, devfn, True), 4096)
                key = f"{devfn >> 3:02x}.{devfn & 7:x}"
                # the first 256 bytes as cf8/cfc gave them (before the window was switched on)
                out[key] = {
                    k: _hex(bytearray(bytes.fromhex(out[key][k]).ljust(256, b"\0") + bytes.fromhex(ext[k])[256:]))
                    for k in ext
                }
        return out
    finally:
        vm.close()


def behind_rp1(vm: Qemu) -> Cfg:
    """The function at 01:00.0 on q35, behind the root port rp1 (03.0): the MMCONFIG window switched on, the
    port given bus 1 and memory windows over MMIO_BAR (for a virtio BAR), its memory and bus mastering on."""
    Cfg(vm, 0, 0, False).write(0x60, MMCONFIG | 1)
    port = Cfg(vm, 0, 3 << 3, False)
    port.write(0x18, 0x00010100)  # rp1: primary 0, secondary 1, subordinate 1
    window = (MMIO_BAR >> 16) | ((MMIO_BAR + 0xFFFFFF) >> 16) << 16
    port.write(0x20, window)  # memory and prefetchable windows
    port.write(0x24, window)
    port.write(0x04, 0x6)
    return Cfg(vm, 1, 0, True)


def _record_function(vm: Qemu, cfg: Cfg, size: int) -> dict[str, Any]:
    rec: dict[str, Any] = dump(cfg, size)
    common = virtio_common(vm, cfg)
    if common is not None:
        rec["virtio"] = common
    return rec


def record_device(binary: str, machine: str, driver: str) -> dict[str, Any] | None:
    args, extra, cold = placement(machine, driver)
    vm = start(binary, machine, extra)
    try:
        if "drive" in args:
            vm.ok("blockdev-add", {"driver": "null-co", "node-name": "disk0"})
        if not cold and "error" in vm.q("device_add", args):
            return None
        if cold:
            Cfg(vm, 0, 0, False).write(0x60, MMCONFIG | 1)
            cfg = Cfg(vm, 0, 4 << 3, True)
            size = 4096
        elif machine == "q35":
            cfg = behind_rp1(vm)
            size = 4096
        else:
            cfg = Cfg(vm, 0, 4 << 3, False)
            size = 256
        return _record_function(vm, cfg, size)
    finally:
        vm.close()


def record_cold(binary: str, machine: str, driver: str) -> dict[str, Any] | None:
    """A driver recorded cold-plugged as tools/record_machine.py records it: pc at 04.0; q35 behind rp1."""
    opts = "".join(f",{k}={v}" for k, v in COLD_PCI[driver].items())
    if machine == "q35":
        extra = [*ROOT_PORT, "-device", f"{driver},id=dev0,bus=rp1{opts}"]
    else:
        extra = ["-device", f"{driver},id=dev0,addr=0x4{opts}"]
    try:
        vm = start(binary, machine, extra)
    except (OSError, RuntimeError):
        return None
    try:
        if machine == "q35":
            cfg, size = behind_rp1(vm), 4096
        else:
            cfg, size = Cfg(vm, 0, 4 << 3, False), 256
        return _record_function(vm, cfg, size)
    finally:
        vm.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="qemu-system-x86_64")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--driver", action="append", help="re-record only this driver (repeatable)")
    args = ap.parse_args()
    if args.driver:
        data = json.loads(args.out.read_text())
        for machine in ("pc", "q35"):
            for driver in args.driver:
                if driver in DRIVERS:
                    rec = record_device(args.binary, machine, driver)
                elif machine == "q35" and driver not in BEHIND_ROOT_PORT:
                    continue
                else:
                    rec = record_cold(args.binary, machine, driver)
                if rec is not None:
                    data["devices"][machine][driver] = rec
        args.out.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        return
    data = {"boards": {}, "devices": {"pc": {}, "q35": {}}}
    for machine in ("pc", "q35"):
        data["boards"][machine] = record_board(args.binary, machine)
        for driver in DRIVERS:
            rec = record_device(args.binary, machine, driver)
            if rec is not None:
                data["devices"][machine][driver] = rec
        for driver in COLD_PCI:
            if machine == "q35" and driver not in BEHIND_ROOT_PORT:
                continue  # on q35's root complex a function is the conventional one recorded on pc
            rec = record_cold(args.binary, machine, driver)
            if rec is not None:
                data["devices"][machine][driver] = rec
    args.out.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
