"""ACPI CPU hotplug (hw/acpi/cpu_hotplug.c, hw/acpi/cpu.c; docs/specs/acpi_cpu_hotplug.rst).

QEMU starts both boards in the legacy mode: 32 bytes at 0xaf00 (PIIX4) or 0x0cd8 (ICH9), a bitmap of present
CPUs (bit n = APIC ID n), read and written byte by byte (a wider access is split into byte accesses). A
hot-added CPU sets its bit and raises GPE0 bit 2; removal is not possible in this mode ("acpi: device unplug
request for not supported device type"). Writing 0 to the first byte switches to the modern interface, as
the guest's ACPI tables do at boot: 12 bytes at the same base, per possible CPU (``selector``) its flags
(enabled, inserting, removing, firmware-remove), a command register (0: select the next CPU with an event,
1/2: OST event/status, 3: its APIC ID) and its data. Writing flag bit 3 ejects the selected CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fakeqemu.machine.core.ioport import PortRegion

PIIX4_CPU_HOTPLUG_BASE = 0xAF00
ICH9_CPU_HOTPLUG_BASE = 0x0CD8
CPU_HOTPLUG_LEN = 32
MODERN_LEN = 12
#: GPE0 status bit of CPU hotplug events (ACPI_CPU_HOTPLUG_STATUS)
CPU_HOTPLUG_STATUS = 4
CMD_GET_NEXT_EVENT, CMD_OST_EVENT, CMD_OST_STATUS, CMD_GET_CPU_ID = range(4)
FLAG_ENABLED, FLAG_INSERTING, FLAG_REMOVING, FLAG_EJECT, FLAG_FW_REMOVE = 1, 2, 4, 8, 16


def ost_info(dev: Any, slot: int, slot_type: str, source: int, status: int) -> dict[str, Any]:
    """ACPIOSTInfo of one hotplug slot (ACPI_DEVICE_OST, query-acpi-ospm-status); ``dev`` has an ``id``."""
    info: dict[str, Any] = {}
    dev_id = getattr(dev, "id", None)
    if dev_id:
        info["device"] = dev_id
    info.update({"slot": str(slot), "slot-type": slot_type, "source": source, "status": status})
    return info


@dataclass
class CpuSlot:
    """One possible CPU (AcpiCpuStatus): ``cpu`` is the plugged CPU device, if any."""

    arch_id: int
    cpu: Any = None
    is_inserting: bool = False
    is_removing: bool = False
    fw_remove: bool = False
    ost_event: int = 0
    ost_status: int = 0


class AcpiCpuHp:
    """One VM's CPU hotplug block. ``send_event(bits)`` raises GPE0 status; ``eject(cpu)`` unplugs a CPU
    (hotplug_handler_unplug + object_unparent); ``ost(info)`` sends ACPI_DEVICE_OST."""

    def __init__(
        self,
        machine_type: str,
        arch_ids: list[int],
        send_event: Callable[[int], None],
        eject: Callable[[Any], None],
        ost: Callable[[dict[str, Any]], None],
        trace: Callable[..., None] = lambda *_: None,
    ) -> None:
        self.base = ICH9_CPU_HOTPLUG_BASE if machine_type == "q35" else PIIX4_CPU_HOTPLUG_BASE
        self.slots = [CpuSlot(a) for a in arch_ids]
        self.legacy = True
        self.selector = 0
        self.command = 0
        self.first_cpu: Any = None
        self._send_event = send_event
        self._eject = eject
        self._ost = ost
        #: the VM's trace events (fakeqemu.machine.core.trace): hw/acpi/cpu.c's cpuhp_acpi_* points
        self._trace = trace

    def region(self) -> PortRegion:
        return PortRegion("acpi-cpu-hotplug", self.base, CPU_HOTPLUG_LEN, self.read, self.write)

    # --- plugging (acpi_cpu_plug_cb, acpi_cpu_unplug_request_cb, acpi_cpu_unplug_cb) ------------------

    def slot_of(self, cpu: Any) -> CpuSlot | None:
        return next((s for s in self.slots if s.cpu is cpu), None)

    def plug(self, index: int, cpu: Any, hotplugged: bool) -> None:
        slot = self.slots[index]
        slot.cpu = cpu
        if self.first_cpu is None:
            self.first_cpu = cpu
        if hotplugged:
            if not self.legacy:
                slot.is_inserting = True
            self._send_event(CPU_HOTPLUG_STATUS)

    def unplug_request(self, cpu: Any) -> None:
        from fakeqemu.qmp.errors import GenericError

        if self.legacy:
            typ = getattr(getattr(cpu, "device", None), "type", "cpu")
            raise GenericError(f"acpi: device unplug request for not supported device type: {typ}")
        slot = self.slot_of(cpu)
        if slot is not None:
            slot.is_removing = True
            self._send_event(CPU_HOTPLUG_STATUS)

    def unplugged(self, cpu: Any) -> None:
        slot = self.slot_of(cpu)
        if slot is not None:
            slot.cpu = None

    def ospm_status(self) -> list[dict[str, Any]]:
        """acpi_cpu_ospm_status: every possible CPU."""
        return [ost_info(s.cpu, i, "CPU", s.ost_event, s.ost_status) for i, s in enumerate(self.slots)]

    # --- the registers --------------------------------------------------------------------------------

    def read(self, offset: int, size: int) -> int:
        if self.legacy:
            value = 0
            for i in range(size):
                value |= self._legacy_byte(offset + i) << (8 * i)
            return value
        if offset >= MODERN_LEN:
            return (1 << (8 * size)) - 1  # nothing is mapped there once the legacy block is gone
        if self.selector >= len(self.slots):
            return 0
        slot = self.slots[self.selector]
        if offset == 4:
            flags = (
                (FLAG_ENABLED if slot.cpu is not None else 0)
                | (FLAG_INSERTING if slot.is_inserting else 0)
                | (FLAG_REMOVING if slot.is_removing else 0)
                | (FLAG_FW_REMOVE if slot.fw_remove else 0)
            )
            self._trace("cpuhp_acpi_read_flags", self.selector, flags)
            return flags
        if offset == 8:
            data = 0
            if self.command == CMD_GET_NEXT_EVENT:
                data = self.selector
            elif self.command == CMD_GET_CPU_ID:
                data = slot.arch_id & 0xFFFFFFFF
            self._trace("cpuhp_acpi_read_cmd_data", self.selector, data)
            return data
        if offset == 0:
            data = slot.arch_id >> 32 if self.command == CMD_GET_CPU_ID else 0
            self._trace("cpuhp_acpi_read_cmd_data2", self.selector, data)
            return data
        return 0

    def _legacy_byte(self, offset: int) -> int:
        if offset >= CPU_HOTPLUG_LEN:
            return 0xFF
        byte = 0
        for slot in self.slots:
            if slot.cpu is not None and slot.arch_id // 8 == offset:
                byte |= 1 << (slot.arch_id % 8)
        return byte

    def write(self, offset: int, size: int, value: int) -> None:
        if self.legacy:
            # byte accesses: the switch is a 0 written to byte 0
            if offset == 0 and value & 0xFF == 0:
                self.legacy = False
            return
        if offset >= MODERN_LEN:
            return
        if offset and self.selector >= len(self.slots):
            self._trace("cpuhp_acpi_invalid_idx_selected", self.selector)
            return
        if offset == 0:
            self.selector = value
            self._trace("cpuhp_acpi_write_idx", self.selector)
        elif offset == 4:
            self._flags(value)
        elif offset == 5:
            self._trace("cpuhp_acpi_write_cmd", self.selector, value & 0xFF)
            self._command(value)
        elif offset == 8:
            slot = self.slots[self.selector]
            if self.command == CMD_OST_EVENT:
                slot.ost_event = value
                self._trace("cpuhp_acpi_write_ost_ev", self.selector, value)
            elif self.command == CMD_OST_STATUS:
                slot.ost_status = value
                self._ost(ost_info(slot.cpu, self.selector, "CPU", slot.ost_event, value))
                self._trace("cpuhp_acpi_write_ost_status", self.selector, value)

    def _flags(self, value: int) -> None:
        slot = self.slots[self.selector]
        removable = slot.cpu is not None and slot.cpu is not self.first_cpu
        if value & FLAG_INSERTING:
            slot.is_inserting = False
            self._trace("cpuhp_acpi_clear_inserting_evt", self.selector)
        elif value & FLAG_REMOVING:
            slot.is_removing = False
            self._trace("cpuhp_acpi_clear_remove_evt", self.selector)
        elif value & FLAG_EJECT:
            if not removable:
                self._trace("cpuhp_acpi_ejecting_invalid_cpu", self.selector)
                return
            self._trace("cpuhp_acpi_ejecting_cpu", self.selector)
            self._eject(slot.cpu)
            slot.fw_remove = False
        elif value & FLAG_FW_REMOVE:
            if not removable:
                self._trace("cpuhp_acpi_fw_remove_invalid_cpu", self.selector)
                return
            self._trace("cpuhp_acpi_fw_remove_cpu", self.selector)
            slot.fw_remove = True

    def _command(self, value: int) -> None:
        if value >= 4:
            return
        self.command = value
        if value != CMD_GET_NEXT_EVENT:
            return
        n = len(self.slots)
        i = self.selector
        for _ in range(n):
            if i >= n:
                i = 0
            s = self.slots[i]
            if s.is_inserting or s.is_removing or s.fw_remove:
                self.selector = i
                self._trace("cpuhp_acpi_cpu_has_events", i, int(s.is_inserting), int(s.is_removing))
                return
            i = i + 1 if i + 1 < n else 0
