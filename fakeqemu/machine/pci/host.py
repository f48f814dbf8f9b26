"""The PCI host bridge as a guest reaches it: configuration mechanism #1 (0xcf8 address, 0xcfc data; QEMU's
pci_host_config/data handlers), q35's MMCONFIG window (enabled and placed by the MCH's PCIEXBAR register),
and the BARs and bridge windows that decode guest I/O and memory accesses once a guest has programmed them.

Bus numbers are the ones in the bridges' configuration space (0 until firmware or a test writes them),
so a function behind a bridge answers only after its bus numbers are set, as in QEMU.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from fakeqemu.machine.core.ioport import IoPorts, MemorySpace, PortRegion
from fakeqemu.machine.core.pciconfig import UNMAPPED
from fakeqemu.machine.core.qdev import PCIBus, PCIDevice, is_pcie_port
from fakeqemu.machine.core.qom import Tree
from fakeqemu.machine.pci import chipset
from fakeqemu.machine.pci.function import PciFunction, make_function
from fakeqemu.machine.pci.native import PcieSlot

CONFIG_ADDRESS = 0xCF8
CONFIG_DATA = 0xCFC
#: q35's MCH: PCIEXBAR (64 bits) at 0x60 of 00.0
PCIEXBAR = 0x60


class PciHost:
    __slots__ = ("config_reg", "kind", "memory", "pending", "root_bus", "tree")

    def __init__(self, kind: str, root_bus: PCIBus, tree: Tree | None = None) -> None:
        self.kind = kind
        self.root_bus = root_bus
        #: the VM's QOM tree, for the registers whose writes change QOM properties (fakeqemu.machine.pci.chipset)
        self.tree = tree
        self.config_reg = 0
        #: the firmware's PCI set-up, due since the vCPUs started: done before PCI is next looked at
        self.pending: Callable[[], None] | None = None
        #: the guest-physical space devices' MSI-X messages are stored into
        self.memory: MemorySpace | None = None

    def settle(self) -> None:
        """Carry out what the firmware has done by now (see Machine.run_firmware)."""
        work = self.pending
        if work is not None:
            self.pending = None
            work()

    def install(self, ioports: IoPorts, memory: MemorySpace) -> None:
        self.memory = memory
        ioports.map(PortRegion("pci-conf-idx", CONFIG_ADDRESS, 1, self._idx_read, self._idx_write))
        ioports.map(PortRegion("pci-conf-data", CONFIG_DATA, 4, self._data_read, self._data_write))
        ioports.add_resolver(lambda port: self._bar_region(port, io=True))
        memory.add_resolver(self._memory_region)

    # --- functions ----------------------------------------------------------------------------------

    def function(self, dev: PCIDevice) -> PciFunction:
        fn = dev.pci_function
        if fn is None:
            bus = dev.parent_bus
            behind_port = bus is not None and is_pcie_port(bus, self.root_bus)
            fn = dev.pci_function = make_function(self.kind, dev, behind_port, bus is self.root_bus)
            fn.model = dev.model
            if hasattr(dev.model, "realize_config"):
                dev.model.realize_config(fn.config)  # the BARs and registers its properties change
            fn.attach_msix(self.memory)
        if dev.type == "pcie-root-port" and dev.child_buses:
            bus = dev.child_buses[0]
            if not isinstance(bus, PCIBus) or not isinstance(bus.hotplug_handler, PcieSlot):  # ACPI's slot
                fn.sync_slot(bus.devices)
        return fn

    def find(self, bus_number: int, devfn: int) -> PCIDevice | None:
        """pci_find_device: the function at ``devfn`` on the bus numbered ``bus_number``."""
        bus: PCIBus | None = self.root_bus
        while bus is not None:
            if bus_number == 0 and bus is self.root_bus:
                return bus.find_devfn(devfn)
            nxt = None
            for dev in bus.pci_devices:
                if not dev.pci_child_buses or dev.pci_function is None:
                    continue  # a bridge nobody has programmed has bus numbers 0
                _, secondary, subordinate = dev.pci_function.config.bus_numbers()
                if secondary == bus_number and secondary:
                    return dev.pci_child_buses[0].find_devfn(devfn)
                if secondary < bus_number <= subordinate:
                    nxt = dev.pci_child_buses[0]
                    break
            bus = nxt
        return None

    def reset(self) -> None:
        self.config_reg = 0
        for dev in self._all(self.root_bus):
            if dev.pci_function is not None:
                dev.pci_function.reset()

    def _all(self, bus: PCIBus) -> Iterator[PCIDevice]:
        for dev in bus.pci_devices:
            yield dev
            for sub in dev.pci_child_buses:
                yield from self._all(sub)

    # --- configuration access -----------------------------------------------------------------------

    def config_read(self, bus_number: int, devfn: int, addr: int, size: int) -> int:
        self.settle()
        dev = self.find(bus_number, devfn)
        if dev is None:
            return (1 << (8 * size)) - 1
        return self.function(dev).config_read(addr, size)

    def config_write(self, bus_number: int, devfn: int, addr: int, size: int, value: int) -> None:
        self.settle()
        dev = self.find(bus_number, devfn)
        if dev is not None:
            self.function(dev).config_write(addr, size, value)
            if self.tree is not None:
                chipset.config_written(self.tree, dev, addr, size)

    def _idx_read(self, offset: int, size: int) -> int:
        return self.config_reg  # a narrower read gets its low bytes (measured)

    def _idx_write(self, offset: int, size: int, value: int) -> None:
        if size == 4:  # pci_host_config_write takes only a whole dword at 0xcf8
            self.config_reg = value

    def _decode(self, offset: int, size: int) -> tuple[int, int, int] | None:
        reg = self.config_reg
        if not reg & 0x80000000:
            return None
        addr = (reg | offset) & 0xFF
        if addr + size > 0x100:
            return None
        return (reg >> 16) & 0xFF, (reg >> 8) & 0xFF, addr

    def _data_read(self, offset: int, size: int) -> int:
        where = self._decode(offset, size)
        if where is None:
            return (1 << (8 * size)) - 1
        return self.config_read(*where, size)

    def _data_write(self, offset: int, size: int, value: int) -> None:
        where = self._decode(offset, size)
        if where is not None:
            self.config_write(*where, size, value)

    # --- MMCONFIG (q35) -----------------------------------------------------------------------------

    def _mmcfg(self) -> tuple[int, int] | None:
        """(base, length) of the enabled MMCONFIG window."""
        if self.kind != "q35":
            return None
        host = self.root_bus.find_devfn(0)
        if host is None or host.pci_function is None:
            return None
        bar = host.pci_function.config.read(PCIEXBAR, 8)
        if not bar & 1:
            return None
        length = {0: 256 << 20, 1: 128 << 20, 2: 64 << 20}.get((bar >> 1) & 3)
        if length is None:
            return None
        return bar & ~(length - 1) & 0xFFFFFFFFF, length

    # --- BARs -----------------------------------------------------------------------------------------

    def _memory_region(self, addr: int) -> PortRegion | None:
        self.settle()
        mm = self._mmcfg()
        if mm is not None and mm[0] <= addr < mm[0] + mm[1]:
            return PortRegion(
                "pcie-mmcfg",
                mm[0],
                mm[1],
                lambda off, size: self.config_read(off >> 20, (off >> 12) & 0xFF, off & 0xFFF, size),
                lambda off, size, v: self.config_write(off >> 20, (off >> 12) & 0xFF, off & 0xFFF, size, v),
            )
        return self._bar_region(addr, io=False)

    def _bar_region(self, addr: int, io: bool) -> PortRegion | None:
        self.settle()
        return self._search(self.root_bus, addr, io)

    def _search(self, bus: PCIBus, addr: int, io: bool) -> PortRegion | None:
        for dev in bus.pci_devices:
            fn = dev.pci_function
            if fn is None:
                continue  # never touched by the guest: nothing programmed
            for bar in fn.config.bars():
                if bar.io == io and bar.address != UNMAPPED and bar.address <= addr < bar.address + bar.size:
                    return _bar_port(fn, bar.index, bar.address, bar.size)
            if dev.pci_child_buses and fn.config.is_bridge:
                for w_io, base, limit in fn.config.windows():
                    if w_io == io and base <= addr <= limit:
                        found = self._search(dev.pci_child_buses[0], addr, io)
                        if found is not None:
                            return found
        return None


def _bar_port(fn: PciFunction, index: int, base: int, size: int) -> PortRegion:
    return PortRegion(
        f"bar{index}",
        base,
        size,
        lambda off, n: fn.bar_read(index, off, n),
        lambda off, n, v: fn.bar_write(index, off, n, v),
    )
