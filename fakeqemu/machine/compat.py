"""What an older machine type's compat properties change in hot(un)plug, read from its recorded QOM tree
(the values QEMU 7.2 shows on the board's PIIX4_PM / ICH9-LPC for that machine type, see machine_types):

- ``acpi-pci-hotplug-with-bridge-support`` (off: pc-i440fx <= 1.7, pc-q35 <= 6.0). On pc, PIIX4's legacy
  pcihp: bus selection fixed at 0, no ACPI hotplug behind bridges (an SHPC bridge hot-plugs natively). On
  q35 the ACPI PCI hotplug block is not there at all: PCIe ports hot-plug natively (attention button,
  power controller and indicator, fakeqemu.machine.pci.native).
- ``x-keep-pci-slot-hpc`` (ICH9; off only on pc-q35-6.1): with ACPI hotplug on, the PCIe slots of
  cold-plugged ports lose their hot-plug capable bits (pc_q35.c registers ``x-native-hotplug=false``).
- ``memory-hotplug-support`` (off: pc-i440fx <= 2.0): no ACPI memory hotplug block; pc-dimm refused
  (and those types have no reserved memory: ``-m slots=``/``maxmem=`` are refused at start).
- ``pcie-root-port`` ``x-speed``/``x-width`` (hw_compat_3_1): a 2.5 GT/s x1 link without data link layer
  reporting, so a plug does not show the link up (DLLLA).
- ``pci-bridge.shpc`` (hw_compat_2_9: off for the 2.9 types; hw_compat_2_8 turns it on again before):
  a hot-added pci-bridge of a 2.9 type has no SHPC, so nothing hot-plugs behind it.

Machine class switches beside them: ``legacy_cpu_hotplug`` (<= 2.6: the DSDT's legacy CPU hotplug, whose
guest never writes the switch to the modern interface) and ``has_reserved_memory`` (pc <= 2.0).

``x-smi-cpu-hotplug``/``x-smi-cpu-hotunplug`` (ICH9, pc-q35 <= 5.1 / 5.2) only matter to firmware that
negotiates SMI features (OVMF with SMM); SeaBIOS and qtest do not, so they change nothing here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from fakeqemu.machine.acpi.pm import PM_DEVICE


@dataclass(frozen=True, slots=True)
class HotplugCompat:
    """What a machine type's compat properties decide about hot(un)plug."""

    #: the ACPI PM device's type name (in QEMU's error texts)
    pm_type: str
    acpi_pcihp_bridge: bool
    keep_pci_slot_hpc: bool
    memory_hotplug: bool
    bridge_shpc: bool
    #: pcie-root-port x-speed=2_5, x-width=1 (hw_compat_3_1): the link of QEMU before 4.0, without data
    #: link layer reporting, so the link-up bit never shows on plug
    root_port_gen1: bool
    #: legacy_cpu_hotplug (pc-i440fx/pc-q35 <= 2.6): the ACPI tables keep the legacy CPU hotplug
    #: interface, so the guest never switches to the modern one (and cannot unplug CPUs)
    legacy_cpu_hotplug: bool
    #: has_reserved_memory (off: pc-i440fx <= 2.0): -m slots= / maxmem= refused
    reserved_memory: bool

    @property
    def pcie_native(self) -> bool:
        """PCIe ports keep their native hotplug (no ACPI pcihp on q35)."""
        return self.pm_type == "ICH9-LPC" and not self.acpi_pcihp_bridge

    @property
    def slot_hpc(self) -> bool:
        """x-native-hotplug of a cold-plugged PCIe slot: whether its SLTCAP says hot-plug capable."""
        return self.keep_pci_slot_hpc or not self.acpi_pcihp_bridge


@functools.cache
def hotplug_compat(kind: str, mtype: str = "") -> HotplugCompat:
    """The switches of board ``kind`` as machine type ``mtype`` (its 7.2 board when empty) sets them; a
    machine without a board has none of them off."""
    from fakeqemu.machine.board import board_objects

    if kind not in PM_DEVICE:
        return HotplugCompat("", True, True, True, True, False, False, True)

    pm_type = PM_DEVICE[kind]
    values = next(o["values"] for o in board_objects(kind, True, mtype).values() if o["values"].get("type") == pm_type)
    version = tuple(int(n) for n in mtype.rpartition("-")[2].split(".")) if mtype else (7, 2)
    return HotplugCompat(
        pm_type=pm_type,
        acpi_pcihp_bridge=bool(values.get("acpi-pci-hotplug-with-bridge-support", True)),
        keep_pci_slot_hpc=bool(values.get("x-keep-pci-slot-hpc", True)),
        memory_hotplug=bool(values.get("memory-hotplug-support", True)),
        bridge_shpc=version != (2, 9),
        root_port_gen1=version <= (3, 1),
        legacy_cpu_hotplug=version <= (2, 6),
        reserved_memory=kind == "q35" or version > (2, 0),
    )
