"""ACPI memory hotplug (hw/acpi/memory_hotplug.c; docs/specs/acpi_mem_hotplug.rst).

24 bytes at 0x0a00 on both boards (PIIX4_PM and ICH9-LPC), present when the machine has ``-m slots=``:

    +0x00 R  the selected slot's DIMM address, low 32 bits     W  slot selector
    +0x04 R  address, high 32 bits                             W  _OST event
    +0x08 R  size, low 32 bits                                 W  _OST status (sends ACPI_DEVICE_OST)
    +0x0c R  size, high 32 bits
    +0x10 R  proximity (the DIMM's node)
    +0x14 R  flags: 1 enabled, 2 inserting, 4 removing        W  2 clears inserting, 4 clears removing,
                                                                 8 ejects the selected DIMM

A read of a slot past the last, or at another offset, gives 0 / all ones as QEMU's does. A hot-added DIMM
sets its slot's inserting flag and raises GPE0 status bit 3; device_del sets removing and raises it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fakeqemu.machine.acpi.cpuhp import ost_info
from fakeqemu.machine.core.ioport import PortRegion

MEMORY_HOTPLUG_BASE = 0x0A00
MEMORY_HOTPLUG_IO_LEN = 24
#: GPE0 status bit of memory hotplug events (ACPI_MEMORY_HOTPLUG_STATUS)
MEMORY_HOTPLUG_STATUS = 8
SEL, OST_EVENT, OST_STATUS, FLAGS = 0x0, 0x4, 0x8, 0x14
FLAG_ENABLED, FLAG_INSERTING, FLAG_REMOVING, FLAG_EJECT = 1, 2, 4, 8


@dataclass
class MemSlot:
    """One DIMM slot (MemStatus): ``dimm`` is the plugged DIMM (fakeqemu.machine.devices.dimm.Dimm)."""

    dimm: Any = None
    is_inserting: bool = False
    is_removing: bool = False
    ost_event: int = 0
    ost_status: int = 0


class AcpiMemHp:
    """One VM's memory hotplug block. ``send_event(bits)`` raises GPE0 status; ``eject(dimm)`` unplugs a
    DIMM (hotplug_handler_unplug + object_unparent); ``ost(info)`` sends ACPI_DEVICE_OST."""

    def __init__(
        self,
        slots: int,
        send_event: Callable[[int], None],
        eject: Callable[[Any], None],
        ost: Callable[[dict[str, Any]], None],
        trace: Callable[..., None] = lambda *_: None,
    ) -> None:
        self.base = MEMORY_HOTPLUG_BASE
        self.slots = [MemSlot() for _ in range(slots)]
        self.selector = 0
        self._send_event = send_event
        self._eject = eject
        self._ost = ost
        self._trace = trace

    def region(self) -> PortRegion:
        return PortRegion("acpi-mem-hotplug", self.base, MEMORY_HOTPLUG_IO_LEN, self.read, self.write)

    # --- plugging (acpi_memory_plug_cb, acpi_memory_unplug_request_cb, acpi_memory_unplug_cb) ---------

    def plug(self, dimm: Any, hotplugged: bool) -> None:
        slot = self.slots[dimm.slot]
        slot.dimm = dimm
        if hotplugged:
            slot.is_inserting = True
            self._send_event(MEMORY_HOTPLUG_STATUS)

    def unplug_request(self, dimm: Any) -> None:
        self.slots[dimm.slot].is_removing = True
        self._send_event(MEMORY_HOTPLUG_STATUS)

    def unplugged(self, dimm: Any) -> None:
        slot = self.slots[dimm.slot]
        slot.dimm = None

    def ospm_status(self) -> list[dict[str, Any]]:
        """acpi_memory_ospm_status: every slot, as query-acpi-ospm-status lists them."""
        return [ost_info(s.dimm, i, "DIMM", s.ost_event, s.ost_status) for i, s in enumerate(self.slots)]

    # --- the registers --------------------------------------------------------------------------------

    def read(self, offset: int, size: int) -> int:
        if self.selector >= len(self.slots):
            self._trace("mhp_acpi_invalid_slot_selected", self.selector)
            return 0
        slot = self.slots[self.selector]
        dimm = slot.dimm
        if offset in (0x0, 0x4):
            addr = dimm.addr if dimm is not None else 0
            val = addr & 0xFFFFFFFF if offset == 0 else addr >> 32
            self._trace("mhp_acpi_read_addr_lo" if offset == 0 else "mhp_acpi_read_addr_hi", self.selector, val)
        elif offset in (0x8, 0xC):
            size_b = dimm.size if dimm is not None else 0
            val = size_b & 0xFFFFFFFF if offset == 8 else size_b >> 32
            self._trace("mhp_acpi_read_size_lo" if offset == 8 else "mhp_acpi_read_size_hi", self.selector, val)
        elif offset == 0x10:
            val = dimm.node if dimm is not None else 0
            self._trace("mhp_acpi_read_pxm", self.selector, val)
        elif offset == FLAGS:
            val = (
                (FLAG_ENABLED if dimm is not None else 0)
                | (FLAG_INSERTING if slot.is_inserting else 0)
                | (FLAG_REMOVING if slot.is_removing else 0)
            )
            self._trace("mhp_acpi_read_flags", self.selector, val)
        else:
            val = 0xFFFFFFFF
        return val & ((1 << (8 * size)) - 1)

    def write(self, offset: int, size: int, value: int) -> None:
        if not self.slots:
            return
        if offset and self.selector >= len(self.slots):
            self._trace("mhp_acpi_invalid_slot_selected", self.selector)
            return
        if offset == SEL:
            self.selector = value
            self._trace("mhp_acpi_write_slot", self.selector)
            return
        slot = self.slots[self.selector]
        if offset == OST_EVENT:
            slot.ost_event = value
            self._trace("mhp_acpi_write_ost_ev", self.selector, value)
        elif offset == OST_STATUS:
            slot.ost_status = value
            self._trace("mhp_acpi_write_ost_status", self.selector, value)
            self._ost(ost_info(slot.dimm, self.selector, "DIMM", slot.ost_event, value))
        elif offset == FLAGS:
            if value & FLAG_INSERTING:
                slot.is_inserting = False
                self._trace("mhp_acpi_clear_insert_evt", self.selector)
            elif value & FLAG_REMOVING:
                slot.is_removing = False
                self._trace("mhp_acpi_clear_remove_evt", self.selector)
            elif value & FLAG_EJECT:
                if slot.dimm is None:
                    self._trace("mhp_acpi_ejecting_invalid_slot", self.selector)
                    return
                self._eject(slot.dimm)
                self._trace("mhp_acpi_pc_dimm_deleted", self.selector)
