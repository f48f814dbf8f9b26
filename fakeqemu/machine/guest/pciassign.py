"""What the guest model's OS does with a device ACPI hotplug brings in (the ``up`` bits its GPE handler reads),
after the firmware has set PCI up: a Linux-like assignment, fakeqemu's own (there is no Linux guest to
compare with), documented in the README.

For each function in the new slot, every BAR without an address gets the lowest free address of its type in
the windows of the bus it sits on, naturally aligned, largest alignment first (Linux's pdev_sort_resources
and allocate_resource, bottom-up): on the root bus I/O from 0x1000 (Linux's PCIBIOS_MIN_IO; past ISA
aliases: a start with bits 8-9 set moves to the next 0x400) and memory from Linux's ``pci_mem_start`` (the
start of the hole above RAM rounded up, 256 MiB for small guests) to 0xfebfffff, both below what the
firmware placed there already; behind a bridge or root port, inside its windows. A BAR that does not fit
stays unassigned (Linux: ``no space``), so does the ROM BAR (Linux maps ROMs only when a driver asks).
Then the interrupt line (the firmware's routing, which the guest's ACPI _PRT gives too) and I/O and
memory decoding, as pci_enable_device does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fakeqemu.machine.core.qdev import PCIBus, PCIDevice
from fakeqemu.machine.pci.firmware import Dev, SeaBios

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

IO_MIN = 0x1000
MEM_END = 0xFEBFFFFF


def _bus_number(bus: PCIBus) -> int:
    parent = bus.parent_device
    fn = parent.pci_function if isinstance(parent, PCIDevice) else None
    return 0 if fn is None else fn.config.bus_numbers()[1]


def _pci_mem_start(machine: Machine) -> int:
    """Linux's e820__setup_pci_gap for the hole between RAM and the firmware's area below 4 GiB."""
    gap_start = min(machine.config.memory_mb << 20, 0x80000000 if machine.config.machine_type == "q35" else 0xC0000000)
    gap_size = 0xFEC00000 - gap_start
    round_to = 0x100000
    while (gap_size >> 4) > round_to:
        round_to += round_to
    return (gap_start + round_to) & -round_to


def _used(buses: list[PCIBus], skip: PCIDevice) -> list[tuple[bool, int, int]]:
    """What the functions on these buses decode now (BARs, bridge windows): (io, start, end)."""
    out: list[tuple[bool, int, int]] = []
    for bus in buses:
        for dev in bus.pci_devices:
            fn = dev.pci_function
            if dev is skip or fn is None:
                continue
            out += [(b.io, b.address, b.address + b.size - 1) for b in fn.config.bars() if b.address >= 0]
            if fn.config.is_bridge:
                out += [(io, base, limit) for io, base, limit in fn.config.windows() if base <= limit]
    return out


def _windows(machine: Machine, bus: PCIBus) -> list[tuple[str, int, int]]:
    """The windows a device on ``bus`` takes addresses from: (kind, start, end), kind io, mem or pref."""
    parent = bus.parent_device
    fn = parent.pci_function if isinstance(parent, PCIDevice) else None
    if fn is None:
        return [("io", IO_MIN, 0xFFFF), ("mem", _pci_mem_start(machine), MEM_END)]
    io, mem, pref = fn.config.ranges()
    return [("io", *io), ("pref", *pref), ("mem", *mem)]


def _fit(start: int, end: int, size: int, io: bool, used: list[tuple[bool, int, int]]) -> int | None:
    """The lowest ``size``-aligned free range in [start, end] (I/O clear of the ISA aliases)."""
    addr = (start + size - 1) & -size
    while addr + size - 1 <= end:
        if io and addr & 0x300:  # pcibios_align_resource
            addr = (((addr + 0x3FF) & ~0x3FF) + size - 1) & -size
            continue
        clash = next((u for u in used if u[0] == io and u[1] <= addr + size - 1 and addr <= u[2]), None)
        if clash is None:
            return addr
        addr = (clash[2] + size) & -size
    return None


def assign(machine: Machine, bus: PCIBus, devices: list[PCIDevice]) -> None:
    """The OS enables the functions of a hot-added slot on ``bus``."""
    host = machine.pci_host
    if host is None:
        return
    host.settle()
    number = _bus_number(bus)
    seabios = SeaBios(machine.config.machine_type, host.config_read, host.config_write, 0, 0)
    wins = _windows(machine, bus)
    for dev in devices:
        fn = host.function(dev)
        used = _used([bus], dev)
        bdf = number << 8 | dev.devfn
        for bar in sorted((b for b in fn.config.bars() if b.address < 0), key=lambda b: -b.size):
            kinds = ("io",) if bar.io else ("pref", "mem") if bar.prefetch else ("mem",)
            for kind in kinds:
                addr = next(
                    (a for k, lo, hi in wins if k == kind and (a := _fit(lo, hi, bar.size, bar.io, used)) is not None),
                    None,
                )
                if addr is None:
                    continue
                seabios.wr(bdf, 0x10 + 4 * bar.index, 4, addr)
                if bar.mem64:
                    seabios.wr(bdf, 0x14 + 4 * bar.index, 4, addr >> 32)
                used.append((bar.io, addr, addr + bar.size - 1))
                break
        pin = seabios.rd(bdf, 0x3D, 1)
        if pin:
            seabios.wr(bdf, 0x3C, 1, seabios.slot_irq(_dev(dev, bdf), pin))
        present = {b.io for b in fn.config.bars()}
        seabios.maskw(bdf, 0x04, 0, (1 if True in present else 0) | (2 if False in present else 0))


def _dev(dev: PCIDevice, bdf: int) -> Dev:
    """The firmware model's view of ``dev`` and the bridges above it (for its interrupt routing)."""
    parents: list[PCIDevice] = []
    bus = dev.parent_bus
    while isinstance(bus, PCIBus) and isinstance(bus.parent_device, PCIDevice):
        parents.append(bus.parent_device)
        bus = bus.parent_device.parent_bus
    node: Dev | None = None
    for up in reversed(parents):
        node = Dev(up.devfn, 0, 0, 0, 1, 0, node)
    return Dev(bdf, 0, 0, 0, 0, 0, node)
