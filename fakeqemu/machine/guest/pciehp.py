"""The guest OS side of native PCIe hotplug (fakeqemu.machine.pci.native), as Linux's pciehp driver answers
a port's slot events, through the port's slot registers in configuration space:

- presence detect changed with a device present and the slot powered off (a hot-add): the driver clears
  the status bits, powers the slot on with the power indicator on, and enables the new device (BARs, as
  the ACPI path does: fakeqemu.machine.guest.pciassign);
- attention button pressed on a powered, populated slot (device_del): the power indicator blinks for
  pciehp's 5 s cancel window (QEMU refuses another device_del meanwhile: "guest is busy"), then the driver
  powers the slot off and turns the indicator off, two writes of slot control: QEMU unplugs the device.

Policies are the guest model's: ``prompt`` waits pciehp's 5 s, ``delay:<ms>`` waits ``ms`` instead;
``refuse`` clears the events and leaves the slot on (the removal never completes); ``never`` and
``passive`` do not touch the slot. Events while the VM is paused are answered when it runs again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fakeqemu.machine.guest import pciassign
from fakeqemu.machine.guest.hotplug import delay_ms
from fakeqemu.machine.pci.native import (
    ABP,
    PDC,
    PDS,
    PIC_BLINK,
    PIC_OFF,
    PIC_ON,
    SLTCTL,
    SLTCTL_PCC,
    SLTCTL_PIC,
    SLTSTA,
    W1C,
    PcieSlot,
    express_cap,
)

if TYPE_CHECKING:
    from fakeqemu.machine.guest.hotplug import Guest

#: pciehp's wait after an attention button press before it acts (the cancel window)
BUTTON_WAIT_S = 5.0


def _access(slot: PcieSlot) -> tuple[int, int, int]:
    """(bus number, devfn, offset of the PCI Express capability) for configuration cycles to the port."""
    machine = slot.port.machine
    assert machine is not None and machine.pci_host is not None
    exp = express_cap(machine.pci_host.function(slot.port).config)
    assert exp is not None
    return 0, slot.port.devfn, exp


def _read(slot: PcieSlot, reg: int) -> int:
    machine = slot.port.machine
    assert machine is not None and machine.pci_host is not None
    bus, devfn, exp = _access(slot)
    return machine.pci_host.config_read(bus, devfn, exp + reg, 2)


def _write(slot: PcieSlot, reg: int, value: int) -> None:
    machine = slot.port.machine
    assert machine is not None and machine.pci_host is not None
    bus, devfn, exp = _access(slot)
    machine.pci_host.config_write(bus, devfn, exp + reg, 2, value)


def on_slot(guest: Guest, slot: PcieSlot) -> None:
    """The port's hotplug interrupt: handled on the next tick (the command that caused it replies first)."""
    if slot not in guest.pending_slots:
        guest.pending_slots.append(slot)
    guest.machine.timers.call_later(0, lambda: handle(guest))


def handle(guest: Guest) -> None:
    """Answer every slot with an event, while the VM runs."""
    machine = guest.machine
    if not guest.booted or not machine.running:
        return
    slots, guest.pending_slots = guest.pending_slots, []
    for slot in slots:
        if slot.port.parent_bus is None:  # the port itself went away
            continue
        devices = list(slot.bus.pci_devices)
        pol = guest.policy_for_devices(devices)
        if pol in ("never", "passive"):
            if pol == "never":
                guest._note(f"guest never: slot event of {slot.port.id or slot.port.path} not answered")
            continue
        sta = _read(slot, SLTSTA)
        if sta & W1C:
            _write(slot, SLTSTA, sta & W1C)
        ctl = _read(slot, SLTCTL)
        if sta & PDC and sta & PDS and ctl & SLTCTL_PCC:
            _write(slot, SLTCTL, (ctl & ~(SLTCTL_PCC | SLTCTL_PIC)) | PIC_ON)
            guest.actions.append(("pciehp", f"{slot.port.id}: slot powered on"))
            if devices:
                pciassign.assign(machine, slot.bus, devices)
        elif sta & ABP and devices and not ctl & SLTCTL_PCC:
            _button(guest, slot, pol, ctl)


def _button(guest: Guest, slot: PcieSlot, pol: str, ctl: int) -> None:
    machine = guest.machine
    for dev in slot.bus.pci_devices:
        machine.timeline.add(dev.id or dev.path, "attention button", f"guest policy {pol}")
    if pol == "refuse":
        guest.actions.append(("refuse", f"{slot.port.id}: attention button ignored"))
        guest._note(f"guest refuse: removal behind {slot.port.id or slot.port.path} vetoed")
        return
    _write(slot, SLTCTL, (ctl & ~SLTCTL_PIC) | PIC_BLINK)
    ms = delay_ms(pol)
    wait = BUTTON_WAIT_S if ms is None else ms / 1000.0
    machine.timers.call_later(wait, lambda: power_off(guest, slot))


def power_off(guest: Guest, slot: PcieSlot) -> None:
    """pciehp_disable_slot: power the slot off, then the power indicator (QEMU unplugs what is behind it)."""
    if slot.port.parent_bus is None or guest.machine.exiting:
        return
    ctl = _read(slot, SLTCTL)
    _write(slot, SLTCTL, ctl | SLTCTL_PCC)
    _write(slot, SLTCTL, (ctl & ~SLTCTL_PIC) | SLTCTL_PCC | PIC_OFF)
    guest.actions.append(("pciehp", f"{slot.port.id}: slot powered off"))
