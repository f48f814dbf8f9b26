"""ACPI PCI hotplug (QEMU's hw/acpi/pcihp.c) and the ACPI GPE0 block it signals through.

Register block (32-bit accesses only; measured on QEMU 7.2, base 0xae00 on pc/PIIX4, 0x0cc0 on q35/ICH9,
length 0x18)::

    +0x00 up      R   slots hot-added on the selected bus; a read clears it (bridge hotplug on, the default)
    +0x04 down    R   slots whose removal was requested (device_del); cleared by an eject of that slot
    +0x08 eject   W   write a slot mask: the lowest set bit's slot is ejected; reads 0
    +0x0c rmv     R   removable slots of the selected bus (computed at reset; ~0 for a bus with no devices)
    +0x10 sel     RW  bus selector (bsel); a value outside 0..255 makes every read return 0
    +0x14 aidx    RW  write a slot mask, then read the acpi-index of the device in that slot (read clears)

A byte/word or unaligned access is invalid for this block: reads give 0, writes are dropped (measured).

GPE0 (status then enable halves; writing 1 to a status bit clears it; byte granular): PIIX4 0xafe0 length 4,
ICH9 PMBASE+0x20 length 16 (PMBASE is programmed by firmware: 0x600 under SeaBIOS/OVMF; with no firmware
(qtest) the ICH9 block is unmapped). PCI hotplug raises status bit 1 (value 0x2) of GPE0. The SCI (GSI 9)
is high while any status bit is set with its enable bit.

bsel numbers are assigned once, at the first reset, like acpi_set_pci_info: depth first from the root bus,
children of a bus in QEMU's list order (most recently created bridge first), only to buses with a hotplug
handler, counting from 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from fakeqemu.machine.core.ioport import PortRegion
from fakeqemu.machine.core.qdev import PCIBus, PCIDevice
from fakeqemu.qmp.errors import GenericError

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine

PIIX4_PCIHP_BASE = 0xAE00
ICH9_PCIHP_BASE = 0x0CC0
PCIHP_LEN = 0x18
PIIX4_GPE_BASE = 0xAFE0
PIIX4_GPE_LEN = 4
ICH9_PMBASE_DEFAULT = 0x600
ICH9_GPE_OFFSET = 0x20
ICH9_GPE_LEN = 16
#: GPE0 status bit QEMU sets for PCI hotplug (ACPI_PCI_HOTPLUG_STATUS)
PCI_HOTPLUG_STATUS = 0x2
#: the SCI's GSI on both boards
SCI_IRQ = 9
MAX_HOTPLUG_BUS = 256

UP, DOWN, EJECT, RMV, SEL, AIDX = 0x00, 0x04, 0x08, 0x0C, 0x10, 0x14

BSEL_ERROR = "Unsupported bus. Bus doesn't have property 'acpi-pcihp-bsel' set"


def _bus_children(bus: PCIBus) -> list[PCIDevice]:
    """The bus's devices in QEMU's QTAILQ order: the most recently plugged first (bus_add_child inserts at
    the head). fakeqemu buses keep plug order, so this reverses it."""
    return list(reversed(bus.pci_devices))


def _buses_depth_first(root: PCIBus) -> Iterator[PCIBus]:
    """QEMU's pci_for_each_bus_depth_first: a bus, then each secondary bus below it, the bridge created
    last first (the child list is head-inserted)."""
    yield root
    for dev in _bus_children(root):
        for sec in dev.pci_child_buses:
            yield from _buses_depth_first(sec)


class Gpe:
    """An ACPI GPE0 block: status bytes then enable bytes, byte granular (impl size 1)."""

    def __init__(self, name: str, length: int) -> None:
        self.name = name
        self.half = length // 2
        self.sts = bytearray(self.half)
        self.en = bytearray(self.half)
        self.base: int | None = None
        #: called with the SCI level after each update (QEMU calls qemu_set_irq every time)
        self.sci_listeners: list[Callable[[int, int], None]] = []

    @property
    def length(self) -> int:
        return 2 * self.half

    def read(self, offset: int, size: int) -> int:
        value = 0
        for i in range(size):
            off = offset + i
            if off >= self.length:
                byte = 0xFF
            elif off < self.half:
                byte = self.sts[off]
            else:
                byte = self.en[off - self.half]
            value |= byte << (8 * i)
        return value

    def write(self, offset: int, size: int, value: int) -> None:
        for i in range(size):
            off = offset + i
            byte = (value >> (8 * i)) & 0xFF
            if off >= self.length:
                continue
            if off < self.half:
                self.sts[off] &= ~byte & 0xFF
            else:
                self.en[off - self.half] = byte
        self.update_sci()

    def raise_status(self, bits: int) -> None:
        self.sts[0] |= bits
        self.update_sci()

    @property
    def sci_level(self) -> int:
        return int(any(s & e for s, e in zip(self.sts, self.en, strict=True)))

    def update_sci(self) -> None:
        level = self.sci_level
        for fn in list(self.sci_listeners):
            fn(SCI_IRQ, level)

    def reset(self) -> None:
        self.sts[:] = bytes(self.half)
        self.en[:] = bytes(self.half)
        self.update_sci()

    def region(self, base: int) -> PortRegion:
        return PortRegion(self.name, base, self.length, self.read, self.write)


class AcpiPciHp:
    """One VM's ACPI PCI hotplug controller; also the HotplugHandler of the buses it serves."""

    def __init__(
        self,
        machine: Machine,
        root_bus: PCIBus,
        *,
        base: int,
        gpe: Gpe,
        root_hotplug: bool = True,
        bridge_hotplug: bool = True,
    ) -> None:
        self.machine = machine
        self.root = root_bus
        self.base = base
        self.gpe = gpe
        #: PIIX4 acpi-root-pci-hotplug (on for pc); ICH9 has no root bus hotplug
        self.root_hotplug = root_hotplug
        #: acpi-pci-hotplug-with-bridge-support (on for both boards in 7.2); off = QEMU's legacy PIIX mode
        self.bridge_hotplug = bridge_hotplug
        self.hotplug_select = 0  # a C int: 0xffffffff written reads as -1
        self.acpi_index = 0
        self.up: dict[int, int] = {}
        self.down: dict[int, int] = {}
        self.hotplug_enable: dict[int, int] = {}
        self.bsel_assigned = False
        #: called after the GPE is raised (machine.guest.on_gpe)
        self.notify: Callable[[], None] | None = None
        root_bus.hotplug_handler = self

    # --- the register block ------------------------------------------------------------------------

    def region(self) -> PortRegion:
        return PortRegion("acpi-pci-hotplug", self.base, PCIHP_LEN, self.read, self.write)

    def read(self, offset: int, size: int) -> int:
        if size != 4 or offset % 4:
            return 0  # invalid access size/alignment: MemoryRegionOps.valid is 4..4
        bsel = self.hotplug_select
        if bsel < 0 or bsel >= MAX_HOTPLUG_BUS:
            return 0
        trace = self.machine.trace
        if offset == UP:
            val = self.up.get(bsel, 0)
            if self.bridge_hotplug:
                self.up[bsel] = 0
            trace("acpi_pci_up_read", val)
            self._timeline(bsel, val, "read up")
            return val
        if offset == DOWN:
            val = self.down.get(bsel, 0)
            trace("acpi_pci_down_read", val)
            self._timeline(bsel, val, "read down")
            return val
        if offset == EJECT:
            trace("acpi_pci_features_read", 0)  # no feature defined yet
            return 0
        if offset == RMV:
            val = self.hotplug_enable.get(bsel, 0xFFFFFFFF)
            trace("acpi_pci_rmv_read", val)
            return val
        if offset == SEL:
            val = bsel & 0xFFFFFFFF
            trace("acpi_pci_sel_read", val)
            return val
        if offset == AIDX:
            val = self.acpi_index
            self.acpi_index = 0
            trace("acpi_pci_acpi_index_read", val)
            return val
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        if size != 4 or offset % 4:
            return
        self.acpi_index = 0
        if offset == AIDX:
            if not 0 <= self.hotplug_select < MAX_HOTPLUG_BUS:  # a uint32_t compare in QEMU
                return
            bus = self.find_bus(self.hotplug_select)
            if bus is None:
                return
            slot = _ctz32(value)
            for dev in _bus_children(bus):
                if dev.slot == slot:
                    self.acpi_index = dev.acpi_index
                    break
            self.machine.trace("acpi_pci_acpi_index_write", self.hotplug_select & 0xFFFFFFFF, slot, self.acpi_index)
        elif offset == EJECT:
            if not 0 <= self.hotplug_select < MAX_HOTPLUG_BUS:  # a uint32_t compare in QEMU
                return
            self.eject_slot(self.hotplug_select, value)
            self.machine.trace("acpi_pci_ej_write", offset, value)
        elif offset == SEL:
            if not self.bridge_hotplug:
                self.hotplug_select = 0
            else:
                self.hotplug_select = value - (1 << 32) if value & 0x80000000 else value
            self.machine.trace("acpi_pci_sel_write", offset, value)

    # --- buses --------------------------------------------------------------------------------------

    def buses(self) -> list[PCIBus]:
        return list(_buses_depth_first(self.root))

    def find_bus(self, bsel: int) -> PCIBus | None:
        """acpi_pcihp_find_hotplug_bus: the bus with this bsel (bsel 0 falls back to the root), if it is
        hotpluggable."""
        if bsel < 0:
            return None
        found = None
        for bus in self.buses():
            if bus.bsel == bsel:
                found = bus
        if found is None and bsel == 0:
            found = self.root
        if found is not None and found.hotplug_handler is None:
            return None
        return found

    def assign_bsel(self) -> None:
        """acpi_set_pci_info: once per VM lifetime, at the first reset."""
        if self.bsel_assigned:
            return
        self.bsel_assigned = True
        nxt = 0
        for bus in self.buses():
            if bus.hotplug_handler is None:
                continue
            parent = bus.parent_device
            if parent is not None and (not self.bridge_hotplug or parent.hotplugged):
                continue
            bus.bsel = nxt
            nxt += 1

    def known_bsels(self) -> list[int]:
        return sorted(b.bsel for b in self.buses() if b.bsel is not None)

    # --- QEMU's reset and eject ---------------------------------------------------------------------

    def _no_hotplug(self, dev: PCIDevice) -> bool:
        return (bool(dev.pci_child_buses) and not dev.hotplugged) or not dev.hotpluggable

    def eject_slot(self, bsel: int, slots: int) -> None:
        """acpi_pcihp_eject_slot: eject every hot-pluggable function in the lowest slot of ``slots``."""
        slot = _ctz32(slots)
        bus = self.find_bus(bsel)
        self.machine.trace("acpi_pci_eject_slot", bsel & 0xFFFFFFFF, slot)
        if bus is None or slot > 31:
            return
        bit = 1 << slot
        self.down[bsel] = self.down.get(bsel, 0) & ~bit
        self.up[bsel] = self.up.get(bsel, 0) & ~bit
        for dev in _bus_children(bus):
            if dev.slot == slot and not self._no_hotplug(dev):
                # QEMU 7.2 passes slot and bsel swapped to this trace point
                self.machine.trace("acpi_pci_unplug", slot, -1 if bus.bsel is None else bus.bsel)
                self.machine.timeline.add(
                    dev.id or dev.path, "eject written", f"by {self.machine.io_source}: bsel {bsel} slot {slot}"
                )
                dev.unparent()

    def reset(self) -> None:
        """acpi_pcihp_reset: assign bsel (first time), drop the root bus handler where the root is not
        hotpluggable, eject every slot with a pending removal and recompute the removable masks."""
        if not self.root_hotplug:
            self.root.hotplug_handler = None
        self.assign_bsel()
        for bsel in [b for b, d in self.down.items() if d]:
            while self.down.get(bsel):
                before = self.down[bsel]
                self.eject_slot(bsel, before)
                if self.down.get(bsel) == before:  # no such bus any more
                    self.down[bsel] = 0
        self.hotplug_enable.clear()  # absent entries read as ~0
        for bus in self.buses():
            sel = bus.bsel
            if sel is None or self.find_bus(sel) is not bus:
                continue
            mask = 0xFFFFFFFF
            for dev in _bus_children(bus):
                if self._no_hotplug(dev):
                    mask &= ~(1 << dev.slot)
            self.hotplug_enable[sel] = mask

    def _timeline(self, bsel: int, slots: int, step: str) -> None:
        """A step for each device in the ``slots`` bits of bus ``bsel``, naming who did it."""
        if not slots:
            return
        bus = self.find_bus(bsel)
        if bus is None:
            return
        for dev in bus.pci_devices:
            if slots & (1 << dev.slot):
                self.machine.timeline.add(dev.id or dev.path, step, f"by {self.machine.io_source}")

    def send_event(self) -> None:
        """acpi_send_event(ACPI_PCI_HOTPLUG_STATUS), then let the guest model see it."""
        self.gpe.raise_status(PCI_HOTPLUG_STATUS)
        if self.notify is not None:
            self.notify()

    # --- HotplugHandler ----------------------------------------------------------------------------

    def pre_plug(self, bus: PCIBus, dev: PCIDevice) -> None:
        if dev.hotplugged and bus.bsel is None:
            raise GenericError(BSEL_ERROR)

    def plug(self, bus: PCIBus, dev: PCIDevice, hotplugged: bool) -> None:
        if not hotplugged:
            # cold-plugged bridges: their secondary buses get the ACPI handler
            if self.bridge_hotplug:
                for sec in dev.pci_child_buses:
                    sec.hotplug_handler = self
            return
        bsel = bus.bsel
        if bsel is None:
            raise GenericError(BSEL_ERROR)
        self.up[bsel] = self.up.get(bsel, 0) | (1 << dev.slot)
        self.machine.timeline.add(dev.id or dev.path, "plugged", f"bsel {bsel} slot {dev.slot}: up bit set, GPE raised")
        self.send_event()

    def unplug_request(self, bus: PCIBus, dev: PCIDevice) -> None:
        bsel = bus.bsel
        self.machine.trace("acpi_pci_unplug_request", -1 if bsel is None else bsel, dev.slot)
        if bsel is None:
            raise GenericError(BSEL_ERROR)
        # qdev_unplug refuses a repeat while pending_deleted_expires_ms is 0 or in the future (virtual
        # clock ms); the virtual clock does not run before the guest first runs (-S) nor under qtest
        dev.pending_deleted_event = True
        dev.pending_deleted_expires_ms = self.virtual_clock_ms()
        self.down[bsel] = self.down.get(bsel, 0) | (1 << dev.slot)
        self.machine.timeline.add(
            dev.id or dev.path, "unplug requested", f"bsel {bsel} slot {dev.slot}: down bit set, GPE raised"
        )
        self.send_event()

    def bus_reset(self, bus: PCIBus) -> None:
        """Nothing per bus: pcihp resets with the machine (``reset``)."""

    def virtual_clock_ms(self) -> int:
        """QEMU_CLOCK_VIRTUAL in ms, as far as qdev_unplug can tell: 0 until the guest first runs; under
        the qtest accelerator (``-accel qtest``) only what qtest's clock_step/clock_set made it. Under
        KVM or TCG it runs with the VM, so a repeated device_del is accepted and sent again."""
        if self.machine.config.accel == "qtest":
            return self.machine.virtual_clock_ns // 1_000_000
        return 0 if self.machine.runstate == "prelaunch" else 1


def unplug_in_progress(dev: PCIDevice, virtual_ms: int) -> bool:
    """qdev_unplug's check: a repeated device_del fails with "Device %s is already in the process of
    unplug" while this is true."""
    if not dev.pending_deleted_event:
        return False
    expires = dev.pending_deleted_expires_ms
    return expires == 0 or expires > virtual_ms


def _ctz32(value: int) -> int:
    value &= 0xFFFFFFFF
    if value == 0:
        return 32
    return (value & -value).bit_length() - 1


def install(machine: Machine, root_bus: PCIBus, machine_type: str | None = None) -> AcpiPciHp | None:
    """Create the board's pcihp + GPE0 and map them on ``machine.ioports``. Call before cold-plugging
    devices (so cold-plugged bridges get the ACPI handler), then ``reset()`` once cold plug is done.

    Returns None when ACPI is off (-no-acpi / acpi=off): nothing is mapped and the root bus keeps no
    hotplug handler, so qdev refuses hotplug with "Bus 'pci.0' does not support hotplugging".
    """
    if not machine.config.acpi:
        return None
    kind = machine_type or machine.config.machine_type
    bridges = machine.compat.acpi_pcihp_bridge
    if kind == "q35":
        gpe = Gpe("acpi-gpe0", ICH9_GPE_LEN)
        hp = AcpiPciHp(machine, root_bus, base=ICH9_PCIHP_BASE, gpe=gpe, root_hotplug=False, bridge_hotplug=bridges)
        if not machine.config.qtest:
            # firmware has programmed PMBASE (0x600) and enabled ACPI I/O
            map_ich9_pmbase(machine, hp, ICH9_PMBASE_DEFAULT)
    else:
        gpe = Gpe("acpi-gpe0", PIIX4_GPE_LEN)
        root = machine.config.acpi_root_hotplug
        hp = AcpiPciHp(machine, root_bus, base=PIIX4_PCIHP_BASE, gpe=gpe, root_hotplug=root, bridge_hotplug=bridges)
        gpe.base = PIIX4_GPE_BASE
        machine.ioports.map(gpe.region(PIIX4_GPE_BASE))
        bridges = bridges or root
    if bridges:  # the pcihp block exists only where it serves a bus (piix4/ich9_pm_init's acpi_pcihp_init)
        machine.ioports.map(hp.region())
    return hp


def map_ich9_pmbase(machine: Machine, hp: AcpiPciHp, pmbase: int) -> None:
    """What firmware does on q35: PMBASE (LPC config 0x40) and ACPI enable (0x44 bit 7); GPE0 then sits
    at PMBASE + 0x20."""
    machine.ioports.unmap(hp.gpe.name)
    hp.gpe.base = pmbase + ICH9_GPE_OFFSET
    machine.ioports.map(hp.gpe.region(hp.gpe.base))
