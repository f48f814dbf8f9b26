"""What SeaBIOS 1.16 (src/fw/pciinit.c, pci_setup) does to PCI when a VM runs its firmware (TCG or KVM, not
the qtest accelerator): everything through configuration cycles, as the firmware does them, so BAR sizing,
read-only bits and bus routing answer as they would to SeaBIOS.

1. Bus numbering (pci_bios_init_bus): depth first, each PCI-PCI bridge (class 0x0604: pci-bridge,
   pcie-root-port, pcie-pci-bridge) gets the next bus number; its subordinate is the last number below it,
   or more when QEMU's resource reserve capability asks for buses.
2. Probing (pci_probe_devices): bus by bus, slot by slot (functions past 0 only on a multifunction device).
3. Platform: i440fx places the 32-bit window at 2 GiB (RAM below it: 3 GiB past 2 GiB of RAM); q35 enables
   MMCONFIG at 0xb0000000 (256 MiB) and starts the window above it.
4. Sizing (pci_bios_check_devices): every BAR and ROM BAR is sized by writing all ones; memory BARs under
   4 KiB count as 4 KiB; each bus keeps its I/O, memory and prefetchable entries sorted by alignment then
   size (ties keep probe order); a bridge asks its parent for the sum of its bus rounded to 4 KiB (I/O) or
   2 MiB (memory), at least that much when its bus can take hot-plugged devices (SHPC, or a PCIe slot: not
   I/O there), or what its reserve capability asks.
5. Assignment (pci_bios_map_devices): I/O from 0xc000 (0x1000 when more than 16 KiB is needed), memory
   downwards from 0xfec00000 (the larger-aligned of the two memory kinds at the top); when the 32-bit window
   is too small, the 64-bit BARs (not USB controllers') go above 4 GiB, 1 GiB aligned.
6. Device set-up (pci_bios_init_device): the interrupt line of each pin (PIIX or ICH9 routing: 10, 10, 11,
   11 rotated by slot and by the slots of the bridges above), the chipset registers (PIRQ routing, PM and
   SMBus bases, IDE decode, MMCONFIG), then I/O, memory and SERR# on in the command register (and SERR#
   forwarding on bridges); the first VGA device is enabled behind its bridges.

Option ROMs are copied with the ROM BAR enabled for a moment and left at its address, disabled, as SeaBIOS
leaves them. The boot drivers' later writes (bus mastering, virtio status) are not modelled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

ReadFn = Callable[[int, int, int, int], int]
WriteFn = Callable[[int, int, int, int, int], None]

IO, MEM, PREFMEM = 0, 1, 2
CLASS_BRIDGE_PCI = 0x0604
#: what SeaBIOS's drivers boot from by vendor and device: virtio-blk and virtio-scsi (transitional and
#: modern), the LSI MegaRAID SAS 1078 (megasas)
BOOT_DRIVEN = frozenset({(0x1AF4, 0x1001), (0x1AF4, 0x1004), (0x1AF4, 0x1042), (0x1AF4, 0x1048), (0x1000, 0x0060)})
#: network cards iPXE drives without DMA (ne2k_pci): their option ROM leaves bus mastering off (measured)
PIO_NICS = frozenset({(0x10EC, 0x8029)})
CLASS_SERIAL_USB = 0x0C03
CLASS_STORAGE_IDE = 0x0101
CLASS_DISPLAY_VGA = 0x0300
DEVICE_MEM_MIN = 1 << 12
BRIDGE_MEM_MIN = 1 << 21
BRIDGE_IO_MIN = 0x1000
PCIMEM_END = 0xFEC00000
PCI_IRQS = (10, 10, 11, 11)
I440FX_SMRAM = 0x72
ACPI_PM_BASE = 0x600  # QEMU gives SeaBIOS an ACPI table loader: the PM block moves to 0x600
ROM_SLOT = 6
CAP_ID_EXP, CAP_ID_SHPC, CAP_ID_VNDR = 0x10, 0x0C, 0x09
#: Red Hat's resource reserve capability (QEMU's pcie-root-port and pci-bridge)
REDHAT_VENDOR, REDHAT_ROOT_PORT, REDHAT_BRIDGE = 0x1B36, 0x000C, 0x0001
RES_BUS, RES_IO, RES_MEM, RES_PREF32, RES_PREF64, RES_CAP_SIZE = 4, 8, 16, 20, 24, 32


@dataclass(eq=False)
class Dev:
    bdf: int
    vendor: int
    device: int
    cls: int
    header_type: int
    secondary_bus: int
    parent: Dev | None

    @property
    def bus(self) -> int:
        return self.bdf >> 8

    @property
    def slot(self) -> int:
        return (self.bdf >> 3) & 0x1F


@dataclass(eq=False)
class Entry:
    dev: Dev
    bar: int  # -1: a bridge window
    size: int
    align: int
    kind: int
    is64: bool


@dataclass
class Region:
    base: int = 0
    entries: list[Entry] = field(default_factory=list)

    def add(self, entry: Entry) -> None:
        """pci_region_create_entry: before the first entry of smaller alignment, or of equal alignment
        and smaller size."""
        for i, pos in enumerate(self.entries):
            if pos.align < entry.align or (pos.align == entry.align and pos.size < entry.size):
                self.entries.insert(i, entry)
                return
        self.entries.append(entry)

    @property
    def align(self) -> int:
        return self.entries[0].align if self.entries else 1

    @property
    def total(self) -> int:
        return sum(e.size for e in self.entries)


def _align(value: int, align: int) -> int:
    return (value + align - 1) & ~(align - 1)


def _align_down(value: int, align: int) -> int:
    return value & ~(align - 1)


class SeaBios:
    """One run of pci_setup over a host bridge's configuration cycles."""

    def __init__(self, kind: str, read: ReadFn, write: WriteFn, ram_below_4g: int, ram_above_4g: int) -> None:
        self.kind = kind
        self._read = read
        self._write = write
        self.ram_below_4g = ram_below_4g
        self.ram_above_4g = ram_above_4g
        self.devices: list[Dev] = []
        self.max_bus = 0
        self.pcimem_start = ram_below_4g
        self.io_low_end = 0xA000

    # --- configuration cycles ----------------------------------------------------------------------

    def rd(self, bdf: int, addr: int, size: int) -> int:
        return self._read(bdf >> 8, bdf & 0xFF, addr, size)

    def wr(self, bdf: int, addr: int, size: int, value: int) -> None:
        self._write(bdf >> 8, bdf & 0xFF, addr, size, value & ((1 << (8 * size)) - 1))

    def maskw(self, bdf: int, addr: int, off: int, on: int) -> None:
        self.wr(bdf, addr, 2, (self.rd(bdf, addr, 2) & ~off) | on)

    def bdfs(self, bus: int) -> list[int]:
        """foreachbdf: the present functions of ``bus`` (past function 0 only if it is multifunction);
        read lazily, so a write made while walking (a bridge's bus numbers) is seen by the walk."""
        out: list[int] = []
        bdf = bus << 8
        while bdf >> 8 == bus:
            vendor = self.rd(bdf, 0, 2)
            if vendor not in (0, 0xFFFF):
                out.append(bdf)
                if bdf & 7 == 0 and not self.rd(bdf, 0x0E, 1) & 0x80:
                    bdf += 8
                    continue
                bdf += 1
            else:
                bdf += 8 if bdf & 7 == 0 else 1
        return out

    def find_cap(self, bdf: int, cap_id: int, start: int = 0) -> int:
        if not self.rd(bdf, 0x06, 2) & 0x10:
            return 0
        cap = self.rd(bdf, start + 1, 1) if start else self.rd(bdf, 0x34, 1)
        for _ in range(256):
            if not cap:
                return 0
            if self.rd(bdf, cap, 1) == cap_id:
                return cap
            cap = self.rd(bdf, cap + 1, 1)
        return 0

    def reserve_cap(self, bdf: int) -> int:
        """pci_find_resource_reserve_capability."""
        if self.rd(bdf, 0, 2) != REDHAT_VENDOR or self.rd(bdf, 2, 2) not in (REDHAT_ROOT_PORT, REDHAT_BRIDGE):
            return 0
        cap = 0
        while True:
            cap = self.find_cap(bdf, CAP_ID_VNDR, cap)
            if not cap or self.rd(bdf, cap + 3, 1) == 1:
                break
        if cap and self.rd(bdf, cap + 2, 1) < RES_CAP_SIZE:
            return 0
        return cap

    # --- pci_setup -----------------------------------------------------------------------------------

    def run(self) -> None:
        if self.rd(0, 0, 2) in (0, 0xFFFF):
            return
        counter = [0]
        self.init_bus(0, counter)
        self.probe()
        self.platform()
        busses = [[Region() for _ in range(3)] for _ in range(self.max_bus + 1)]
        bus_dev: dict[int, Dev] = {}
        self.check_devices(busses, bus_dev)
        self.map_devices(busses, bus_dev)
        for dev in self.devices:
            self.init_device(dev)
        self.enable_vga()
        self.smm()
        self.boot_drivers()

    def boot_drivers(self) -> None:
        """pci_enable_busmaster by the boot drivers: SeaBIOS's for the controllers it boots from (virtio-blk
        and virtio-scsi, legacy or modern; USB host controllers; AHCI; NVMe; megasas) and iPXE in a network
        card's option ROM for its card (measured for every modelled PCI type alone: a card without a ROM,
        and ne2k_pci with one, stay as the PCI set-up left them). Nothing else of what they do (virtio
        status, queues, the controllers' registers) is modelled."""
        for dev in self.devices:
            ident = (dev.vendor, dev.device)
            driven = ident in BOOT_DRIVEN or dev.cls in (CLASS_SERIAL_USB, 0x0106, 0x0108)  # USB, AHCI, NVMe
            if dev.cls >> 8 == 0x02 and dev.header_type & 0x7F == 0 and ident not in PIO_NICS:
                driven = bool(self.rd(dev.bdf, 0x30, 4) & ~0x7FF)  # a ROM the firmware placed
            if driven:
                self.maskw(dev.bdf, 0x04, 0, 0x0004)

    def smm(self) -> None:
        """piix4_apmc_smm_setup's SMRAM writes on the i440FX: the SMM window opened, then closed with SMRAM
        on (G_SMRAME). Q35's (ich9_lpc_apmc_smm_setup) are not modelled."""
        for dev in self.devices:
            if (dev.vendor, dev.device) == (0x8086, 0x1237):
                self.wr(dev.bdf, I440FX_SMRAM, 1, 0x02 | 0x48)
                self.wr(dev.bdf, I440FX_SMRAM, 1, 0x02 | 0x08)

    def init_bus(self, bus: int, counter: list[int]) -> None:
        """pci_bios_init_bus_rec."""
        for bdf in self.bdfs(bus):
            if self.rd(bdf, 0x0A, 2) == CLASS_BRIDGE_PCI:
                self.wr(bdf, 0x19, 1, 255)
                self.wr(bdf, 0x1A, 1, 0)
        for bdf in self.bdfs(bus):
            if self.rd(bdf, 0x0A, 2) != CLASS_BRIDGE_PCI:
                continue
            if self.rd(bdf, 0x18, 1) != bus:
                self.wr(bdf, 0x18, 1, bus)
            secbus = self.rd(bdf, 0x19, 1)
            counter[0] += 1
            if counter[0] != secbus:
                secbus = counter[0]
                self.wr(bdf, 0x19, 1, secbus)
            subbus = self.rd(bdf, 0x1A, 1)
            self.wr(bdf, 0x1A, 1, 255)
            self.init_bus(secbus, counter)
            if subbus != counter[0]:
                res_bus = counter[0]
                cap = self.reserve_cap(bdf)
                if cap:
                    reserve = self.rd(bdf, cap + RES_BUS, 4)
                    if reserve != 0xFFFFFFFF:
                        res = reserve & 0xFF
                        if (res + secbus) & 0xFF < secbus or (res + secbus) & 0xFF < res:
                            res = 0
                        # as SeaBIOS has it: a reserve that reaches no further leaves the bare count
                        res_bus = (secbus + res) & 0xFF if secbus + res > counter[0] else res
                subbus = counter[0] = res_bus
            self.wr(bdf, 0x1A, 1, subbus)

    def probe(self) -> None:
        """pci_probe_devices (one root bus)."""
        parents: dict[int, Dev] = {}
        bus = -1
        while bus < 0xFF and bus < self.max_bus:
            bus += 1
            for bdf in self.bdfs(bus):
                parent = parents.get(bus)
                if parent is None and bus > self.max_bus:
                    self.max_bus = bus
                vendev = self.rd(bdf, 0, 4)
                header = self.rd(bdf, 0x0E, 1)
                secbus = self.rd(bdf, 0x19, 1) if header & 0x7F in (1, 2) else 0
                dev = Dev(bdf, vendev & 0xFFFF, vendev >> 16, self.rd(bdf, 0x08, 4) >> 16, header, secbus, parent)
                self.devices.append(dev)
                if header & 0x7F in (1, 2):
                    if secbus > bus and secbus not in parents:
                        parents[secbus] = dev
                    self.max_bus = max(self.max_bus, secbus)

    def platform(self) -> None:
        """pci_bios_init_platform: the host bridge places the 32-bit window (and q35's MMCONFIG)."""
        for dev in self.devices:
            if (dev.vendor, dev.device) == (0x8086, 0x1237):  # i440FX
                if self.ram_below_4g <= 0x80000000:
                    self.pcimem_start = 0x80000000
                elif self.ram_below_4g <= 0xC0000000:
                    self.pcimem_start = 0xC0000000
            elif (dev.vendor, dev.device) == (0x8086, 0x29C0):  # Q35 MCH
                self.wr(dev.bdf, 0x60, 4, 0)
                self.wr(dev.bdf, 0x64, 4, 0)
                self.wr(dev.bdf, 0x60, 4, 0xB0000000 | 1)
                self.pcimem_start = 0xB0000000 + (256 << 20)
                self.io_low_end = 0x10000 if ACPI_PM_BASE < 0x1000 else ACPI_PM_BASE

    def bar_offset(self, dev: Dev, bar: int) -> int:
        if bar != ROM_SLOT:
            return 0x10 + 4 * bar
        return 0x38 if dev.header_type & 0x7F == 1 else 0x30

    def get_bar(self, dev: Dev, bar: int) -> tuple[int, int, bool]:
        """pci_bios_get_bar: (kind, size, is64) by writing all ones and reading back."""
        ofs = self.bar_offset(dev, bar)
        old = self.rd(dev.bdf, ofs, 4)
        is64 = False
        kind = MEM
        if bar == ROM_SLOT:
            mask = 0xFFFFF800
            self.wr(dev.bdf, ofs, 4, mask)
        else:
            if old & 1:
                mask, kind = 0xFFFFFFFC, IO
            else:
                mask = 0xFFFFFFF0
                if old & 8:
                    kind = PREFMEM
                is64 = old & 6 == 4
            self.wr(dev.bdf, ofs, 4, 0xFFFFFFFF)
        val = self.rd(dev.bdf, ofs, 4)
        self.wr(dev.bdf, ofs, 4, old)
        if is64:
            hold = self.rd(dev.bdf, ofs + 4, 4)
            self.wr(dev.bdf, ofs + 4, 4, 0xFFFFFFFF)
            high = self.rd(dev.bdf, ofs + 4, 4)
            self.wr(dev.bdf, ofs + 4, 4, hold)
            val |= high << 32
            mask |= 0xFFFFFFFF << 32
            size = (~(val & mask) + 1) & 0xFFFFFFFFFFFFFFFF
        else:
            size = (~(val & mask) + 1) & 0xFFFFFFFF
        return kind, size, is64

    def has_region(self, dev: Dev, kind: int) -> bool:
        """pci_bridge_has_region (writes 0xff to the window's base as a side effect)."""
        if kind == MEM:
            return True
        base = 0x1C if kind == IO else 0x24
        self.wr(dev.bdf, base, 1, 0xFF)
        return self.rd(dev.bdf, base, 1) != 0

    def hotplug_support(self, dev: Dev, pcie_cap: int) -> int:
        """pci_bus_hotplug_support: 1 for a PCIe downstream/root port with a slot, 2 for SHPC, else 0."""
        if pcie_cap:
            flags = self.rd(dev.bdf, pcie_cap + 2, 2)
            port_type = (flags & 0xF0) >> 4
            if port_type != 0x7:  # not a PCIe-to-PCI bridge
                return 1 if port_type in (0x4, 0x6) and flags & 0x100 else 0
        return 2 if self.find_cap(dev.bdf, CAP_ID_SHPC) else 0

    def bridge_is64(self, region: Region, dev: Dev, kind: int) -> bool:
        if kind != PREFMEM:
            return False
        pmem = self.rd(dev.bdf, 0x24, 4)
        if not pmem:
            self.wr(dev.bdf, 0x24, 4, 0xFFF0FFF0)
            pmem = self.rd(dev.bdf, 0x24, 4)
            self.wr(dev.bdf, 0x24, 4, 0)
        if pmem & 0xF != 1:
            return False
        return all(e.is64 for e in region.entries)

    def reserve_size(self, bdf: int, cap: int, kind: int) -> int:
        """What the resource reserve capability asks for ``kind`` (0: nothing)."""
        if kind == IO:
            value = self.rd(bdf, cap + RES_IO, 4) | self.rd(bdf, cap + RES_IO + 4, 4) << 32
            return 0 if value == (1 << 64) - 1 else value
        if kind == MEM:
            value = self.rd(bdf, cap + RES_MEM, 4)
            return 0 if value == 0xFFFFFFFF else value
        p32 = self.rd(bdf, cap + RES_PREF32, 4)
        p64 = self.rd(bdf, cap + RES_PREF64, 4) | self.rd(bdf, cap + RES_PREF64 + 4, 4) << 32
        if p32 != 0xFFFFFFFF and p64 == (1 << 64) - 1:
            return p32
        if p32 == 0xFFFFFFFF and p64 != (1 << 64) - 1:
            return p64
        return 0

    def check_devices(self, busses: list[list[Region]], bus_dev: dict[int, Dev]) -> None:
        for dev in self.devices:
            if dev.cls == CLASS_BRIDGE_PCI:
                bus_dev[dev.secondary_bus] = dev
            regions = busses[dev.bus] if dev.bus in bus_dev else busses[0]
            i = 0
            while i <= ROM_SLOT:
                if dev.cls == CLASS_BRIDGE_PCI and 2 <= i < ROM_SLOT:
                    i += 1
                    continue
                kind, size, is64 = self.get_bar(dev, i)
                if size:
                    if kind != IO and size < DEVICE_MEM_MIN:
                        size = DEVICE_MEM_MIN
                    regions[kind].add(Entry(dev, i, size, size, kind, is64))
                i += 2 if size and is64 else 1
        for secondary in range(self.max_bus, 0, -1):
            bridge = bus_dev.get(secondary)
            if bridge is None:
                continue
            self.bridge_windows(busses, bus_dev, secondary, bridge)

    def bridge_windows(self, busses: list[list[Region]], bus_dev: dict[int, Dev], secondary: int, dev: Dev) -> None:
        """A bridge's windows, sized from its bus, as entries of its parent bus."""
        parent = busses[dev.bus] if dev.bus in bus_dev else busses[0]
        pcie_cap = self.find_cap(dev.bdf, CAP_ID_EXP)
        qemu_cap = self.reserve_cap(dev.bdf)
        hotplug = self.hotplug_support(dev, pcie_cap)
        for kind in (IO, MEM, PREFMEM):
            align = BRIDGE_IO_MIN if kind == IO else BRIDGE_MEM_MIN
            if not self.has_region(dev, kind):
                continue
            size = self.reserve_size(dev.bdf, qemu_cap, kind) if qemu_cap else 0
            own = busses[secondary][kind]
            align = max(align, own.align)
            total = own.total
            optional = hotplug == 1 and bool(pcie_cap) and kind == IO
            if not total and hotplug and not optional:
                total = align
            if size > total:
                if kind != IO:
                    size = _align(size, align)
            else:
                size = _align(total, align)
            parent[kind].add(Entry(dev, -1, size, align, kind, self.bridge_is64(own, dev, kind)))

    def root_mem(self, root: list[Region]) -> bool:
        """pci_bios_init_root_regions_mem: False when the 32-bit window is too small."""
        r_end, r_start = root[PREFMEM], root[MEM]
        if r_start.align < r_end.align:
            r_end, r_start = r_start, r_end
        r_end.base = _align_down(PCIMEM_END - r_end.total, r_end.align)
        r_start.base = _align_down(r_end.base - r_start.total, r_start.align)
        return self.pcimem_start <= r_start.base <= PCIMEM_END

    def map_devices(self, busses: list[list[Region]], bus_dev: dict[int, Dev]) -> None:
        root = busses[0]
        io_sum = root[IO].total
        if io_sum < 0x4000:
            root[IO].base = 0xC000
        elif io_sum < self.io_low_end - 0x1000:
            root[IO].base = 0x1000
        else:
            return  # SeaBIOS panics: out of I/O address space
        if not self.root_mem(root):
            high = [Region(), Region()]
            for kind, r64 in ((MEM, high[0]), (PREFMEM, high[1])):
                keep: list[Entry] = []
                for e in root[kind].entries:
                    (r64.entries if e.is64 and e.dev.cls != CLASS_SERIAL_USB else keep).append(e)
                root[kind].entries = keep
            if not self.root_mem(root):
                return  # SeaBIOS panics: out of 32-bit address space
            base = _align(max(0x100000000 + self.ram_above_4g, 0), high[0].align)
            high[0].base = _align(base, 1 << 30)
            high[1].base = _align(_align(high[0].base + high[0].total, high[1].align), 1 << 30)
            for r64 in high:
                self.map_entries(busses, r64)
        for bus in range(self.max_bus + 1):
            for kind in (IO, MEM, PREFMEM):
                self.map_entries(busses, busses[bus][kind])

    def map_entries(self, busses: list[list[Region]], region: Region) -> None:
        for entry in region.entries:
            addr = region.base
            region.base += entry.size
            if entry.bar == -1:
                busses[entry.dev.secondary_bus][entry.kind].base = addr
            self.map_one(entry, addr)
        region.entries = []

    def map_one(self, entry: Entry, addr: int) -> None:
        bdf = entry.dev.bdf
        if entry.bar >= 0:
            ofs = self.bar_offset(entry.dev, entry.bar)
            self.wr(bdf, ofs, 4, addr)
            if entry.is64:
                self.wr(bdf, ofs + 4, 4, addr >> 32)
            return
        limit = addr + entry.size - 1
        if entry.kind == IO:
            self.wr(bdf, 0x1C, 1, addr >> 8)
            self.wr(bdf, 0x30, 2, 0)
            self.wr(bdf, 0x1D, 1, limit >> 8)
            self.wr(bdf, 0x32, 2, 0)
        elif entry.kind == MEM:
            self.wr(bdf, 0x20, 2, addr >> 16)
            self.wr(bdf, 0x22, 2, limit >> 16)
        else:
            self.wr(bdf, 0x24, 2, addr >> 16)
            self.wr(bdf, 0x26, 2, limit >> 16)
            self.wr(bdf, 0x28, 4, addr >> 32)
            self.wr(bdf, 0x2C, 4, limit >> 32)

    # --- pci_bios_init_device ------------------------------------------------------------------------

    def slot_irq(self, dev: Dev, pin: int) -> int:
        addend = 0
        top = dev
        while top.parent is not None:
            addend += top.slot
            top = top.parent
        if self.kind == "q35":
            return PCI_IRQS[(pin - 1 + addend + (top.slot if top.slot <= 24 else 0)) & 3]
        return PCI_IRQS[(pin - 1 + addend + top.slot - 1) & 3]

    def init_device(self, dev: Dev) -> None:
        bdf = dev.bdf
        pin = self.rd(bdf, 0x3D, 1)
        if pin:
            self.wr(bdf, 0x3C, 1, self.slot_irq(dev, pin))
        ident = (dev.vendor, dev.device)
        if ident in ((0x8086, 0x7000), (0x8086, 0x7110)):  # PIIX3/PIIX4 ISA bridge: PIRQ routing
            for i, irq in enumerate(PCI_IRQS):
                self.wr(bdf, 0x60 + i, 1, irq)
        elif ident == (0x8086, 0x2918):  # ICH9 LPC
            for i, irq in enumerate(PCI_IRQS):
                self.wr(bdf, 0x60 + i, 1, irq)
                self.wr(bdf, 0x68 + i, 1, irq)
            self.wr(bdf, 0x40, 4, ACPI_PM_BASE | 1)
            self.wr(bdf, 0x44, 1, 0x80)
            self.wr(bdf, 0xF0, 4, 0xFED1C000 | 1)
        elif ident in ((0x8086, 0x7010), (0x8086, 0x7111)) and dev.cls == CLASS_STORAGE_IDE:
            self.wr(bdf, 0x40, 2, 0x8000)
            self.wr(bdf, 0x42, 2, 0x8000)
        elif dev.cls == CLASS_STORAGE_IDE:
            for bar, port in enumerate((0x1F0, 0x3F4, 0x170, 0x374)):
                self.wr(bdf, 0x10 + 4 * bar, 4, port)
        elif ident == (0x8086, 0x7113):  # PIIX4 PM
            self.wr(bdf, 0x3C, 1, 9)
            self.wr(bdf, 0x40, 4, ACPI_PM_BASE | 1)
            self.wr(bdf, 0x80, 1, 0x01)
            self.wr(bdf, 0x90, 4, (ACPI_PM_BASE + 0x100) | 1)
            self.wr(bdf, 0xD2, 1, 0x09)
        elif ident == (0x8086, 0x2930):  # ICH9 SMBus
            self.wr(bdf, 0x20, 4, (ACPI_PM_BASE + 0x100) | 1)
            self.wr(bdf, 0x40, 1, 0x01)
        self.maskw(bdf, 0x04, 0, 0x0001 | 0x0002 | 0x0100)
        if dev.header_type & 0x7F == 1:
            self.maskw(bdf, 0x3E, 0, 0x0002)

    def enable_vga(self) -> None:
        """pci_enable_default_vga."""
        vgas = [d for d in self.devices if d.cls == CLASS_DISPLAY_VGA]
        for dev in vgas:
            cmd = self.rd(dev.bdf, 0x04, 2)
            up = dev.parent
            ok = cmd & 3 == 3
            while ok and up is not None:
                ok = bool(self.rd(up.bdf, 0x3E, 1) & 0x08)
                up = up.parent
            if ok:
                return
        if not vgas:
            return
        dev = vgas[0]
        self.maskw(dev.bdf, 0x04, 0, 3)
        up = dev.parent
        while up is not None:
            self.maskw(up.bdf, 0x3E, 0, 0x08)
            self.maskw(up.bdf, 0x04, 0, 3)
            up = up.parent
