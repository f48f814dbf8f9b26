"""The boards (pc, q35) and the device models, built from what QEMU 7.2 shows of them.

fakeqemu/data/machine.json (tools/record_machine.py) holds, per board, every object of the cold machine
with its qom-list reply and property values, and, per modelled driver, a hot-added instance's subtree, its
query-pci entry and the DEVICE_DELETED events of its finalize. The recorded facts are read once per
process and shared, read-only, by every VM: a VM owns only its Obj instances and what differs from the
record.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from fakeqemu.machine.core.qdev import Device, PCIBus, PCIDevice
from fakeqemu.machine.core.qom import Obj, Tree

TEMPLATE_ID = "dev0"
TEMPLATE_PATH = "/machine/peripheral/dev0"
BUS_TYPES = frozenset({"PCI", "PCIE"})
#: the containers that gain and lose children at run time
DYNAMIC_CONTAINERS = frozenset({"/machine/peripheral", "/machine/peripheral-anon"})
ROOT_BUS = {"pc": "/machine/i440fx/pci.0", "q35": "/machine/q35/pcie.0"}


@functools.cache
def recorded() -> Mapping[str, Any]:
    """The recorded facts (parsed once per process, never modified)."""
    text = resources.files("fakeqemu.data").joinpath("machine.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


@dataclass(frozen=True, slots=True)
class DeviceModel:
    """A modelled driver on one board: its recorded instance, ready to stamp out copies."""

    driver: str
    board: str
    objects: Mapping[str, Any]  # relative path -> {"props", "values", "errors"}
    pci_info: Mapping[str, Any]
    deleted_paths: tuple[str, ...]
    properties: list[Any]  # device-list-properties
    #: (relative path, property) whose recorded value is a path inside the template device
    path_values: tuple[tuple[str, str], ...]
    is_nic: bool
    is_bridge: bool
    #: the type of the virtio backend child (virtio-net-device, ...), which owns the backend properties
    backend_type: str | None
    #: the device's lines in ``info qtree``, indented from its ``dev:`` line
    qtree: tuple[str, ...]

    @property
    def hotpluggable(self) -> bool:
        return bool(self.objects[""]["values"].get("hotpluggable", True))


#: QAPI member order of query-pci's types: QEMU's output visitor inserts members in this order, which
#: decides the order of keys that share a QDict bucket (fakeqemu.qmp.encode)
_PCI_ORDER: dict[str, tuple[str, ...]] = {
    "device": ("bus", "slot", "function", "class_info", "id", "irq", "irq_pin", "qdev_id", "pci_bridge", "regions"),
    "class_info": ("desc", "class"),
    "id": ("device", "vendor", "subsystem", "subsystem-vendor"),
    "region": ("bar", "type", "address", "size", "prefetch", "mem_type_64"),
    "pci_bridge": ("bus", "devices"),
    "bus": ("number", "secondary", "subordinate", "io_range", "memory_range", "prefetchable_range"),
    "range": ("base", "limit"),
}


def _ordered(d: Mapping[str, Any], kind: str) -> dict[str, Any]:
    return {k: d[k] for k in _PCI_ORDER[kind] if k in d}


def pci_entry_in_schema_order(dev: Mapping[str, Any]) -> dict[str, Any]:
    """A recorded query-pci device entry, rebuilt in QAPI member order."""
    out = _ordered(dev, "device")
    out["class_info"] = _ordered(dev["class_info"], "class_info")
    out["id"] = _ordered(dev["id"], "id")
    out["regions"] = [_ordered(r, "region") for r in dev.get("regions", [])]
    if "pci_bridge" in dev:
        br = dev["pci_bridge"]
        bus = _ordered(br["bus"], "bus")
        for key in ("io_range", "memory_range", "prefetchable_range"):
            bus[key] = _ordered(br["bus"][key], "range")
        bridge: dict[str, Any] = {"bus": bus}
        if "devices" in br:
            bridge["devices"] = [pci_entry_in_schema_order(d) for d in br["devices"]]
        out["pci_bridge"] = bridge
    return out


#: The order in which a bridge's realize adds its child properties (qbus_init of the secondary bus named
#: after the id, pci_bridge_initfn's regions, the bridge windows, then SHPC or MSI-X), with ``{id}`` for
#: the bus. A hot-added device gets "bus master" at registration, a cold-plugged one when the machine is
#: done. Checked against QEMU's qom-list for many ids (tests/machine/test_board.py).
_BRIDGE_WINDOWS = (
    "pci_bridge_pref_mem[0]",
    "pci_bridge_mem[0]",
    "pci_bridge_io[1]",
    "pci_bridge_vga_io_lo[0]",
    "pci_bridge_vga_io_hi[0]",
    "pci_bridge_vga_mem[0]",
)
BRIDGE_CHILD_ORDER: dict[str, tuple[str, ...]] = {
    "pci-bridge": ("{id}", "pci_bridge_pci[0]", "pci_bridge_io[0]", *_BRIDGE_WINDOWS, "shpc-bar[0]", "shpc-mmio[0]"),
    "pcie-root-port": (
        "{id}",
        "pci_bridge_pci[0]",
        "pci_bridge_io[0]",
        *_BRIDGE_WINDOWS,
        "pcie-root-port-msix[0]",
        "msix-table[0]",
        "msix-pba[0]",
    ),
}


def bridge_child_order(driver: str, bus_name: str, hotplugged: bool) -> list[str]:
    core = [bus_name if n == "{id}" else n for n in BRIDGE_CHILD_ORDER[driver]]
    if hotplugged:
        return ["bus master container[0]", "bus master[0]", *core]
    return ["bus master container[0]", *core, "bus master[0]"]


def _find_pci_entry(entries: list[Any], qdev_id: str) -> Mapping[str, Any] | None:
    for bus in entries:
        for dev in bus.get("devices", []):
            if dev.get("qdev_id") == qdev_id:
                return dev  # type: ignore[no-any-return]
            sub = dev.get("pci_bridge", {}).get("devices")
            if sub:
                found = _find_pci_entry([{"devices": sub}], qdev_id)
                if found is not None:
                    return found
    return None


@functools.cache
def device_model(board: str, driver: str) -> DeviceModel | None:
    rec = recorded()["devices"].get(board, {}).get(driver)
    pc = recorded()["devices"]["pc"].get(driver)
    if rec is None or "error" in rec or pc is None or "error" in pc:
        return None
    info = _find_pci_entry(rec["query-pci"], TEMPLATE_ID) or _find_pci_entry(pc["query-pci"], TEMPLATE_ID)
    info = pci_entry_in_schema_order(info) if info is not None else {}
    deleted = tuple(
        d["path"][len(TEMPLATE_PATH) :]
        for d in pc.get("deleted", [])
        if "device" not in d and d["path"] != TEMPLATE_PATH
    )
    path_values = []
    for rel, obj in rec["objects"].items():
        for key, val in obj["values"].items():
            if isinstance(val, str) and val.startswith(TEMPLATE_PATH):
                path_values.append((rel, key))
    root_values = rec["objects"][""]["values"]
    return DeviceModel(
        driver=driver,
        board=board,
        objects=rec["objects"],
        pci_info=info,
        deleted_paths=deleted,
        properties=pc.get("device-list-properties", []),
        path_values=tuple(path_values),
        is_nic="mac" in root_values,
        is_bridge=any(o["values"].get("type") in BUS_TYPES for o in rec["objects"].values()),
        backend_type=rec["objects"].get("/virtio-backend", {}).get("values", {}).get("type"),
        qtree=tuple(rec.get("qtree") or pc.get("qtree") or ()),
    )


def modelled_drivers() -> list[str]:
    return [d for d in recorded()["devices"]["pc"] if device_model("pc", d) is not None]


def _make(path: str, rec: Mapping[str, Any], pci: Mapping[tuple[int, int], Any], buses: frozenset[str]) -> Obj:
    values = rec["values"]
    typ = values.get("type", "")
    props = rec["props"]
    names = {p[0] for p in props}
    if typ in BUS_TYPES:
        return PCIBus(typ, path.rsplit("/", 1)[-1])
    if "parent_bus" in names and "hotplugged" in names:
        if values.get("parent_bus") in buses and "addr" in values:
            devfn = int(values["addr"])
            return PCIDevice(typ, props, values, rec["errors"], devfn, pci.get((devfn >> 3, devfn & 7), {}))
        return Device(typ, props, values, rec["errors"])
    if path in DYNAMIC_CONTAINERS:
        fixed = [p for p in props if not p[1].startswith("child<")]
        return Obj(typ, fixed, values, rec["errors"], dynamic=[])
    return Obj(typ, props, values, rec["errors"])


def _parent(path: str) -> str:
    return path.rpartition("/")[0] or "/"


@dataclass(frozen=True, slots=True)
class _Layout:
    """How a board's recorded objects split between each VM's own and the process's shared ones."""

    buses: frozenset[str]
    pci: Mapping[tuple[int, int], Any]
    #: paths each VM builds for itself, parents before children
    private: tuple[str, ...]
    #: shared subtrees (built once, never modified), by the path where each hangs
    shared_roots: Mapping[str, Obj]


@functools.cache
def _layout(kind: str) -> _Layout:
    """Built once per process and board kind: the objects no VM ever changes (memory regions, the CPU,
    ISA and system-bus devices, ...) are shared by every VM, so an idle VM owns a dozen objects."""
    objects: Mapping[str, Any] = recorded()["boards"][kind]["objects"]
    pci = {
        (d["slot"], d["function"]): pci_entry_in_schema_order(d)
        for b in recorded()["boards"][kind]["query-pci"]
        for d in b["devices"]
    }
    buses = frozenset(p for p, o in objects.items() if o["values"].get("type") in BUS_TYPES)
    live = set(DYNAMIC_CONTAINERS) | buses
    live |= {p for p, o in objects.items() if o["values"].get("parent_bus") in buses}
    private: set[str] = set()
    for path in live:
        while path not in private:
            private.add(path)
            if path == "/":
                break
            path = _parent(path)
    shared = {p: _make(p, o, pci, buses) for p, o in objects.items() if p not in private}
    roots: dict[str, Obj] = {}
    for path, obj in shared.items():
        parent = _parent(path)
        if parent in private:
            roots[path] = obj
            obj.name = path.rpartition("/")[2]
            obj.mount = parent
        else:
            shared[parent].add_child(path.rpartition("/")[2], obj)
        obj.shared = True
    return _Layout(buses, pci, tuple(p for p in objects if p in private), roots)


class Board:
    """One VM's device tree: the board's built-in objects, then cold- and hot-plugged devices."""

    __slots__ = ("anon_count", "bus_ids", "kind", "next_mac", "peripheral", "peripheral_anon", "root_bus", "tree")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        objects: Mapping[str, Any] = recorded()["boards"][kind]["objects"]
        layout = _layout(kind)
        buses = layout.buses
        # the VM's own objects: what can change (buses, PCI devices, containers) and their ancestors;
        # every other subtree is built once per process and shared, read-only (see _layout)
        made: dict[str, Obj] = {p: _make(p, objects[p], layout.pci, buses) for p in layout.private}
        for path in layout.private:
            if path != "/":
                parent, _, name = path.rpartition("/")
                made[parent or "/"].add_child(name, made[path])
        for root in layout.shared_roots.values():
            made[root.mount].attach_shared(root)
        for path in buses:
            bus = made[path]
            assert isinstance(bus, PCIBus)
            links = [
                (int(n[6:-1]), objects[path]["values"][n])
                for n, t in objects[path]["props"]
                if n.startswith("child[") and t.startswith("link<")
            ]
            for _, target in sorted(links):
                dev = made[target]
                assert isinstance(dev, PCIDevice)
                bus.add(dev)
            bus.values = {k: v for k, v in objects[path]["values"].items() if not k.startswith("child[")}
            bus.values.pop("acpi-pcihp-bsel", None)
        self.tree = Tree(made["/"])
        root_bus = made[ROOT_BUS[kind]]
        assert isinstance(root_bus, PCIBus)
        self.root_bus = root_bus
        self.peripheral = made["/machine/peripheral"]
        self.peripheral_anon = made["/machine/peripheral-anon"]
        self.next_mac = 0x56
        #: per bus class, QEMU's automatic bus ids (pci.N for a bridge without an id)
        self.bus_ids = 1
        #: qdev_set_id's counter for devices without an id (device[N] never reuses an N)
        self.anon_count = 0

    # --- devices ----------------------------------------------------------------------------------

    def pci_buses(self) -> list[PCIBus]:
        """Every PCI bus of the VM (none lives in the shared, unchangeable subtrees: skip them)."""
        out: list[PCIBus] = []
        todo = [self.tree.root]
        while todo:
            obj = todo.pop()
            if isinstance(obj, PCIBus):
                out.append(obj)
            # depth first, children in order, as Obj.walk lists them
            todo.extend(reversed([child for child in obj.children.values() if not child.shared]))
        return out

    def reset(self) -> None:
        """A system reset, as bridges' own hotplug controllers see it."""
        for bus in self.pci_buses():
            if bus.hotplug_handler is not None:
                bus.hotplug_handler.bus_reset(bus)

    def find_bus(self, name: str) -> PCIBus | None:
        for bus in self.pci_buses():
            if bus.bus_name == name:
                return bus
        return None

    def find_device(self, dev_id: str) -> Device | None:
        obj = self.peripheral.children.get(dev_id)
        return obj if isinstance(obj, Device) else None

    def create(
        self,
        model: DeviceModel,
        dev_id: str | None,
        devfn: int,
        hotplugged: bool,
        user: Mapping[str, Any] | None = None,
    ) -> PCIDevice:
        """A new instance of ``model`` (not yet in the tree or on a bus); ``props``: property values the
        user set (already converted to their types), which replace the recorded defaults wherever the
        property lives (a virtio proxy forwards many to its backend)."""
        user = dict(user or {})
        bus_name = dev_id
        if model.is_bridge and dev_id is None:
            bus_name = f"pci.{self.bus_ids}"
            self.bus_ids += 1
        made: dict[str, Obj] = {}
        for rel, rec in model.objects.items():
            values = rec["values"]
            typ = values.get("type", "")
            props = rec["props"]
            obj: Obj
            if rel == "":
                fixed, dynamic = props, None
                if model.is_bridge and model.driver in BRIDGE_CHILD_ORDER:
                    # the secondary bus is a child named after the id: its place in the instance table
                    # (GLib order) depends on the name, so replay the table in QEMU's insertion order
                    fixed = [p for p in props if not p[1].startswith("child<")]
                    types = {str(bus_name) if n == TEMPLATE_ID else n: t for n, t in props if t.startswith("child<")}
                    dynamic = [(n, types[n]) for n in bridge_child_order(model.driver, str(bus_name), hotplugged)]
                obj = dev = PCIDevice(typ, fixed, values, rec["errors"], devfn, model.pci_info, dynamic)
            elif typ in BUS_TYPES:
                obj = PCIBus(typ, str(bus_name))
                obj.values = {k: v for k, v in values.items() if not k.startswith("child[")}
                obj.values.pop("acpi-pcihp-bsel", None)
            elif "parent_bus" in values and "hotplugged" in values:
                obj = Device(typ, props, values, rec["errors"])
                obj.hotplugged = hotplugged
            else:
                obj = Obj(typ, props, values, rec["errors"])
            made[rel] = obj
            if rel:
                parent, _, name = rel.rpartition("/")
                if name == TEMPLATE_ID and isinstance(obj, PCIBus):
                    name = str(bus_name)
                    dev.child_buses.append(obj)
                    obj.parent_device = dev
                made[parent].add_child(name, obj, listed=not (parent == "" and model.driver in BRIDGE_CHILD_ORDER))
        dev.id = dev_id
        dev.hotplugged = hotplugged
        dev.deleted_paths = model.deleted_paths
        if model.is_nic and "mac" not in user:
            # qemu_macaddr_default_if_unset: the next address of a per-VM counter
            user["mac"] = f"52:54:00:12:34:{self.next_mac & 0xFF:02x}"
            self.next_mac += 1
        dev.user_props = user
        dev.qtree = model.qtree
        for key, value in user.items():
            for obj in made.values():
                if key in obj.values:
                    obj.set_own(key, value)
        for rel, key in model.path_values:
            suffix = model.objects[rel]["values"][key][len(TEMPLATE_PATH) :]
            if model.is_bridge and (suffix == "/" + TEMPLATE_ID or suffix.startswith(f"/{TEMPLATE_ID}/")):
                suffix = f"/{bus_name}{suffix[len(TEMPLATE_ID) + 1 :]}"
            made[rel].set_own(key, functools.partial(_live_path, dev, suffix))
        return dev


def _live_path(dev: Obj, suffix: str) -> str:
    """A recorded value that named a path inside the template device, for the live device."""
    return dev.path + suffix
