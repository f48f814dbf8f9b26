"""qdev commands: device_add, device_del, query-pci."""

from __future__ import annotations

from typing import Any

from fakeqemu.commands.registry import Context, command
from fakeqemu.machine.core.qdev import Device, PCIBus
from fakeqemu.machine.cpus import CPU_TYPE
from fakeqemu.machine.plug import device_add as plug_device
from fakeqemu.machine.plug import device_del as unplug_device
from fakeqemu.machine.plug import find_device_state
from fakeqemu.qmp.errors import QMPError


@command("device_add", any_args=True)
def device_add(ctx: Context, args: dict[str, Any]) -> Any:
    driver = args.get("driver")
    if isinstance(driver, str) and driver == CPU_TYPE and ctx.machine.board is not None:
        ctx.machine.cpus.device_add(args)
        return {}
    plug_device(ctx.machine, args)
    return {}


@command("device_del")
def device_del(ctx: Context, args: dict[str, Any]) -> Any:
    machine = ctx.machine
    if machine.board is not None:
        try:
            dev = find_device_state(machine, args["id"])
        except QMPError:
            dev = None
        if isinstance(dev, Device) and machine.cpus.find(dev) is not None:
            machine.cpus.device_del(dev)
            return {}
    unplug_device(machine, args["id"])
    return {}


def pci_bus_info(bus: PCIBus, number: int) -> list[dict[str, Any]]:
    """qmp_query_pci_devices: the bus's devices, in devfn order."""
    devices = sorted(bus.pci_devices, key=lambda d: d.devfn)
    return [d.query_pci(number) for d in devices]


@command("query-pci")
def query_pci(ctx: Context, args: dict[str, Any]) -> Any:
    board = ctx.machine.board
    if board is None:
        return []
    ctx.machine.pci_now()
    return [{"bus": 0, "devices": pci_bus_info(board.root_bus, 0)}]
