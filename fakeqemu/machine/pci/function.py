"""A PCI function's guest-visible state: its configuration space and, for virtio, the transport registers
behind its BAR. Made on the first guest access from what QEMU 7.2 showed (tools/record_pci.py writes
fakeqemu/data/pci_config.json); a driver without a recording gets a header built from its query-pci entry.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from fakeqemu.machine.core.ioport import MemorySpace
from fakeqemu.machine.core.pciconfig import ConfigSpace
from fakeqemu.machine.core.qdev import Device, PCIDevice
from fakeqemu.machine.pci import virtio_legacy
from fakeqemu.machine.pci.msix import Msix
from fakeqemu.machine.pci.virtio import VirtioTransport
from fakeqemu.recorded import document

CAP_ID_MSI = 0x05
CAP_ID_VNDR = 0x09
CAP_ID_MSIX = 0x11
CAP_LIST = 0x34
COMMAND, MASTER = 0x04, 0x4
#: QEMU's default wmask of the command register as recorded (I/O, memory, master, SERR#, INTx disable)
COMMAND_WMASK = 0x0507


@functools.cache
def recorded() -> Mapping[str, Any]:
    return document("pci_config.json")


#: PCI Express capability: link status and slot control (pcie_cap_slot_*), measured on a root port
CAP_ID_EXP = 0x10
LNKSTA, SLTCTL = 0x12, 0x18
LNKSTA_POPULATED = 0x0011  # link up: 2.5 GT/s, x1
SLTCTL_PCC = 0x0400  # power controller control: 1 = power off
SLTCTL_PIC = 0x0300  # power indicator control


class PciFunction:
    __slots__ = ("config", "model", "msix", "populated", "virtio")

    def __init__(self, config: ConfigSpace, virtio: VirtioTransport | None) -> None:
        self.config = config
        self.virtio = virtio
        #: its MSI-X table and PBA (a function with the capability; made once its model has set the BARs)
        self.msix: Msix | None = None
        #: the device's own registers (fakeqemu.machine.devices: i6300esb, pvpanic-pci, nvme, sdhci-pci):
        #: configuration reads and writes it claims, and its BARs (``bar_read(bar, offset, size)``)
        self.model: Any = None
        #: a root port's slot: whether a device was behind it when last looked at (None: not a port)
        self.populated: bool | None = None

    def attach_msix(self, memory: MemorySpace | None) -> None:
        """msix_init as the capability now reads (after the model has sized its table): the table, its
        PBA, and the space its messages go to."""
        cap = next((off for cap, off in self.config.capabilities() if cap == CAP_ID_MSIX), None)
        if cap is None:
            return
        self.msix = Msix(self.config, cap)
        self.msix.memory = memory
        if self.virtio is not None:
            self.virtio.msix = self.msix
            self.virtio.nvectors = self.msix.nvectors
        attached = getattr(self.model, "msix_attached", None)
        if callable(attached):
            attached(self.msix)

    def sync_slot(self, children: Sequence[Device]) -> None:
        """A PCIe root port's slot as QEMU 7.2 shows it (measured): the link is up while a device is behind
        it; plugging one powers the slot on (a cold-plugged one also lights the power indicator); the slot
        stays powered after the device is ejected."""
        exp = next((off for cap, off in self.config.capabilities() if cap == CAP_ID_EXP), None)
        if exp is None:
            return
        populated = bool(children)
        if populated == self.populated:
            return
        data = self.config.data
        initial = self.config.initial(exp + LNKSTA, 2)
        lnksta = LNKSTA_POPULATED if populated else initial
        data[exp + LNKSTA : exp + LNKSTA + 2] = lnksta.to_bytes(2, "little")
        if populated:
            sltctl = self.config.u16(exp + SLTCTL) & ~SLTCTL_PCC
            if self.populated is None and any(not d.hotplugged for d in children):
                sltctl = (sltctl & ~SLTCTL_PIC) | 0x0100
            data[exp + SLTCTL : exp + SLTCTL + 2] = sltctl.to_bytes(2, "little")
        self.populated = populated

    def reset(self) -> None:
        self.config.reset()
        if self.populated is not None:
            self.populated = None
        if self.msix is not None:
            self.msix.reset()
        if self.virtio is not None:
            self.virtio.reset()

    def config_read(self, addr: int, size: int) -> int:
        if self.model is not None and hasattr(self.model, "config_read"):
            value = self.model.config_read(addr, size)
            if value is not None:
                return int(value)
        return self.config.read(addr, size)

    def config_write(self, addr: int, size: int, value: int) -> None:
        claimed = self.model is not None and hasattr(self.model, "config_write")
        if claimed and self.model.config_write(addr, size, value):
            return
        self.config.write(addr, size, value)
        if self.msix is not None:
            self.msix.config_written(addr, size)
        if self.virtio is not None and addr <= COMMAND < addr + size and not self.config.u16(COMMAND) & MASTER:
            self.virtio.master_off()

    def bar_read(self, bar: int, offset: int, size: int) -> int:
        if self.msix is not None:
            kind = self.msix.region(bar, offset)
            if kind is not None:
                return self.msix.read(kind, offset, size)
        if hasattr(self.model, "bar_read"):
            return int(self.model.bar_read(bar, offset, size))
        if self.virtio is not None:
            where = self.virtio.region_at(bar, offset)
            if where is not None:
                return self.virtio.read(where[0], where[1], size)
            if self._legacy_bar(bar):
                return virtio_legacy.read(self.virtio, offset, size)
        return 0

    def _legacy_bar(self, bar: int) -> bool:
        """A transitional virtio device's legacy transport: its I/O BAR 0."""
        return bar == 0 and self.config.u32(0x10) & 1 == 1

    def bar_write(self, bar: int, offset: int, size: int, value: int) -> None:
        if self.msix is not None:
            kind = self.msix.region(bar, offset)
            if kind is not None:
                self.msix.write(kind, offset, size, value)
                return
        if hasattr(self.model, "bar_write"):
            self.model.bar_write(bar, offset, size, value)
            return
        if self.virtio is not None:
            where = self.virtio.region_at(bar, offset)
            if where is not None:
                self.virtio.write(where[0], where[1], size, value)
            elif self._legacy_bar(bar) and virtio_legacy.write(self.virtio, offset, size, value):
                self.config_write(COMMAND, 1, self.config.u8(COMMAND) | MASTER)


def _bytes(hexstr: str, size: int) -> bytes:
    return bytes.fromhex(hexstr).ljust(size, b"\0")


#: PCI Express functions whatever bus they sit on (INTERFACE_PCIE_DEVICE only): on q35, their 4 KiB record
PCIE_ONLY = frozenset({"pcie-root-port", "pcie-pci-bridge"})


def _record(kind: str, dev: PCIDevice, behind_port: bool, on_root: bool) -> Mapping[str, Any] | None:
    data = recorded()
    if dev.type in data["devices"]["pc"]:
        # on q35 a device behind a root port is PCI Express (4 KiB, modern-only virtio); elsewhere it is
        # the conventional function recorded on pc
        board = "q35" if kind == "q35" and behind_port and dev.type in data["devices"]["q35"] else "pc"
        if dev.type in PCIE_ONLY and kind == "q35":
            board = "q35"
        rec: Mapping[str, Any] = data["devices"][board][dev.type]
        return rec
    key = f"{dev.slot:02x}.{dev.function:x}"
    if on_root and not dev.hotplugged and key in data["boards"].get(kind, {}):
        board_rec: Mapping[str, Any] = data["boards"][kind][key]
        return board_rec
    return None


def make_function(kind: str, dev: PCIDevice, behind_port: bool, on_root: bool) -> PciFunction:
    rec = _record(kind, dev, behind_port, on_root)
    if rec is None:
        data, wmask = synthesized(dev.pci_info)
    else:
        size = 4096 if len(rec["config"]) > 512 or len(rec["wmask"]) > 512 else 256
        data, wmask = bytearray(_bytes(rec["config"], size)), _bytes(rec["wmask"], size)
    if dev.multifunction:
        data[0x0E] |= 0x80
    if not dev.has_rom:
        rom = 0x38 if data[0x0E] & 0x7F == 1 else 0x30
        wmask = wmask[:rom] + bytes(4) + wmask[rom + 4 :]
    if dev.user_props.get("msi") == "off":
        wmask = _without_msi(data, wmask)
    config = ConfigSpace(bytes(data), wmask)
    virtio = None
    if rec is not None and "virtio" in rec:
        virtio = _virtio(config, rec["virtio"], dev)
    return PciFunction(config, virtio)


def _without_msi(data: bytearray, wmask: bytes) -> bytes:
    """``msi=off`` where the recorded function's MSI capability is the head of its list (msi_init came
    last, as in pcie-pci-bridge's realize, so nothing was placed after it): the list starts at the next one
    and the capability's bytes are free: zero and writable, as pci_init_wmask leaves what no capability
    claims (msi_cap_sizeof: 10 bytes, 4 more for 64-bit addresses, 10 more for per-vector masking).
    Elsewhere in the list, later capabilities would have taken its place: left as recorded."""
    head = data[CAP_LIST]
    if not head or data[head] != CAP_ID_MSI:
        return wmask
    flags = int.from_bytes(data[head + 2 : head + 4], "little")
    size = 0x0A + (4 if flags & 0x80 else 0) + (0x0A if flags & 0x100 else 0)
    data[CAP_LIST] = data[head + 1]
    data[head : head + size] = bytes(size)
    return wmask[:head] + b"\xff" * size + wmask[head + size :]


def _virtio(config: ConfigSpace, rec: Mapping[str, Any], dev: PCIDevice) -> VirtioTransport:
    regions: dict[int, tuple[int, int, int]] = {}
    nvectors = 0
    for cap, off in config.capabilities():
        if cap == CAP_ID_VNDR:
            kind = config.u8(off + 3)
            regions.setdefault(kind, (config.u8(off + 4), config.u32(off + 8), config.u32(off + 12)))
        elif cap == CAP_ID_MSIX:
            nvectors = (config.u16(off + 2) & 0x7FF) + 1
    sizes = getattr(dev.model, "queue_sizes", None)
    if callable(sizes):  # a device whose queues its properties and -smp set (virtio-blk)
        rec = {**rec, "queue_sizes": sizes()}
    virtio = VirtioTransport(rec, regions, nvectors)
    if hasattr(dev.model, "device_config"):
        virtio.device = dev.model
    mac = dev.user_props.get("mac")
    virtio.net = dev.type == "virtio-net-pci"
    if isinstance(mac, str) and virtio.net:
        virtio.device_config[0:6] = bytes(int(b, 16) for b in mac.split(":"))
    return virtio


def synthesized(info: Mapping[str, Any]) -> tuple[bytearray, bytes]:
    """A type 0/1 header from a query-pci entry: IDs, class, header type, BARs sized as listed, the
    interrupt pin; the writable bits QEMU gives every function (command, cache line, latency, line)."""
    data = bytearray(256)
    wmask = bytearray(256)
    ident = info.get("id", {})
    data[0:2] = int(ident.get("vendor", 0xFFFF)).to_bytes(2, "little")
    data[2:4] = int(ident.get("device", 0xFFFF)).to_bytes(2, "little")
    cls = int(info.get("class_info", {}).get("class", 0))
    data[0x0A:0x0C] = cls.to_bytes(2, "little")
    bridge = "pci_bridge" in info
    data[0x0E] = 1 if bridge else 0
    wmask[0x04:0x06] = COMMAND_WMASK.to_bytes(2, "little")
    wmask[0x0C] = 0xFF
    wmask[0x3C] = 0xFF
    if not bridge:
        data[0x2C:0x2E] = int(ident.get("subsystem-vendor", 0)).to_bytes(2, "little")
        data[0x2E:0x30] = int(ident.get("subsystem", 0)).to_bytes(2, "little")
    else:
        wmask[0x18:0x1B] = b"\xff\xff\xff"
    data[0x3D] = int(info.get("irq_pin", 0))
    for region in info.get("regions", []):
        bar = int(region["bar"])
        off = 0x10 + 4 * bar if bar < 6 else 0x30
        size = int(region["size"])
        if bar >= 6:
            mask = ~(size - 1) & 0xFFFFF800 | 1
            wmask[off : off + 4] = mask.to_bytes(4, "little")
            continue
        if region["type"] == "io":
            data[off] = 1
            wmask[off : off + 4] = (~(size - 1) & 0xFFFFFFFC).to_bytes(4, "little")
            continue
        flags = (4 if region.get("mem_type_64") else 0) | (8 if region.get("prefetch") else 0)
        data[off] = flags
        mask = ~(size - 1) & 0xFFFFFFFFFFFFFFF0
        wmask[off : off + 4] = (mask & 0xFFFFFFFF).to_bytes(4, "little")
        if region.get("mem_type_64"):
            wmask[off + 4 : off + 8] = (mask >> 32).to_bytes(4, "little")
    return data, bytes(wmask)
