"""What the HTTP API shows of a VM, read straight from its machine (no register side effects).

Plain functions from the machine's objects to JSON-ready dicts; the routes in fakeqemu.http.app wrap them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fakeqemu.machine.acpi.pcihp import AcpiPciHp
from fakeqemu.machine.core.qdev import PCIBus, PCIDevice
from fakeqemu.machine.core.qom import Obj

if TYPE_CHECKING:
    from fakeqemu.machine.machine import Machine
    from fakeqemu.server.vm import VM

#: guest actions shown by the guest view
GUEST_ACTIONS_SHOWN = 50


def summary(vm: VM) -> dict[str, Any]:
    m = vm.machine
    return {
        "name": vm.name,
        "machine": m.config.machine_type,
        "status": m.runstate,
        "running": m.running,
        "qmp": list(vm.addresses),
        "connections": len(vm.connections),
    }


def qom_node(obj: Obj, depth: int, properties: bool) -> dict[str, Any]:
    """``obj`` and its children down to ``depth`` levels, with qom-list's (name, type) pairs if asked."""
    node: dict[str, Any] = {
        "name": obj.name or "/",
        "path": obj.path,
        "type": obj.type,
        "children": [qom_node(c, depth - 1, properties) for c in obj.children.values()] if depth > 0 else [],
    }
    if properties:
        node["properties"] = [{"name": n, "type": t} for n, t in obj.list_props()]
    return node


def _bus_hotplug(bus: PCIBus) -> str:
    handler = bus.hotplug_handler
    if handler is None:
        return "none"
    return "acpi" if isinstance(handler, AcpiPciHp) else "native"


def device_view(machine: Machine, bus: PCIBus, dev: PCIDevice) -> dict[str, Any]:
    hp = machine.pcihp
    down = 0
    if hp is not None and bus.bsel is not None:
        down = hp.down.get(bus.bsel, 0)
    return {
        "id": dev.id,
        "type": dev.type,
        "path": dev.path,
        "bus": bus.bus_name,
        "slot": dev.slot,
        "function": dev.function,
        "addr": f"{dev.slot:02x}.{dev.function:x}",
        "hotplugged": dev.hotplugged,
        "hotpluggable": dev.hotpluggable,
        "hotplug": _bus_hotplug(bus),
        "unplug_requested": dev.pending_deleted_event,
        "slot_down": bool(down & (1 << dev.slot)),
    }


def devices(machine: Machine) -> dict[str, Any]:
    """Every PCI bus with its devices (plug order), and the devices whose unplug waits for the guest."""
    board = machine.board
    buses: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    if board is None:
        return {"buses": buses, "pending_unplugs": pending}
    for bus in board.pci_buses():
        views = [device_view(machine, bus, dev) for dev in bus.pci_devices]
        buses.append(
            {
                "name": bus.bus_name,
                "path": bus.path,
                "type": bus.type,
                "bsel": bus.bsel,
                "hotplug": _bus_hotplug(bus),
                "devices": views,
            }
        )
        pending.extend(v for v in views if v["unplug_requested"] or v["slot_down"])
    return {"buses": buses, "pending_unplugs": pending}


def pcihp(hp: AcpiPciHp) -> dict[str, Any]:
    """The register block per bus selector, read from the model's state (reading 'up' through the
    ports would clear it, as a guest read does)."""
    rows = []
    for bsel in hp.known_bsels():
        bus = hp.find_bus(bsel)
        down = hp.down.get(bsel, 0)
        rows.append(
            {
                "bsel": bsel,
                "bus": getattr(bus, "bus_name", None),
                "up": hp.up.get(bsel, 0),
                "down": down,
                "rmv": hp.hotplug_enable.get(bsel, 0xFFFFFFFF),
                "pending_slots": [s for s in range(32) if down & (1 << s)],
            }
        )
    gpe = hp.gpe
    return {
        "base": hp.base,
        "select": hp.hotplug_select & 0xFFFFFFFF,
        "buses": rows,
        "gpe": {
            "base": gpe.base,
            "status": int.from_bytes(gpe.sts, "little"),
            "enable": int.from_bytes(gpe.en, "little"),
            "sci": bool(gpe.sci_level),
        },
    }


def guest(machine: Machine) -> dict[str, Any]:
    g = machine.guest
    info = g.describe()
    info["actions"] = [[action, detail] for action, detail in g.actions[-GUEST_ACTIONS_SHOWN:]]
    info["agent"] = machine.agent.describe() if machine.agent is not None else None
    info["vcpus"] = machine.cpus.describe() if machine.board is not None else []
    info["dimms"] = machine.memdevs.describe()
    return info
