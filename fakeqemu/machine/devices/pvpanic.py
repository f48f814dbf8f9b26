"""pvpanic (ISA, port ``ioport``, 0x505 by default) and pvpanic-pci (BAR 0): the paravirtual panic device a
guest kernel writes when it panics (hw/misc/pvpanic.c). A read answers the ``events`` it supports; a write
of bit 0 is a panic, of bit 1 a crash kernel loaded (kdump).

What QEMU does then (softmmu/runstate.c qemu_system_guest_panicked), by the panic action (set-action):
``pause`` (or ``shutdown`` with -no-shutdown): GUEST_PANICKED pause, STOP, run state guest-panicked;
``shutdown``/``exit-failure``: GUEST_PANICKED poweroff, STOP, SHUTDOWN guest-panic, exit;
``none``: GUEST_PANICKED run, the guest carries on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fakeqemu.machine.core.ioport import PortRegion

if TYPE_CHECKING:
    from fakeqemu.machine.core.qdev import Device
    from fakeqemu.machine.machine import Machine

PANICKED, CRASH_LOADED = 0x1, 0x2
PANIC_ACTIONS = ("pause", "shutdown", "exit-failure", "none")
PVPANIC_DRIVERS = ("pvpanic", "pvpanic-pci")


def guest_panicked(machine: Machine) -> None:
    panic, shutdown = machine.actions["panic"], machine.actions["shutdown"]
    if panic == "pause" or (panic == "shutdown" and shutdown == "pause"):
        machine.events.emit("GUEST_PANICKED", {"action": "pause"})
        machine.stop("guest-panicked")
    elif panic in ("shutdown", "exit-failure"):
        machine.events.emit("GUEST_PANICKED", {"action": "poweroff"})
        machine.stop("guest-panicked")
        machine.shutdown("guest-panic", guest=True)
    else:
        machine.events.emit("GUEST_PANICKED", {"action": "run"})


def guest_crashloaded(machine: Machine) -> None:
    machine.events.emit("GUEST_CRASHLOADED", {"action": "run"})


class PvPanic:
    """One pvpanic device: its register (a port for the ISA one, BAR 0 for the PCI one)."""

    def __init__(self, machine: Machine, device: Device) -> None:
        self.machine = machine
        self.device = device
        self.events = int(device.get("events")) & 0xFF
        self.port: int | None = None
        if device.type == "pvpanic":
            self.port = int(device.get("ioport"))
            machine.ioports.map(PortRegion(self.region_name, self.port, 1, self.read, self.write))

    @property
    def region_name(self) -> str:
        return f"pvpanic-{id(self)}"

    def read(self, offset: int, size: int) -> int:
        return self.events

    def write(self, offset: int, size: int, value: int) -> None:
        """handle_event: a panic wins over a crash kernel loaded; other bits are ignored."""
        if value & PANICKED:
            guest_panicked(self.machine)
        elif value & CRASH_LOADED:
            guest_crashloaded(self.machine)

    def bar_read(self, bar: int, offset: int, size: int) -> int:
        return self.read(offset, size)

    def bar_write(self, bar: int, offset: int, size: int, value: int) -> None:
        self.write(offset, size, value)

    def reset(self) -> None:
        pass

    def remove(self) -> None:
        if self.port is not None:
            self.machine.ioports.unmap(self.region_name)


def find_pvpanic(machine: Machine) -> PvPanic | None:
    return next((m for m in machine.device_models if isinstance(m, PvPanic)), None)
