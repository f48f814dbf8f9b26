"""ACPI CPU hotplug, legacy mode (hw/acpi/cpu_hotplug.c): the block that reports present CPUs.

QEMU starts both boards in the legacy mode: 32 bytes at 0xaf00 (PIIX4) or 0x0cd8 (ICH9), a bitmap of
present CPUs (bit n = CPU n), read byte by byte (a wider read is split into byte reads). fakeqemu models
no CPU hotplug; the block is there so that reads of it answer as QEMU's do.
"""

from __future__ import annotations

from fakeqemu.machine.core.ioport import PortRegion

PIIX4_CPU_HOTPLUG_BASE = 0xAF00
ICH9_CPU_HOTPLUG_BASE = 0x0CD8
CPU_HOTPLUG_LEN = 32


def legacy_region(machine_type: str, cpus: int) -> PortRegion:
    bitmap = bytearray(CPU_HOTPLUG_LEN)
    for n in range(min(cpus, CPU_HOTPLUG_LEN * 8)):
        bitmap[n // 8] |= 1 << (n % 8)

    def read(offset: int, size: int) -> int:
        value = 0
        for i in range(size):
            off = offset + i
            byte = bitmap[off] if off < CPU_HOTPLUG_LEN else 0xFF
            value |= byte << (8 * i)
        return value

    def write(offset: int, size: int, value: int) -> None:
        pass  # the mode switch to the modern interface is not modelled

    base = ICH9_CPU_HOTPLUG_BASE if machine_type == "q35" else PIIX4_CPU_HOTPLUG_BASE
    return PortRegion("acpi-cpu-hotplug", base, CPU_HOTPLUG_LEN, read, write)
