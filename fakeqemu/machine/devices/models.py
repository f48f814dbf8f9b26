"""The devices whose behaviour goes beyond their recorded QOM properties, given their model at realize."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fakeqemu.machine.core.qdev import PCIDevice

if TYPE_CHECKING:
    from fakeqemu.machine.core.qdev import Device
    from fakeqemu.machine.machine import Machine


def check_realize(machine: Machine, dev: Device, given: Mapping[str, Any]) -> None:
    """The realize checks of a device whose model has them (before it joins the tree): QEMU's error.
    ``given``: the properties the user set."""
    if dev.type == "nvme":
        from fakeqemu.machine.devices.nvme import check_params

        check_params(machine, dev, given)


def attach_model(machine: Machine, dev: Device) -> None:
    """Realize: the device's registers join the VM (ports, configuration space, BARs)."""
    model: Any = None
    if dev.type == "ib700":
        from fakeqemu.machine.devices.watchdog import Ib700

        model = Ib700(machine, dev)
    elif dev.type == "i6300esb":
        from fakeqemu.machine.devices.watchdog import I6300esb

        model = I6300esb(machine, dev)
    elif dev.type in ("pvpanic", "pvpanic-pci"):
        from fakeqemu.machine.devices.pvpanic import PvPanic

        model = PvPanic(machine, dev)
    elif dev.type == "e1000e":
        from fakeqemu.machine.devices.e1000e import E1000e

        model = E1000e(machine, dev)
    elif dev.type == "virtio-blk-pci":
        from fakeqemu.machine.devices.virtio_blk import VirtioBlk

        model = VirtioBlk(machine, dev)
    elif dev.type == "nvme":
        from fakeqemu.machine.devices.nvme import Nvme

        model = Nvme(machine, dev)
    elif dev.type == "sdhci-pci":
        from fakeqemu.machine.devices.sdhci import Sdhci

        model = Sdhci(machine, dev)
    if model is not None:
        dev.model = model
        machine.device_models.append(model)
        if hasattr(model, "realize_config") and machine.pci_host is not None and isinstance(dev, PCIDevice):
            # pci_register_bar at realize: the BARs the properties add show before any guest access
            machine.pci_host.function(dev)
